// The training summary as the lines `pthsafe inspect` prints above the tree: what a user checks
// before resuming. Every name from the file is escaped; long lists are cut (the JSON has them all).
#include <string>

#include "pthsafe/report.hpp"
#include "util/escape.hpp"

namespace pthsafe {
namespace {

constexpr std::size_t max_listed = 8;  // groups, scalars per line: the rest is counted

std::string num(double d) {
  std::string s;
  detail::append_double(s, d);
  return s;
}

std::string scalar(const value& v) {
  std::string s = v.kind() == value_kind::integer ? v.int_decimal() : num(v.as_double());
  if (auto np = v.numpy_dtype()) s += " (numpy " + std::string(dtype_name(*np)) + ")";
  return s;
}

std::string kind_text(const std::vector<std::string_view>& k) {
  if (k.empty()) return "unknown kind";
  std::string s;
  for (std::size_t i = 0; i < k.size(); ++i) s += (i ? " or " : "") + std::string(k[i]);
  return s;
}

std::string quoted(std::string_view key) { return key.empty() ? "<root>" : "'" + detail::text_escape(key) + "'"; }

void scalars(std::string& out, const char* label, const std::vector<named_scalar>& list) {
  if (list.empty()) return;
  out += "  ";
  out += label;
  out += ":";
  for (std::size_t i = 0; i < list.size() && i < max_listed; ++i)
    out += (i ? ", " : " ") + detail::text_escape(list[i].path) + " " + scalar(*list[i].v);
  if (list.size() > max_listed) out += ", ... " + std::to_string(list.size() - max_listed) + " more";
  out += "\n";
}

std::string group_text(const optimizer_group& g) {
  std::string s = "lr " + (g.lr ? num(*g.lr) : std::string("?"));
  if (g.initial_lr) s += " (initial " + num(*g.initial_lr) + ")";
  if (g.betas) s += ", betas (" + num(g.betas->first) + ", " + num(g.betas->second) + ")";
  if (g.momentum) s += ", momentum " + num(*g.momentum);
  if (g.nesterov && *g.nesterov) s += ", nesterov";
  if (g.alpha) s += ", alpha " + num(*g.alpha);
  if (g.eps) s += ", eps " + num(*g.eps);
  if (g.weight_decay) s += ", weight_decay " + num(*g.weight_decay);
  if (g.amsgrad && *g.amsgrad) s += ", amsgrad";
  if (g.maximize && *g.maximize) s += ", maximize";
  s += ", " + std::to_string(g.params) + " params";
  return s;
}

void optimizer(std::string& out, const optimizer_summary& o) {
  out += "  optimizer " + quoted(o.key) + ": ";
  if (!o.recognised) {
    out += "unrecognised (" + detail::text_escape(o.problem) + ")\n";
    return;
  }
  out += kind_text(o.kind) + ", " + std::to_string(o.groups.size()) + (o.groups.size() == 1 ? " group" : " groups");
  out += "; state: " + std::to_string(o.state.size()) + " params, " + std::to_string(o.state_tensors) + " tensors, " +
         std::to_string(o.state_bytes) + " bytes";
  if (!o.state.empty() && o.state.front().step)
    if (auto n = read_number(*o.state.front().step)) out += ", step " + num(n->value);
  out += "\n";
  for (std::size_t i = 0; i < o.groups.size() && i < max_listed; ++i)
    out += "    group " + std::to_string(i) + ": " + group_text(o.groups[i]) + "\n";
  if (o.groups.size() > max_listed) out += "    ... " + std::to_string(o.groups.size() - max_listed) + " more groups\n";
}

std::string lrs(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size() && i < max_listed; ++i) s += (i ? ", " : "") + num(v[i]);
  if (v.size() > max_listed) s += ", ... " + std::to_string(v.size() - max_listed) + " more";
  return s + "]";
}

}  // namespace

std::string training_text(const training_summary& s) {
  std::string out = "training checkpoint:\n";
  scalars(out, "progress", s.progress);
  scalars(out, "metrics", s.metrics);
  if (!s.versions.empty()) {
    out += "  versions:";
    for (std::size_t i = 0; i < s.versions.size() && i < max_listed; ++i)
      out += (i ? ", " : " ") + detail::text_escape(s.versions[i].key) + " " + detail::text_escape(s.versions[i].text) +
             (s.versions[i].torch_version ? " (TorchVersion)" : "");
    out += "\n";
  }
  if (s.model) {
    out += "  model " + quoted(s.model->key) + ": " + std::to_string(s.model->tensors) + " tensors, " +
           std::to_string(s.model->parameters) + " parameters, " + std::to_string(s.model->bytes) + " bytes (";
    for (std::size_t i = 0; i < s.model->dtypes.size(); ++i)
      out += (i ? ", " : "") + std::string(dtype_name(s.model->dtypes[i].first)) + " x" + std::to_string(s.model->dtypes[i].second);
    out += ")\n";
  }
  for (const auto& o : s.optimizers) optimizer(out, o);
  for (const auto& x : s.schedulers) {
    out += "  scheduler " + quoted(x.key) + ": ";
    if (!x.recognised) {
      out += "unrecognised (" + detail::text_escape(x.problem) + ")\n";
      continue;
    }
    out += kind_text(x.kind);
    if (x.last_epoch) out += ", last_epoch " + std::to_string(*x.last_epoch);
    if (x.step_count) out += ", _step_count " + std::to_string(*x.step_count);
    if (!x.last_lr.empty()) out += ", last lr " + lrs(x.last_lr);
    if (!x.base_lrs.empty()) out += ", base lrs " + lrs(x.base_lrs);
    out += "\n";
  }
  for (const auto& x : s.scalers) {
    out += "  scaler " + quoted(x.key) + ": ";
    if (!x.recognised) {
      out += "unrecognised (" + detail::text_escape(x.problem) + ")\n";
      continue;
    }
    if (!x.scale) {
      out += "empty (a disabled GradScaler)\n";
      continue;
    }
    out += "scale " + num(*x.scale);
    if (x.growth_factor) out += ", growth_factor " + num(*x.growth_factor);
    if (x.backoff_factor) out += ", backoff_factor " + num(*x.backoff_factor);
    if (x.growth_interval) out += ", growth_interval " + std::to_string(*x.growth_interval);
    if (x.growth_tracker) out += ", _growth_tracker " + std::to_string(*x.growth_tracker);
    out += "\n";
  }
  return out;
}

}  // namespace pthsafe
