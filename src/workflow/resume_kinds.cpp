// Which optimizer or LR scheduler class wrote a state_dict, from the keys torch writes
// (include/pthsafe/resume.hpp). The rules test the keys that only one class writes, so that
// keys added by other versions, by schedulers (initial_lr, max_lr, ...) or by users ("name")
// do not change the answer; docs/resume.md lists the key sets of torch 1.13 and 2.15 they come
// from and where two classes cannot be told apart.
#include <string_view>
#include <vector>

#include "pthsafe/resume.hpp"

namespace pthsafe {
namespace {

bool has(const value& d, std::string_view key) noexcept { return d.find(key) != nullptr; }

bool is_dict(const value& v) noexcept { return v.kind() == value_kind::dict || v.kind() == value_kind::ordered_dict; }

}  // namespace

std::vector<std::string_view> infer_optimizer_kind(const value& g) {
  if (!is_dict(g)) return {};
  if (has(g, "momentum_decay")) return {"NAdam"};
  if (has(g, "lambd") && has(g, "t0")) return {"ASGD"};
  if (has(g, "etas") || has(g, "step_sizes")) return {"Rprop"};
  if (has(g, "history_size") || has(g, "line_search_fn") || has(g, "max_iter") || has(g, "tolerance_grad")) return {"LBFGS"};
  if (has(g, "beta2_decay")) return {"Adafactor"};
  if (has(g, "lr_decay") || has(g, "initial_accumulator_value")) return {"Adagrad"};
  if (has(g, "rho")) return {"Adadelta"};
  if (has(g, "centered")) return {"RMSprop"};
  if (has(g, "dampening") || has(g, "nesterov")) return {"SGD"};
  if (has(g, "amsgrad")) {
    // Since torch writes decoupled_weight_decay, AdamW is Adam with it set; before, the key sets
    // coincide (2.0-2.5: both with differentiable/fused; 1.12 Adam = 1.13 AdamW).
    const value* d = g.find("decoupled_weight_decay");
    if (d && d->kind() == value_kind::boolean) return {d->as_bool() ? "AdamW" : "Adam"};
    return {"Adam", "AdamW"};
  }
  if (has(g, "betas")) {
    if (has(g, "decoupled_weight_decay")) return {"RAdam"};
    if (!has(g, "weight_decay")) return {"SparseAdam"};
    return {"Adamax", "RAdam"};  // RAdam before decoupled_weight_decay: Adamax's keys but for maximize
  }
  return {};
}

std::vector<std::string_view> infer_scheduler_kind(const value& s) {
  if (!is_dict(s)) return {};
  if (has(s, "_schedulers")) return {has(s, "_milestones") ? "SequentialLR" : "ChainedScheduler"};
  if (has(s, "T_0")) return {"CosineAnnealingWarmRestarts"};
  if (has(s, "T_max")) return {"CosineAnnealingLR"};
  if (has(s, "total_steps") || has(s, "_schedule_phases")) return {"OneCycleLR"};
  if (has(s, "max_lrs") || has(s, "total_size")) return {"CyclicLR"};
  if (has(s, "patience") || has(s, "num_bad_epochs")) return {"ReduceLROnPlateau"};
  if (has(s, "step_size")) return {"StepLR"};
  if (has(s, "milestones")) return {"MultiStepLR"};
  if (has(s, "lr_lambdas")) return {"LambdaLR", "MultiplicativeLR"};  // same keys in every version
  if (has(s, "start_factor") || has(s, "end_factor")) return {"LinearLR"};
  if (has(s, "power")) return {"PolynomialLR"};
  if (has(s, "factor") && has(s, "total_iters")) return {"ConstantLR"};
  if (has(s, "gamma") && has(s, "base_lrs")) return {"ExponentialLR"};
  return {};
}

}  // namespace pthsafe
