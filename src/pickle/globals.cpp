#include "pickle/globals.hpp"

#include <array>
#include <string>
#include <unordered_map>

#include "pthsafe/dtype.hpp"

namespace pthsafe::detail {
namespace {

struct mapping { std::string_view from_module, from_name, to_module, to_name; };
// torch._utils.NAME_MAPPING / IMPORT_MAPPING (the py2 -> py3 compatibility tables torch applies).
constexpr std::array<mapping, 17> name_mapping{{
    {"__builtin__", "xrange", "builtins", "range"},
    {"__builtin__", "reduce", "functools", "reduce"},
    {"__builtin__", "intern", "sys", "intern"},
    {"__builtin__", "unichr", "builtins", "chr"},
    {"__builtin__", "unicode", "builtins", "str"},
    {"__builtin__", "long", "builtins", "int"},
    {"itertools", "izip", "builtins", "zip"},
    {"itertools", "imap", "builtins", "map"},
    {"itertools", "ifilter", "builtins", "filter"},
    {"itertools", "ifilterfalse", "itertools", "filterfalse"},
    {"itertools", "izip_longest", "itertools", "zip_longest"},
    {"UserDict", "IterableUserDict", "collections", "UserDict"},
    {"UserList", "UserList", "collections", "UserList"},
    {"UserString", "UserString", "collections", "UserString"},
    {"__builtin__", "basestring", "builtins", "str"},
    {"exceptions", "StandardError", "builtins", "Exception"},
    {"UserDict", "UserDict", "collections", "UserDict"},
}};
constexpr std::array<std::pair<std::string_view, std::string_view>, 11> import_mapping{{
    {"__builtin__", "builtins"}, {"copy_reg", "copyreg"}, {"Queue", "queue"}, {"repr", "reprlib"},
    {"_abcoll", "collections.abc"}, {"UserDict", "collections"}, {"UserList", "collections"},
    {"UserString", "collections"}, {"whichdb", "dbm"}, {"StringIO", "io"}, {"cStringIO", "io"},
}};

// dtype globals torch allowlists: every storage-map dtype, every new dtype, uint1-7, int1-7.
constexpr std::array<std::string_view, 44> dtype_globals{
    "float64", "float32", "float16", "bfloat16", "complex128", "complex64", "complex32",
    "int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool",
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
    "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
    "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
    "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
    "int1", "int2", "int3", "int4", "int5"};
constexpr std::array<std::string_view, 3> dtype_globals_tail{"int6", "int7", "bcomplex32"};
static_assert(dtype_count == 32, "the first 32 dtype globals are the dtype enum in order");

constexpr std::array<std::string_view, 5> qschemes{
    "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
    "per_channel_affine_float_qparams"};

// Legacy typed storage / tensor class prefixes and their dtypes.
struct legacy { std::string_view prefix; dtype type; bool has_tensor_class; bool has_cuda_storage; };
constexpr std::array<legacy, 17> legacy_classes{{
    {"Double", dtype::float64, true, true},     {"Float", dtype::float32, true, true},
    {"Half", dtype::float16, true, true},       {"BFloat16", dtype::bfloat16, true, true},
    {"Long", dtype::int64, true, true},         {"Int", dtype::int32, true, true},
    {"Short", dtype::int16, true, true},        {"Char", dtype::int8, true, true},
    {"Byte", dtype::uint8, true, true},         {"Bool", dtype::boolean, true, true},
    {"ComplexDouble", dtype::complex128, false, true}, {"ComplexFloat", dtype::complex64, false, true},
    {"QInt8", dtype::qint8, false, false},      {"QInt32", dtype::qint32, false, false},
    {"QUInt8", dtype::quint8, false, false},    {"QUInt4x2", dtype::quint4x2, false, false},
    {"QUInt2x4", dtype::quint2x4, false, false},
}};
// Sparse legacy tensor classes exist for these prefixes only.
constexpr std::array<std::string_view, 9> sparse_prefixes{"BFloat16", "Byte", "Char", "Double", "Float",
                                                          "Half", "Int", "Long", "Short"};

using table_t = std::unordered_map<std::string, global_ref>;

table_t build_table() {
  table_t t;
  auto add = [&](std::string name, global_ref r) { t.emplace(std::move(name), r); };
  add("collections.OrderedDict", {global_id::ordered_dict});
  add("collections.Counter", {global_id::counter});
  add("torch.nn.parameter.Parameter", {global_id::parameter});
  add("torch.serialization._get_layout", {global_id::get_layout});
  add("torch.Size", {global_id::size});
  add("torch.Tensor", {global_id::tensor});
  add("torch.device", {global_id::device});
  add("_codecs.encode", {global_id::codecs_encode});
  add("builtins.bytearray", {global_id::bytearray});
  add("builtins.set", {global_id::set});
  add("builtins.complex", {global_id::complex});
  for (std::size_t i = 0; i < dtype_globals.size() + dtype_globals_tail.size(); ++i)
    add("torch." + std::string(dtype_global_name(static_cast<std::uint8_t>(i))), {global_id::dtype, static_cast<std::uint8_t>(i)});
  for (const auto& l : legacy_classes) {
    const auto p = static_cast<std::uint8_t>(l.type);
    add("torch." + std::string(l.prefix) + "Storage", {global_id::storage_class, p});
    if (l.has_cuda_storage) add("torch.cuda." + std::string(l.prefix) + "Storage", {global_id::storage_class, p});
    if (l.has_tensor_class) {
      add("torch." + std::string(l.prefix) + "Tensor", {global_id::tensor_class, p});
      add("torch.cuda." + std::string(l.prefix) + "Tensor", {global_id::tensor_class, p});
    }
  }
  for (auto p : sparse_prefixes) {
    for (const auto& l : legacy_classes) {
      if (l.prefix != p) continue;
      add("torch.sparse." + std::string(p) + "Tensor", {global_id::tensor_class, static_cast<std::uint8_t>(l.type), true});
      add("torch.cuda.sparse." + std::string(p) + "Tensor", {global_id::tensor_class, static_cast<std::uint8_t>(l.type), true});
    }
  }
  add("torch.storage.TypedStorage", {global_id::typed_storage});
  add("torch.storage.UntypedStorage", {global_id::untyped_storage});
  for (std::size_t i = 0; i < qschemes.size(); ++i)
    add("torch." + std::string(qschemes[i]), {global_id::qscheme, static_cast<std::uint8_t>(i)});
  const std::pair<const char*, global_id> rebuilds[] = {
      {"_rebuild_parameter", global_id::rebuild_parameter},
      {"_rebuild_parameter_with_state", global_id::rebuild_parameter_with_state},
      {"_rebuild_qtensor", global_id::rebuild_qtensor},
      {"_rebuild_tensor", global_id::rebuild_tensor},
      {"_rebuild_tensor_v2", global_id::rebuild_tensor_v2},
      {"_rebuild_tensor_v3", global_id::rebuild_tensor_v3},
      {"_rebuild_sparse_tensor", global_id::rebuild_sparse_tensor},
      {"_rebuild_meta_tensor_no_storage", global_id::rebuild_meta_tensor_no_storage},
      {"_rebuild_wrapper_subclass", global_id::rebuild_wrapper_subclass},
      {"_rebuild_device_tensor_from_cpu_tensor", global_id::rebuild_device_tensor_from_cpu_tensor},
  };
  for (const auto& [n, id] : rebuilds) add(std::string("torch._utils.") + n, {id});
  add("torch._tensor._rebuild_from_type_v2", {global_id::rebuild_from_type_v2});
  // Removed from torch in 2.0 but written by 1.13 for CSR tensors and in 1.13's allowlist.
  add("torch._utils._rebuild_sparse_csr_tensor", {global_id::rebuild_sparse_csr_tensor});
  return t;
}

}  // namespace

void map_py2_name(std::string& module, std::string& name) {
  for (const auto& m : name_mapping) {
    if (m.from_module == module && m.from_name == name) {
      module = m.to_module;
      name = m.to_name;
      return;
    }
  }
  for (const auto& [from, to] : import_mapping) {
    if (from == module) {
      module = to;
      return;
    }
  }
}

bool module_is_blocked(std::string_view module) noexcept {
  return module == "sys" || module == "os" || module == "posix" || module == "nt";
}

std::optional<global_ref> lookup_default_global(std::string_view full) noexcept {
  static const table_t table = build_table();
  const auto it = table.find(std::string(full));
  if (it == table.end()) return std::nullopt;
  return it->second;
}

std::string_view dtype_global_name(std::uint8_t param) noexcept {
  if (param < dtype_globals.size()) return dtype_globals[param];
  if (param - dtype_globals.size() < dtype_globals_tail.size()) return dtype_globals_tail[param - dtype_globals.size()];
  return {};
}

std::string_view qscheme_name(std::uint8_t param) noexcept {
  return param < qschemes.size() ? qschemes[param] : std::string_view{};
}

}  // namespace pthsafe::detail
