// The global allowlist: torch's default weights_only allowlist, resolved to an enum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace pthsafe::detail {

/// What an allowed global is. `param` below refines it (which dtype, which storage class, ...).
enum class global_id : std::uint8_t {
  ordered_dict, counter, parameter, get_layout, size, tensor, device, codecs_encode,
  bytearray, set, complex,
  dtype,           // param: index into the dtype-global table (dtype_global_name)
  tensor_class,    // torch.FloatTensor etc.; param: dtype; sparse flag in `sparse`
  storage_class,   // torch.FloatStorage etc.; param: dtype
  typed_storage, untyped_storage,
  qscheme,         // param: qscheme index
  rebuild_parameter, rebuild_parameter_with_state, rebuild_qtensor, rebuild_tensor,
  rebuild_tensor_v2, rebuild_tensor_v3, rebuild_sparse_tensor, rebuild_meta_tensor_no_storage,
  rebuild_wrapper_subclass, rebuild_device_tensor_from_numpy, rebuild_device_tensor_from_cpu_tensor,
  rebuild_from_type_v2,
  caller_allowed,  // admitted by load_options::allowed_globals: inert
  rebuild_sparse_csr_tensor,  // torch 1.13's CSR form (in 1.13's weights_only allowlist)
  // TorchScript archives only (resolved by the rebuilder when load_options::allow_torchscript):
  jit_build_list,        // torch.jit._pickle.build_{int,double,bool,tensor}list: returns its list
  jit_restore_type_tag,  // torch.jit._pickle.restore_type_tag(container, type_str): the container
  torchscript_class,     // __torch__.*: a scripted class, kept inert like caller_allowed
  // Beyond torch's allowlist (docs/policy.md): decoded as data, with a warning.
  torch_version,         // torch.torch_version.TorchVersion(str): a str
  numpy_scalar,          // numpy.core.multiarray.scalar(dtype, bytes)
  numpy_dtype,           // numpy.dtype(str, align, copy), then BUILD with its state tuple
  numpy_reconstruct,     // numpy.core.multiarray._reconstruct(ndarray, (0,), b'b'), then BUILD
  numpy_ndarray,         // numpy.ndarray: only as _reconstruct's first argument
};
/// Number of global_id values (tables indexed by global_id have this size).
inline constexpr std::size_t global_id_count = static_cast<std::size_t>(global_id::numpy_ndarray) + 1;

struct global_ref {
  global_id id;
  std::uint8_t param = 0;
  bool sparse = false;
};

/// Applies torch's py2 name mapping (NAME_MAPPING, then IMPORT_MAPPING) in place.
void map_py2_name(std::string& module, std::string& name);

/// True for modules refused even when a caller allows them (sys, os, posix, nt).
bool module_is_blocked(std::string_view module) noexcept;

/// Looks up "module.name" (after mapping) in the default allowlist.
/// `_rebuild_device_tensor_from_numpy` is in torch's list but refused by policy (needs numpy).
std::optional<global_ref> lookup_default_global(std::string_view full) noexcept;

/// Names of dtype globals (index = global_ref::param for global_id::dtype): "float32", "uint3", ...
std::string_view dtype_global_name(std::uint8_t param) noexcept;
/// Names of qschemes ("per_tensor_affine", ...).
std::string_view qscheme_name(std::uint8_t param) noexcept;

}  // namespace pthsafe::detail
