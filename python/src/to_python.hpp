// The inert value tree of a loaded checkpoint as the Python objects torch.load(weights_only=True)
// returns. Nothing from the file is called or imported: every Python object is made by
// pthsafe._glue from checked data (names resolved against fixed tables there).
#pragma once

#include <nanobind/nanobind.h>

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "loaded.hpp"
#include "pthsafe/value.hpp"

namespace pthsafe::py {

/// Where tensors go (map_location resolved by pthsafe/__init__.py): each tensor's saved location
/// ("cpu", "cuda:0") is looked up in `remap`; a location it lacks goes to `all` when that is set,
/// else stays where it was saved. Tensors are built on the CPU over the checkpoint's bytes and a
/// storage bound elsewhere is moved there once (pthsafe._glue.to_device), so views keep sharing.
struct placement {
  std::unordered_map<std::string, std::string> remap;  ///< saved location -> target device
  std::string all;                                     ///< target of every other tensor, "" = keep
  std::string target(std::string_view saved) const;
};

/// A str of the file's text: value text exactly (lone surrogates restored), anything else
/// readable (record names, messages: invalid UTF-8 as backslash escapes). Never raises for
/// the bytes themselves.
nanobind::object value_text(std::string_view s);
nanobind::object shown_text(std::string_view s);

/// Raises the pthsafe.CheckpointError subclass for `e` (pthsafe._errors.from_core).
[[noreturn]] void raise_checkpoint_error(const error& e);

class converter {
 public:
  /// `hash_budget`: most value nodes CPython may visit hashing dict keys and set items
  /// (limits::max_walk_nodes); see key_cost.
  converter(std::shared_ptr<loaded> l, placement where, std::uint64_t hash_budget);
  /// The Python object for `v`. Shared nodes become one Python object (identity kept, as the
  /// pickle memo keeps it: tied weights stay `is`-identical).
  nanobind::object convert(const value& v);
  /// A tensor on its own (the state_dict path of load(key=..., strip_prefix=...)).
  nanobind::object tensor(tensor_view t);

 private:
  nanobind::object convert_new(const value& v);
  void check_stack() const;
  nanobind::object storage_base(storage_view s, const std::string& device);
  nanobind::object storage_tensor(tensor_view t, nanobind::handle dtype_name);
  nanobind::object direct_tensor(tensor_view t);  ///< invalid when the general path is needed
  nanobind::object sparse(tensor_view t);
  nanobind::object quantized(tensor_view t, nanobind::handle dtype_name);
  nanobind::object storage_base_raw(std::uintptr_t id, const std::byte* data, std::uint64_t nbytes);
  nanobind::object items_list(const value& v);
  nanobind::object attrs_dict(const value& v);
  void charge(std::uint64_t cost, const char* what);
  void charge_insertion(std::span<const value* const> nodes, std::span<const nanobind::object> keys,
                        std::uint64_t passes);
  std::uint64_t key_cost(const value& v);

  std::shared_ptr<loaded> loaded_;
  placement where_;
  nanobind::object glue_;
  std::unordered_map<const value*, nanobind::object> memo_;
  std::uint64_t hash_budget_;
  std::uintptr_t stack_low_ = 0;  // lowest address of this thread's stack (0: unknown)
  std::unordered_map<const value*, std::uint64_t> key_costs_;  // by node identity
  bool torch_ = false;  // torch importable: tensors are torch tensors, else numpy arrays
  // One uint8 base per storage (keyed by the storage's identity, not by file content) and one per
  // storage and device it was moved to.
  std::map<std::uintptr_t, nanobind::object> storages_;
  std::map<std::pair<std::uintptr_t, std::string>, nanobind::object> moved_;
  // The fast path (direct_tensor): torch._C._from_dlpack (pthsafe._glue.dlpack_tensor), unset
  // without torch, and each storage's first tensor when it came straight from DLPack.
  nanobind::object from_dlpack_;
  std::unordered_map<std::uintptr_t, nanobind::object> direct_;
};

}  // namespace pthsafe::py
