// The "training" object of inspect --json: the training summary's fields in a fixed order, typed
// hyper-parameters only when the file holds them with their type (docs/inspect-json.md).
#include <string>

#include "report/training.hpp"

namespace pthsafe::detail {
namespace {

// A scalar as inspect --json writes values: ints as decimal strings, plus "numpy".
void scalar(json_writer& w, const named_scalar& n) {
  w.begin_object().key("path").str(n.path).key("type").str(value_kind_name(n.v->kind()));
  if (n.v->kind() == value_kind::integer) w.key("value").str(n.v->int_decimal());
  else w.key("value").real(n.v->as_double());
  if (auto np = n.v->numpy_dtype()) w.key("numpy").str(dtype_name(*np));
  w.end_object();
}

void opt_real(json_writer& w, const char* k, const std::optional<double>& v) {
  if (v) w.key(k).real(*v);
}
void opt_bool(json_writer& w, const char* k, const std::optional<bool>& v) {
  if (v) w.key(k).boolean(*v);
}
void kinds(json_writer& w, const std::vector<std::string_view>& k) {
  w.key("kind").begin_array();
  for (auto n : k) w.str(n);
  w.end_array();
}
void reals(json_writer& w, const char* k, const std::vector<double>& v) {
  w.key(k).begin_array();
  for (double d : v) w.real(d);
  w.end_array();
}

// The keys a group's typed fields cover; the rest are listed by name under "other".
bool typed_key(std::string_view k) {
  for (std::string_view t : {"lr", "initial_lr", "betas", "eps", "weight_decay", "momentum", "dampening", "alpha", "nesterov",
                             "amsgrad", "maximize", "foreach", "fused", "capturable", "differentiable", "decoupled_weight_decay"})
    if (k == t) return true;
  return false;
}

void group(json_writer& w, const optimizer_group& g) {
  w.begin_object();
  opt_real(w, "lr", g.lr);
  opt_real(w, "initial_lr", g.initial_lr);
  if (g.betas) w.key("betas").begin_array().real(g.betas->first).real(g.betas->second).end_array();
  opt_real(w, "eps", g.eps);
  opt_real(w, "weight_decay", g.weight_decay);
  opt_real(w, "momentum", g.momentum);
  opt_real(w, "dampening", g.dampening);
  opt_real(w, "alpha", g.alpha);
  opt_bool(w, "nesterov", g.nesterov);
  opt_bool(w, "amsgrad", g.amsgrad);
  opt_bool(w, "maximize", g.maximize);
  opt_bool(w, "foreach", g.foreach);
  opt_bool(w, "fused", g.fused);
  opt_bool(w, "capturable", g.capturable);
  opt_bool(w, "differentiable", g.differentiable);
  opt_bool(w, "decoupled_weight_decay", g.decoupled_weight_decay);
  w.key("params").num(g.params);
  w.key("other").begin_array();
  for (const auto& [k, v] : g.hyper_parameters)
    if (!typed_key(k)) w.str(k);
  w.end_array().end_object();
}

void optimizer(json_writer& w, const optimizer_summary& o) {
  w.begin_object().key("key").str(o.key).key("recognised").boolean(o.recognised);
  if (!o.recognised) {
    w.key("problem").str(o.problem).end_object();
    return;
  }
  kinds(w, o.kind);
  w.key("groups").begin_array();
  for (const auto& g : o.groups) group(w, g);
  w.end_array();
  w.key("state").begin_object().key("params").num(std::uint64_t{o.state.size()}).key("tensors").num(o.state_tensors)
      .key("bytes").num(o.state_bytes);
  if (!o.state.empty() && o.state.front().step) {
    if (auto n = read_number(*o.state.front().step); n && o.state.front().step->kind() != value_kind::boolean) {
      if (n->is_integer) w.key("step").num(static_cast<std::int64_t>(n->value));
      else w.key("step").real(n->value);
    }
  }
  w.end_object().end_object();
}

void scheduler(json_writer& w, const scheduler_summary& s) {
  w.begin_object().key("key").str(s.key).key("recognised").boolean(s.recognised);
  if (!s.recognised) {
    w.key("problem").str(s.problem).end_object();
    return;
  }
  kinds(w, s.kind);
  if (s.last_epoch) w.key("last_epoch").num(*s.last_epoch);
  if (s.step_count) w.key("step_count").num(*s.step_count);
  reals(w, "last_lr", s.last_lr);
  reals(w, "base_lrs", s.base_lrs);
  w.end_object();
}

void scaler(json_writer& w, const scaler_summary& s) {
  w.begin_object().key("key").str(s.key).key("recognised").boolean(s.recognised);
  if (!s.recognised) {
    w.key("problem").str(s.problem).end_object();
    return;
  }
  opt_real(w, "scale", s.scale);
  opt_real(w, "growth_factor", s.growth_factor);
  opt_real(w, "backoff_factor", s.backoff_factor);
  if (s.growth_interval) w.key("growth_interval").num(*s.growth_interval);
  if (s.growth_tracker) w.key("growth_tracker").num(*s.growth_tracker);
  w.end_object();
}

}  // namespace

void write_training_json(json_writer& w, const training_summary& s) {
  w.begin_object();
  w.key("progress").begin_array();
  for (const auto& p : s.progress) scalar(w, p);
  w.end_array().key("metrics").begin_array();
  for (const auto& m : s.metrics) scalar(w, m);
  w.end_array().key("versions").begin_array();
  for (const auto& v : s.versions) {
    w.begin_object().key("key").str(v.key).key("value").str(v.text);
    if (v.torch_version) w.key("class").str("TorchVersion");
    w.end_object();
  }
  w.end_array();
  if (s.model) {
    w.key("model").begin_object().key("key").str(s.model->key).key("tensors").num(s.model->tensors)
        .key("parameters").num(s.model->parameters).key("bytes").num(s.model->bytes).key("dtypes").begin_object();
    for (const auto& [t, n] : s.model->dtypes) w.key(dtype_name(t)).num(n);
    w.end_object().end_object();
  }
  w.key("optimizers").begin_array();
  for (const auto& o : s.optimizers) optimizer(w, o);
  w.end_array().key("schedulers").begin_array();
  for (const auto& x : s.schedulers) scheduler(w, x);
  w.end_array().key("scalers").begin_array();
  for (const auto& x : s.scalers) scaler(w, x);
  w.end_array().end_object();
}

}  // namespace pthsafe::detail
