// pthsafe/resume.hpp - what a training checkpoint (last.pth) holds for resuming, typed: progress
// counters (epoch, step), metrics, version strings, the model's state_dict in numbers, optimizer
// state_dicts (hyper-parameters per group, per-parameter state, the optimizer class inferred from
// the keys torch writes), LR schedulers and the GradScaler. Rules: docs/resume.md.
//
// Reading a summary never fails the load: a section found by its usual name but not shaped as
// torch writes it is kept with recognised == false and a `problem` saying why.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/dtype.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/tensor.hpp"
#include "pthsafe/value.hpp"

namespace pthsafe {

/// Root keys an optimizer state_dict is saved under ("opt" is not one: scripts save their
/// argparse options under it) (besides any dict with `state` and
/// `param_groups`, wherever it sits at depth 1 or 2).
inline constexpr std::string_view optimizer_keys[] = {"optimizer", "optimizer_state_dict", "optim",
                                                      "optimizer_state", "optimizers"};
/// Root keys of LR scheduler state_dicts (besides any dict shaped like one).
inline constexpr std::string_view scheduler_keys[] = {"scheduler", "lr_scheduler", "scheduler_state_dict",
                                                      "lr_scheduler_state_dict", "sched", "schedulers"};
/// Root keys of a GradScaler state_dict (besides any dict shaped like one).
inline constexpr std::string_view scaler_keys[] = {"scaler", "grad_scaler", "scaler_state_dict", "amp_scaler"};

/// A number as the file holds it: a Python int/float/bool, a numpy scalar (numpy set), or a
/// one-element integer/floating/bool tensor whose bytes are loaded (tensor set).
struct scalar_number {
  double value = 0;
  bool is_integer = false;            ///< int, bool, numpy int, integer tensor: `value` is exact below 2^53
  std::optional<dtype> numpy;         ///< the numpy dtype of a numpy scalar
  std::optional<dtype> tensor;        ///< the dtype of a one-element tensor
};
/// The number `v` holds (see scalar_number); nullopt for anything else, including integers
/// beyond int64 and tensors without loaded bytes (load_mode::metadata).
PTHSAFE_API std::optional<scalar_number> read_number(const value& v);

/// A named scalar of the root or of a root `metrics`-like dict: "epoch", "metrics/val_loss".
struct named_scalar {
  std::string path;
  const value* v = nullptr;  ///< the node (kind boolean/integer/floating; numpy_dtype() for numpy)
};

/// A version string: a TorchVersion anywhere at the root, or a str under a root key containing
/// "version".
struct version_string {
  std::string key;
  std::string_view text;
  bool torch_version = false;  ///< a torch.torch_version.TorchVersion (torch.__version__)
};

/// The model's state_dict in numbers (find_state_dict's choice).
struct model_summary {
  std::string key;                ///< "" for the root
  std::uint64_t tensors = 0;
  std::uint64_t parameters = 0;   ///< total elements of every tensor, buffers included
  std::uint64_t bytes = 0;
  std::vector<std::pair<dtype, std::uint64_t>> dtypes;  ///< tensors per dtype, in order of first use
};

/// One param_groups entry. Typed fields are set when the key is present with the expected type;
/// every key but `params` is also listed in `hyper_parameters` in file order (unknown ones too).
struct optimizer_group {
  std::optional<double> lr, initial_lr, eps, weight_decay, momentum, dampening, alpha;
  std::optional<std::pair<double, double>> betas;
  std::optional<bool> nesterov, amsgrad, maximize, capturable, differentiable, decoupled_weight_decay;
  std::optional<bool> foreach, fused;  ///< None in the file: unset here, listed in hyper_parameters
  std::uint64_t params = 0;            ///< entries of its `params` list
  std::vector<value_attr> hyper_parameters;
};

/// One `state` entry: the per-parameter buffers. Tensors are views into the checkpoint.
struct optimizer_param_state {
  std::int64_t index = 0;                     ///< the int key (parameter id)
  const value* step = nullptr;                ///< a number or a 0-dim tensor; null when absent
  std::optional<tensor_view> exp_avg, exp_avg_sq, max_exp_avg_sq, momentum_buffer;
  std::vector<value_attr> others;             ///< every other entry, in file order
};

struct optimizer_summary {
  std::string key;                ///< key path where it was found ("optimizer", "optimizers/0")
  bool recognised = false;        ///< shaped as torch's Optimizer.state_dict()
  std::string problem;            ///< why not, when !recognised
  /// Optimizer classes whose param_groups torch writes with these keys; more than one when key
  /// sets coincide (Adam and AdamW without decoupled_weight_decay). Empty: unknown.
  std::vector<std::string_view> kind;
  std::vector<optimizer_group> groups;
  std::vector<optimizer_param_state> state;
  std::uint64_t state_tensors = 0, state_bytes = 0;
};

struct scheduler_summary {
  std::string key;
  bool recognised = false;
  std::string problem;
  std::vector<std::string_view> kind;  ///< LR scheduler classes with these keys; empty: unknown
  std::optional<std::int64_t> last_epoch, step_count;
  std::vector<double> last_lr, base_lrs;  ///< `_last_lr`, `base_lrs` (numbers only)
};

struct scaler_summary {
  std::string key;
  bool recognised = false;
  std::string problem;
  std::optional<double> scale, growth_factor, backoff_factor;
  std::optional<std::int64_t> growth_interval, growth_tracker;
};

struct training_summary {
  std::vector<named_scalar> progress;  ///< ints named like epoch, step, iteration
  std::vector<named_scalar> metrics;   ///< every other scalar
  std::vector<version_string> versions;
  std::optional<model_summary> model;
  std::vector<optimizer_summary> optimizers;
  std::vector<scheduler_summary> schedulers;
  std::vector<scaler_summary> scalers;
  /// A training checkpoint: a model state_dict under a key plus an optimizer, scheduler,
  /// scaler or progress counter.
  bool is_training() const noexcept {
    return model && !model->key.empty() &&
           (!optimizers.empty() || !schedulers.empty() || !scalers.empty() || !progress.empty());
  }
};

/// Reads the summary. Never fails; `ck` must outlive the result (it holds views). The values it
/// visits are counted against checkpoint::walk_budget(): a section past it (shared references
/// repeating a large group) is kept unrecognised, its problem naming limits::max_walk_nodes.
PTHSAFE_API training_summary summarize_training(const checkpoint& ck);
/// The summary would view a checkpoint destroyed at the end of the call.
training_summary summarize_training(const checkpoint&& ck) = delete;

/// Optimizer classes whose state_dict param_groups carry exactly the keys of `group` (a dict),
/// ignoring `params` and the keys schedulers add; rules per torch version in docs/resume.md.
PTHSAFE_API std::vector<std::string_view> infer_optimizer_kind(const value& group);
/// LR scheduler classes whose state_dict has the keys of `sd` (a dict).
PTHSAFE_API std::vector<std::string_view> infer_scheduler_kind(const value& sd);

}  // namespace pthsafe
