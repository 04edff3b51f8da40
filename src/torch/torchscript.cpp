// TorchScript archives (torch.jit.save; C++ torch::jit::save and torch::pickle_save), read only
// for their data and only when the caller asks (load_options::allow_torchscript). The pickles
// follow the C++ Pickler's conventions (torch's C++ pickler (torch/csrc/jit/serialization)):
//  * storage classes carry C++ ScalarType names, so new dtypes appear as
//    `torch.Float8_e4m3fnStorage`, `torch.UInt16Storage`, `torch.ComplexHalfStorage`, ...;
//  * `torch.jit._pickle.build_*list` and `restore_type_tag` wrap containers and return them;
//  * scripted classes are `__torch__.<path>.<Class>` (NEWOBJ + BUILD with an attribute dict):
//    kept as inert value_kind::object values, exactly like caller-allowed globals;
//  * constants.pkl is a tuple of constants whose tensors are the records constants/<key>.
// `code/` (TorchScript source, usually deflated) is never read: nothing here runs or compiles it.

#include <array>
#include <utility>

#include "torch/rebuild.hpp"

namespace pthsafe::detail {
namespace {

constexpr std::array<std::pair<std::string_view, dtype>, 32> cpp_scalar_types{{
    {"Byte", dtype::uint8}, {"Char", dtype::int8}, {"Short", dtype::int16}, {"Int", dtype::int32},
    {"Long", dtype::int64}, {"Half", dtype::float16}, {"Float", dtype::float32}, {"Double", dtype::float64},
    {"ComplexHalf", dtype::complex32}, {"ComplexFloat", dtype::complex64}, {"ComplexDouble", dtype::complex128},
    {"Bool", dtype::boolean}, {"QInt8", dtype::qint8}, {"QUInt8", dtype::quint8}, {"QInt32", dtype::qint32},
    {"BFloat16", dtype::bfloat16}, {"QUInt4x2", dtype::quint4x2}, {"QUInt2x4", dtype::quint2x4},
    {"Bits1x8", dtype::bits1x8}, {"Bits2x4", dtype::bits2x4}, {"Bits4x2", dtype::bits4x2}, {"Bits8", dtype::bits8},
    {"Bits16", dtype::bits16}, {"Float8_e5m2", dtype::float8_e5m2}, {"Float8_e4m3fn", dtype::float8_e4m3fn},
    {"Float8_e5m2fnuz", dtype::float8_e5m2fnuz}, {"Float8_e4m3fnuz", dtype::float8_e4m3fnuz},
    {"UInt16", dtype::uint16}, {"UInt32", dtype::uint32}, {"UInt64", dtype::uint64},
    {"Float8_e8m0fnu", dtype::float8_e8m0fnu}, {"Float4_e2m1fn_x2", dtype::float4_e2m1fn_x2},
}};

}  // namespace

std::optional<global_ref> torch_rebuilder::resolve_global(std::string_view full) {
  if (!torchscript_) return std::nullopt;
  constexpr std::string_view torch_prefix = "torch.", storage_suffix = "Storage";
  if (full.starts_with(torch_prefix) && full.ends_with(storage_suffix)) {
    const auto name = full.substr(torch_prefix.size(), full.size() - torch_prefix.size() - storage_suffix.size());
    for (const auto& [n, t] : cpp_scalar_types)
      if (n == name) return global_ref{global_id::storage_class, static_cast<std::uint8_t>(t)};
    return std::nullopt;
  }
  if (full == "torch.jit._pickle.build_intlist" || full == "torch.jit._pickle.build_doublelist" ||
      full == "torch.jit._pickle.build_boollist" || full == "torch.jit._pickle.build_tensorlist")
    return global_ref{global_id::jit_build_list};
  if (full == "torch.jit._pickle.restore_type_tag") return global_ref{global_id::jit_restore_type_tag};
  // build_tensor_from_id only occurs in tensor-table pickles (RPC), never in archives: refused.
  if (full.starts_with("__torch__.") && full.size() > 10) return global_ref{global_id::torchscript_class};
  return std::nullopt;
}

}  // namespace pthsafe::detail

namespace pthsafe::detail {

// torch.jit._pickle.build_{int,double,bool,tensor}list(data) returns data.
result<value*> torch_rebuilder::call_jit_build_list(const call& c) {
  const auto a = c.args.items();
  if (a.size() != 1 || a[0]->kind() != value_kind::list)
    return fail(errc::bad_rebuild_args, std::string(c.callable.text()) + " needs one list");
  return const_cast<value*>(a[0]);
}

// restore_type_tag(value, type_str) returns value: the tag only matters to TorchScript.
result<value*> torch_rebuilder::call_restore_type_tag(const call& c) {
  const auto a = c.args.items();
  if (a.size() != 2 || a[1]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "restore_type_tag needs (value, str)");
  return const_cast<value*>(a[0]);
}

}  // namespace pthsafe::detail
