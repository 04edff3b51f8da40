// Readers of the resume sections of a checkpoint (include/pthsafe/resume.hpp): one optimizer,
// LR scheduler or GradScaler state_dict each. Every field is read only after its kind is
// checked; a section whose structure is not torch's is returned with recognised == false and
// the first problem found, never an error of the load.
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "workflow/resume_sections.hpp"

namespace pthsafe {
namespace {

bool is_dict(const value& v) noexcept { return v.kind() == value_kind::dict || v.kind() == value_kind::ordered_dict; }
bool is_sequence(const value& v) noexcept { return v.kind() == value_kind::list || v.kind() == value_kind::tuple; }

template <class T>
T load_as(const std::byte* p) noexcept {
  T x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

// A one-element tensor's value, when its bytes are loaded and its dtype is a plain number.
std::optional<scalar_number> tensor_number(const tensor_view& t) noexcept {
  if (t.is_sparse() || t.is_quantized() || !t.has_storage() || t.numel() != 1 || t.is_conj() || t.is_neg()) return std::nullopt;
  const std::byte* p = t.data();
  if (!p) return std::nullopt;
  scalar_number n;
  n.tensor = t.element_type();
  switch (t.element_type()) {
    case dtype::float64: n.value = load_as<double>(p); break;
    case dtype::float32: n.value = load_as<float>(p); break;
    case dtype::int64: n.value = static_cast<double>(load_as<std::int64_t>(p)); n.is_integer = true; break;
    case dtype::int32: n.value = load_as<std::int32_t>(p); n.is_integer = true; break;
    case dtype::int16: n.value = load_as<std::int16_t>(p); n.is_integer = true; break;
    case dtype::int8: n.value = load_as<std::int8_t>(p); n.is_integer = true; break;
    case dtype::uint8: n.value = load_as<std::uint8_t>(p); n.is_integer = true; break;
    case dtype::boolean: n.value = load_as<std::uint8_t>(p) != 0 ? 1 : 0; n.is_integer = true; break;
    default: return std::nullopt;
  }
  return n;
}

std::optional<double> number_field(const value& d, std::string_view key) {
  const value* v = d.find(key);
  if (!v) return std::nullopt;
  auto n = read_number(*v);
  if (!n || v->kind() == value_kind::boolean) return std::nullopt;
  return n->value;
}

std::optional<std::int64_t> int_field(const value& d, std::string_view key) noexcept {
  const value* v = d.find(key);
  if (!v || !v->fits_int64()) return std::nullopt;
  return v->as_int64();
}

std::optional<bool> bool_field(const value& d, std::string_view key) noexcept {
  const value* v = d.find(key);
  if (!v || v->kind() != value_kind::boolean) return std::nullopt;
  return v->as_bool();
}

std::vector<double> number_list(const value* v) {
  std::vector<double> out;
  if (!v || !is_sequence(*v)) return out;
  out.reserve(v->items().size());
  for (const value* it : v->items())
    if (auto n = read_number(*it); n && it->kind() != value_kind::boolean) out.push_back(n->value);
  return out;
}

optimizer_group read_group(const value& g) {  // the caller charged its keys
  optimizer_group out;
  out.lr = number_field(g, "lr");
  out.initial_lr = number_field(g, "initial_lr");
  out.eps = number_field(g, "eps");
  out.weight_decay = number_field(g, "weight_decay");
  out.momentum = number_field(g, "momentum");
  out.dampening = number_field(g, "dampening");
  out.alpha = number_field(g, "alpha");
  if (const value* b = g.find("betas"); b && is_sequence(*b) && b->items().size() == 2) {
    auto b1 = read_number(*b->items()[0]), b2 = read_number(*b->items()[1]);
    if (b1 && b2) out.betas = std::pair{b1->value, b2->value};
  }
  out.nesterov = bool_field(g, "nesterov");
  out.amsgrad = bool_field(g, "amsgrad");
  out.maximize = bool_field(g, "maximize");
  out.capturable = bool_field(g, "capturable");
  out.differentiable = bool_field(g, "differentiable");
  out.decoupled_weight_decay = bool_field(g, "decoupled_weight_decay");
  out.foreach = bool_field(g, "foreach");
  out.fused = bool_field(g, "fused");
  const auto items = g.items();
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i]->kind() != value_kind::string) continue;
    if (items[i]->text() == "params") {
      if (is_sequence(*items[i + 1])) out.params = items[i + 1]->items().size();
      continue;
    }
    out.hyper_parameters.emplace_back(items[i]->text(), items[i + 1]);
  }
  return out;
}

// The tensor of a state entry, when it is one.
std::optional<tensor_view> tensor_of(const value* v) {
  if (!v || v->kind() != value_kind::tensor) return std::nullopt;
  return v->as_tensor();
}

const char* over_budget = "more values than limits::max_walk_nodes allows (shared references repeat them)";

// Charges `n` visits; false when the budget cannot pay them.
bool charge(std::uint64_t& budget, std::uint64_t n) noexcept {
  if (n > budget) return false;
  budget -= n;
  return true;
}

}  // namespace

std::optional<scalar_number> read_number(const value& v) {
  scalar_number n;
  n.numpy = v.numpy_dtype();
  switch (v.kind()) {
    case value_kind::boolean: n.value = v.as_bool() ? 1 : 0; n.is_integer = true; return n;
    case value_kind::integer:
      if (!v.fits_int64()) return std::nullopt;
      n.value = static_cast<double>(v.as_int64());
      n.is_integer = true;
      return n;
    case value_kind::floating: n.value = v.as_double(); return n;
    case value_kind::tensor: return tensor_number(v.as_tensor());
    default: return std::nullopt;
  }
}

namespace detail {

optimizer_summary read_optimizer(const value& v, std::string key, std::uint64_t& budget) {
  optimizer_summary out;
  out.key = std::move(key);
  auto fail = [&](std::string why) {
    out.problem = std::move(why);
    return std::move(out);
  };
  if (!is_dict(v)) return fail("a " + std::string(value_kind_name(v.kind())) + ", not a dict with state and param_groups");
  const value* groups = v.find("param_groups");
  const value* state = v.find("state");
  if (!groups || !state) return fail("a dict without state and param_groups");
  if (!is_sequence(*groups)) return fail("param_groups is a " + std::string(value_kind_name(groups->kind())) + ", not a list");
  if (!is_dict(*state)) return fail("state is a " + std::string(value_kind_name(state->kind())) + ", not a dict");
  out.groups.reserve(groups->items().size());
  bool first = true;
  for (const value* g : groups->items()) {
    if (!is_dict(*g)) return fail("a param_groups entry is a " + std::string(value_kind_name(g->kind())) + ", not a dict");
    const value* params = g->find("params");
    if (!params || !is_sequence(*params)) return fail("a param_groups entry has no params list");
    if (!charge(budget, 1 + g->size())) return fail(over_budget);
    out.groups.push_back(read_group(*g));
    // Every group of one optimizer has the same keys: the kind is what all groups agree on.
    auto kinds = infer_optimizer_kind(*g);
    if (first) {
      out.kind = std::move(kinds);
      first = false;
    } else {
      std::erase_if(out.kind, [&](std::string_view k) { return std::find(kinds.begin(), kinds.end(), k) == kinds.end(); });
    }
  }
  const auto items = state->items();
  out.state.reserve(items.size() / 2);
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    if (!items[i]->fits_int64()) return fail("a state key is a " + std::string(value_kind_name(items[i]->kind())) + ", not an int");
    const value& entry = *items[i + 1];
    if (!is_dict(entry)) return fail("state[" + std::to_string(items[i]->as_int64()) + "] is not a dict");
    if (!charge(budget, 1 + entry.size())) return fail(over_budget);
    optimizer_param_state ps;
    ps.index = items[i]->as_int64();
    const auto fields = entry.items();
    for (std::size_t j = 0; j + 1 < fields.size(); j += 2) {
      const value* k = fields[j];
      const value* x = fields[j + 1];
      if (x->kind() == value_kind::tensor) {
        ++out.state_tensors;
        const std::uint64_t b = x->as_tensor().nbytes();
        out.state_bytes = b > UINT64_MAX - out.state_bytes ? UINT64_MAX : out.state_bytes + b;
      }
      const std::string_view name = k->kind() == value_kind::string ? k->text() : std::string_view();
      if (name == "step") ps.step = x;
      else if (name == "exp_avg" && x->kind() == value_kind::tensor) ps.exp_avg = tensor_of(x);
      else if (name == "exp_avg_sq" && x->kind() == value_kind::tensor) ps.exp_avg_sq = tensor_of(x);
      else if (name == "max_exp_avg_sq" && x->kind() == value_kind::tensor) ps.max_exp_avg_sq = tensor_of(x);
      else if (name == "momentum_buffer" && x->kind() == value_kind::tensor) ps.momentum_buffer = tensor_of(x);
      else if (k->kind() == value_kind::string) ps.others.emplace_back(name, x);
    }
    out.state.push_back(std::move(ps));
  }
  out.recognised = true;
  return out;
}

scheduler_summary read_scheduler(const value& v, std::string key, std::uint64_t& budget) {
  scheduler_summary out;
  out.key = std::move(key);
  if (!is_dict(v)) {
    out.problem = "a " + std::string(value_kind_name(v.kind())) + ", not a scheduler state_dict";
    return out;
  }
  const value* last_lr = v.find("_last_lr");
  const value* base_lrs = v.find("base_lrs");
  const auto listed = [](const value* l) -> std::uint64_t { return l && is_sequence(*l) ? l->items().size() : 0; };
  if (!charge(budget, 1 + listed(last_lr) + listed(base_lrs))) {
    out.problem = over_budget;
    return out;
  }
  out.kind = infer_scheduler_kind(v);
  out.last_epoch = int_field(v, "last_epoch");
  out.step_count = int_field(v, "_step_count");
  out.last_lr = number_list(last_lr);
  out.base_lrs = number_list(base_lrs);
  if (!out.last_epoch && !v.find("_schedulers")) {
    out.problem = "no int last_epoch";
    return out;
  }
  out.recognised = true;
  return out;
}

scaler_summary read_scaler(const value& v, std::string key) {
  scaler_summary out;
  out.key = std::move(key);
  if (!is_dict(v)) {
    out.problem = "a " + std::string(value_kind_name(v.kind())) + ", not a GradScaler state_dict";
    return out;
  }
  out.scale = number_field(v, "scale");
  out.growth_factor = number_field(v, "growth_factor");
  out.backoff_factor = number_field(v, "backoff_factor");
  out.growth_interval = int_field(v, "growth_interval");
  out.growth_tracker = int_field(v, "_growth_tracker");
  // A disabled GradScaler's state_dict() is {}: recognised, with nothing in it.
  if (v.size() != 0 && !(out.scale && out.growth_factor && out.backoff_factor)) {
    out.problem = "no numeric scale, growth_factor and backoff_factor";
    return out;
  }
  out.recognised = true;
  return out;
}

}  // namespace detail
}  // namespace pthsafe
