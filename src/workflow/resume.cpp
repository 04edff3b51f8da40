// summarize_training (include/pthsafe/resume.hpp): finds the resume sections of a checkpoint by
// the names training scripts use and by the shape torch gives them, at depth 1 (root keys) and
// depth 2 (inside a root dict or list: {"optimizers": [sd, sd]}). The walk visits each root
// child and its items once: linear in the size of the tree, whatever the file says.
#include <algorithm>
#include <cctype>
#include <string>

#include "pthsafe/resume.hpp"
#include "pthsafe/state_dict.hpp"
#include "workflow/resume_sections.hpp"

namespace pthsafe {
namespace {

bool is_dict(const value& v) noexcept { return v.kind() == value_kind::dict || v.kind() == value_kind::ordered_dict; }

bool optimizer_shaped(const value& v) noexcept { return is_dict(v) && v.find("state") && v.find("param_groups"); }
bool scheduler_shaped(const value& v) noexcept {
  if (!is_dict(v)) return false;
  if (v.find("_schedulers") && v.find("_last_lr")) return true;
  return v.find("last_epoch") && (v.find("base_lrs") || v.find("_last_lr") || v.find("num_bad_epochs"));
}
bool scaler_shaped(const value& v) noexcept {
  return is_dict(v) && v.find("scale") && v.find("growth_factor") && v.find("_growth_tracker");
}

template <std::size_t N>
bool named(std::string_view key, const std::string_view (&names)[N]) noexcept {
  return std::find(std::begin(names), std::end(names), key) != std::end(names);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool progress_name(std::string_view key) {
  const std::string k = lower(key);
  return k.find("epoch") != std::string::npos || k.find("step") != std::string::npos || k.find("iter") != std::string::npos;
}
bool metrics_dict_name(std::string_view key) {
  const std::string k = lower(key);
  return k.find("metric") != std::string::npos || k == "results" || k == "stats" || k == "scores";
}

// A Python int, float or numpy scalar of those kinds (bools are flags, not metrics).
bool metric_like(const value& v) noexcept {
  return (v.kind() == value_kind::integer && v.fits_int64()) || v.kind() == value_kind::floating;
}

struct finder {
  training_summary& out;
  std::uint64_t budget;

  // One candidate node: `named_as` says which section its key names (0 none, 1 optimizer,
  // 2 scheduler, 3 scaler); the shape decides first.
  bool take(const value& v, const std::string& path, int named_as) {
    const int section = optimizer_shaped(v) ? 1 : scheduler_shaped(v) ? 2 : scaler_shaped(v) ? 3 : named_as;
    switch (section) {
      case 1: out.optimizers.push_back(detail::read_optimizer(v, path, budget)); return true;
      case 2: out.schedulers.push_back(detail::read_scheduler(v, path, budget)); return true;
      case 3: out.scalers.push_back(detail::read_scaler(v, path)); return true;
      default: return false;
    }
  }

  void child(std::string_view key, const value& v) {
    const std::string path(key);
    const int named_as = named(key, optimizer_keys) ? 1 : named(key, scheduler_keys) ? 2 : named(key, scaler_keys) ? 3 : 0;
    if (take(v, path, 0)) return;
    // A list or dict of sections ({"optimizers": [sd, sd]}, {"train_state": {"optimizer": sd}}).
    bool found = false;
    if ((v.kind() == value_kind::list || v.kind() == value_kind::tuple || is_dict(v)) && !is_state_dict(v)) {
      const auto items = v.items();
      const bool dict = is_dict(v);
      if (items.size() > budget) return;  // a repeated container: nothing more is looked at
      budget -= items.size();
      for (std::size_t i = 0; i + (dict ? 1 : 0) < items.size(); i += dict ? 2 : 1) {
        const value& x = *items[dict ? i + 1 : i];
        std::string sub = path + "/";
        if (!dict) sub += std::to_string(i);
        else if (items[i]->kind() == value_kind::string) sub += items[i]->text();
        else if (items[i]->fits_int64()) sub += std::to_string(items[i]->as_int64());
        else continue;
        found = take(x, sub, 0) || found;
      }
    }
    // Named but not shaped as any section: kept, unrecognised, with the reason.
    if (!found && named_as != 0) take(v, path, named_as);
  }
};

}  // namespace

training_summary summarize_training(const checkpoint& ck) {
  training_summary out;
  const value& root = ck.root();
  if (auto sd = find_state_dict(ck)) {
    model_summary m;
    m.key = sd->key;
    for (const auto& e : sd->entries) {
      ++m.tensors;
      const std::uint64_t n = e.tensor.numel(), b = e.tensor.nbytes();
      m.parameters = n > UINT64_MAX - m.parameters ? UINT64_MAX : m.parameters + n;
      m.bytes = b > UINT64_MAX - m.bytes ? UINT64_MAX : m.bytes + b;
      auto it = std::find_if(m.dtypes.begin(), m.dtypes.end(), [&](const auto& p) { return p.first == e.tensor.element_type(); });
      if (it == m.dtypes.end()) m.dtypes.emplace_back(e.tensor.element_type(), 1);
      else ++it->second;
    }
    out.model = std::move(m);
  }
  if (optimizer_shaped(root)) {  // torch.save(optimizer.state_dict())
    std::uint64_t budget = ck.walk_budget();
    out.optimizers.push_back(detail::read_optimizer(root, "", budget));
    return out;
  }
  if (!is_dict(root)) return out;
  const value* model_node = out.model && !out.model->key.empty() ? root.find(out.model->key) : nullptr;
  finder f{out, ck.walk_budget()};
  const auto items = root.items();
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i]->kind() != value_kind::string) continue;
    const std::string_view key = items[i]->text();
    const value& v = *items[i + 1];
    if (&v == model_node) continue;
    if (v.kind() == value_kind::string) {
      if (v.is_torch_version() || lower(key).find("version") != std::string::npos)
        out.versions.push_back({std::string(key), v.text(), v.is_torch_version()});
      continue;
    }
    if (metric_like(v)) {
      (progress_name(key) && v.kind() == value_kind::integer ? out.progress : out.metrics).push_back({std::string(key), &v});
      continue;
    }
    if (is_dict(v) && metrics_dict_name(key)) {
      const auto m = v.items();
      if (m.size() > f.budget) continue;
      f.budget -= m.size();
      for (std::size_t j = 0; j + 1 < m.size(); j += 2) {
        if (m[j]->kind() != value_kind::string || !metric_like(*m[j + 1])) continue;
        const std::string path = std::string(key) + "/" + std::string(m[j]->text());
        (progress_name(m[j]->text()) && m[j + 1]->kind() == value_kind::integer ? out.progress : out.metrics)
            .push_back({path, m[j + 1]});
      }
      continue;
    }
    f.child(key, v);
  }
  return out;
}

}  // namespace pthsafe
