// The inert value tree of a loaded checkpoint as the Python objects torch.load(weights_only=True)
// returns. Nothing from the file is called or imported: every Python object is made by
// pthsafe._glue from checked data (names resolved against fixed tables there).
#pragma once

#include <nanobind/nanobind.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "loaded.hpp"
#include "pthsafe/value.hpp"

namespace pthsafe::py {

/// Where tensors go. Only the CPU for now: a tensor saved elsewhere needs map_location="cpu"
/// (keep_location=false), as torch.load needs it on a machine without that device.
struct placement {
  bool to_cpu = false;  ///< map_location="cpu": every tensor on the CPU, whatever the file says
};

class converter {
 public:
  converter(std::shared_ptr<loaded> l, placement where);
  /// The Python object for `v`. Shared nodes become one Python object (identity kept, as the
  /// pickle memo keeps it: tied weights stay `is`-identical).
  nanobind::object convert(const value& v);
  /// A tensor on its own (the state_dict path of load(key=..., strip_prefix=...)).
  nanobind::object tensor(tensor_view t);

 private:
  nanobind::object convert_new(const value& v);
  nanobind::object storage_base(storage_view s);
  nanobind::object storage_base_raw(std::string_view key, const std::byte* data, std::uint64_t nbytes);
  nanobind::object items_list(const value& v);
  nanobind::object attrs_dict(const value& v);

  std::shared_ptr<loaded> loaded_;
  placement where_;
  nanobind::object glue_;
  std::unordered_map<const value*, nanobind::object> memo_;
  std::unordered_map<std::string, nanobind::object> storages_;  // by storage key (unique)
};

}  // namespace pthsafe::py
