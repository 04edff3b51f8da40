// pthsafe/state_dict.hpp - the state_dict inside a checkpoint: which dict maps parameter names
// to tensors, in file order, optionally with a prefix such as DataParallel's "module." stripped.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/tensor.hpp"

namespace pthsafe {

/// Where find_state_dict looks, in this order, when no key path is given: the root, then these
/// keys of a root dict (the names training scripts save the model under).
inline constexpr std::array<std::string_view, 7> state_dict_keys = {
    "model", "state_dict", "model_state_dict", "module", "net", "ema", "model_ema"};

struct state_dict_options {
  /// Explicit key path (checkpoint::find syntax, "a/b"); empty: search as state_dict_keys says.
  std::string key;
  /// Removed from the start of every name that starts with it ("module."); others are kept.
  std::string strip_prefix;
};

/// One entry: the name (after stripping) and the tensor. Both view the checkpoint: valid while
/// it lives.
struct state_dict_entry {
  std::string_view name;
  tensor_view tensor;
};

struct state_dict {
  /// The key path chosen: "" for the root, "model", or the caller's key.
  std::string key;
  /// In the order the file holds them.
  std::vector<state_dict_entry> entries;
  /// Number of names the prefix was stripped from.
  std::size_t stripped = 0;
  /// The OrderedDict's `_metadata` as torch's load_state_dict reads it: module prefix ("" for
  /// the root, "layer1.0.bn1") -> its "version" entry, in the file's order. Module prefixes are
  /// stripped the way torch.nn.modules.utils.consume_prefix_in_state_dict_if_present strips them
  /// ("module" and "module.x" lose "module" / "module."). Modules whose version is not an int
  /// are absent, as are all when the dict has no `_metadata` (a plain dict).
  std::vector<std::pair<std::string, std::int64_t>> versions;
  /// True when the dict carries a `_metadata` attribute at all.
  bool has_metadata = false;
};

/// True when `v` maps names to tensors: a non-empty dict or OrderedDict whose keys are all str
/// and whose values are all tensors (a state_dict as torch's Module.state_dict() returns it).
PTHSAFE_API bool is_state_dict(const value& v) noexcept;

/// Finds the state_dict (see state_dict_keys). Errors: not_found (no candidate, or the key path
/// is absent), type_mismatch (the key path names something else than a state_dict),
/// state_dict_key_collision (two names equal after stripping: the message names both).
/// `ck` must outlive the result.
PTHSAFE_API result<state_dict> find_state_dict(const checkpoint& ck, const state_dict_options& opts = {});
/// The entries would view a checkpoint destroyed at the end of the call.
result<state_dict> find_state_dict(const checkpoint&& ck, const state_dict_options& opts = {}) = delete;

}  // namespace pthsafe
