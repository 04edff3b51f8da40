#include "pickle/globals.hpp"

#include <algorithm>
#include <array>
#include <string>

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
// The first dtype_count are the dtype enum in order (global_ref::param of a dtype global).
constexpr std::array<std::string_view, 47> dtype_globals{
    "float64", "float32", "float16", "bfloat16", "complex128", "complex64", "complex32",
    "int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool",
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
    "float4_e2m1fn_x2", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
    "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
    "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
    "int1", "int2", "int3", "int4", "int5", "int6", "int7", "bcomplex32"};
static_assert(dtype_count == 32, "the first 32 dtype globals are the dtype enum in order");

constexpr std::array<std::string_view, 5> qschemes{
    "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
    "per_channel_affine_float_qparams"};

// The prefix of the legacy typed storage / tensor classes of each dtype ("Float" for
// torch.FloatStorage); checks the class rows below.
constexpr std::array<std::pair<std::string_view, dtype>, 17> legacy_prefixes{{
    {"Double", dtype::float64}, {"Float", dtype::float32}, {"Half", dtype::float16}, {"BFloat16", dtype::bfloat16},
    {"Long", dtype::int64}, {"Int", dtype::int32}, {"Short", dtype::int16}, {"Char", dtype::int8},
    {"Byte", dtype::uint8}, {"Bool", dtype::boolean}, {"ComplexDouble", dtype::complex128},
    {"ComplexFloat", dtype::complex64}, {"QInt8", dtype::qint8}, {"QInt32", dtype::qint32},
    {"QUInt8", dtype::quint8}, {"QUInt4x2", dtype::quint4x2}, {"QUInt2x4", dtype::quint2x4},
}};

// Which torch's weights_only allowlist (torch._weights_only_unpickler._get_allowed_globals())
// holds a global: 1.13 (Debian's) and 2.15 (pip's) are the versions tested against.
enum torch_lists : std::uint8_t { torch_1_13 = 1, torch_2_15 = 2, both = torch_1_13 | torch_2_15, beyond_torch = 4 };
// In torch's list but refused by pthsafe's policy (lookup does not find it).
constexpr bool refused_by_policy = true;

constexpr std::uint8_t of(dtype t) { return static_cast<std::uint8_t>(t); }

struct allowed {
  std::string_view module, name;
  global_ref ref;
  std::uint8_t torch;     // torch_lists
  bool refused = false;   // refused_by_policy
};

// The default allowlist: exactly the union of torch 1.13's and 2.15's weights_only allowlists.
constexpr std::array allowlist{std::to_array<allowed>({
    // Classes and functions of the standard library and torch
    {"collections", "OrderedDict", {global_id::ordered_dict}, both},
    {"collections", "Counter", {global_id::counter}, torch_2_15},
    {"torch.nn.parameter", "Parameter", {global_id::parameter}, both},
    {"torch.serialization", "_get_layout", {global_id::get_layout}, both},
    {"torch", "Size", {global_id::size}, both},
    {"torch", "Tensor", {global_id::tensor}, both},
    {"torch", "device", {global_id::device}, torch_2_15},
    {"_codecs", "encode", {global_id::codecs_encode}, torch_2_15},
    {"builtins", "bytearray", {global_id::bytearray}, torch_2_15},
    {"builtins", "set", {global_id::set}, torch_2_15},
    {"builtins", "complex", {global_id::complex}, torch_2_15},
    // dtypes (param: index into dtype_globals)
    {"torch", "float64", {global_id::dtype, 0}, both},
    {"torch", "float32", {global_id::dtype, 1}, both},
    {"torch", "float16", {global_id::dtype, 2}, both},
    {"torch", "bfloat16", {global_id::dtype, 3}, torch_2_15},
    {"torch", "complex128", {global_id::dtype, 4}, both},
    {"torch", "complex64", {global_id::dtype, 5}, both},
    {"torch", "complex32", {global_id::dtype, 6}, both},
    {"torch", "int64", {global_id::dtype, 7}, both},
    {"torch", "int32", {global_id::dtype, 8}, both},
    {"torch", "int16", {global_id::dtype, 9}, both},
    {"torch", "int8", {global_id::dtype, 10}, both},
    {"torch", "uint8", {global_id::dtype, 11}, torch_2_15},
    {"torch", "uint16", {global_id::dtype, 12}, torch_2_15},
    {"torch", "uint32", {global_id::dtype, 13}, torch_2_15},
    {"torch", "uint64", {global_id::dtype, 14}, torch_2_15},
    {"torch", "bool", {global_id::dtype, 15}, torch_2_15},
    {"torch", "float8_e4m3fn", {global_id::dtype, 16}, torch_2_15},
    {"torch", "float8_e5m2", {global_id::dtype, 17}, torch_2_15},
    {"torch", "float8_e4m3fnuz", {global_id::dtype, 18}, torch_2_15},
    {"torch", "float8_e5m2fnuz", {global_id::dtype, 19}, torch_2_15},
    {"torch", "float8_e8m0fnu", {global_id::dtype, 20}, torch_2_15},
    {"torch", "float4_e2m1fn_x2", {global_id::dtype, 21}, torch_2_15},
    {"torch", "qint8", {global_id::dtype, 22}, torch_2_15},
    {"torch", "quint8", {global_id::dtype, 23}, torch_2_15},
    {"torch", "qint32", {global_id::dtype, 24}, torch_2_15},
    {"torch", "quint4x2", {global_id::dtype, 25}, torch_2_15},
    {"torch", "quint2x4", {global_id::dtype, 26}, torch_2_15},
    {"torch", "bits8", {global_id::dtype, 27}, torch_2_15},
    {"torch", "bits16", {global_id::dtype, 28}, torch_2_15},
    {"torch", "bits1x8", {global_id::dtype, 29}, torch_2_15},
    {"torch", "bits2x4", {global_id::dtype, 30}, torch_2_15},
    {"torch", "bits4x2", {global_id::dtype, 31}, torch_2_15},
    {"torch", "uint1", {global_id::dtype, 32}, torch_2_15},
    {"torch", "uint2", {global_id::dtype, 33}, torch_2_15},
    {"torch", "uint3", {global_id::dtype, 34}, torch_2_15},
    {"torch", "uint4", {global_id::dtype, 35}, torch_2_15},
    {"torch", "uint5", {global_id::dtype, 36}, torch_2_15},
    {"torch", "uint6", {global_id::dtype, 37}, torch_2_15},
    {"torch", "uint7", {global_id::dtype, 38}, torch_2_15},
    {"torch", "int1", {global_id::dtype, 39}, torch_2_15},
    {"torch", "int2", {global_id::dtype, 40}, torch_2_15},
    {"torch", "int3", {global_id::dtype, 41}, torch_2_15},
    {"torch", "int4", {global_id::dtype, 42}, torch_2_15},
    {"torch", "int5", {global_id::dtype, 43}, torch_2_15},
    {"torch", "int6", {global_id::dtype, 44}, torch_2_15},
    {"torch", "int7", {global_id::dtype, 45}, torch_2_15},
    {"torch", "bcomplex32", {global_id::dtype, 46}, torch_2_15},
    // Legacy typed storages and tensor classes (param: the dtype)
    {"torch", "DoubleStorage", {global_id::storage_class, of(dtype::float64)}, both},
    {"torch.cuda", "DoubleStorage", {global_id::storage_class, of(dtype::float64)}, both},
    {"torch", "DoubleTensor", {global_id::tensor_class, of(dtype::float64)}, both},
    {"torch.cuda", "DoubleTensor", {global_id::tensor_class, of(dtype::float64)}, both},
    {"torch", "FloatStorage", {global_id::storage_class, of(dtype::float32)}, both},
    {"torch.cuda", "FloatStorage", {global_id::storage_class, of(dtype::float32)}, both},
    {"torch", "FloatTensor", {global_id::tensor_class, of(dtype::float32)}, both},
    {"torch.cuda", "FloatTensor", {global_id::tensor_class, of(dtype::float32)}, both},
    {"torch", "HalfStorage", {global_id::storage_class, of(dtype::float16)}, both},
    {"torch.cuda", "HalfStorage", {global_id::storage_class, of(dtype::float16)}, both},
    {"torch", "HalfTensor", {global_id::tensor_class, of(dtype::float16)}, both},
    {"torch.cuda", "HalfTensor", {global_id::tensor_class, of(dtype::float16)}, both},
    {"torch", "BFloat16Storage", {global_id::storage_class, of(dtype::bfloat16)}, both},
    {"torch.cuda", "BFloat16Storage", {global_id::storage_class, of(dtype::bfloat16)}, both},
    {"torch", "BFloat16Tensor", {global_id::tensor_class, of(dtype::bfloat16)}, both},
    {"torch.cuda", "BFloat16Tensor", {global_id::tensor_class, of(dtype::bfloat16)}, both},
    {"torch", "LongStorage", {global_id::storage_class, of(dtype::int64)}, both},
    {"torch.cuda", "LongStorage", {global_id::storage_class, of(dtype::int64)}, both},
    {"torch", "LongTensor", {global_id::tensor_class, of(dtype::int64)}, both},
    {"torch.cuda", "LongTensor", {global_id::tensor_class, of(dtype::int64)}, both},
    {"torch", "IntStorage", {global_id::storage_class, of(dtype::int32)}, both},
    {"torch.cuda", "IntStorage", {global_id::storage_class, of(dtype::int32)}, both},
    {"torch", "IntTensor", {global_id::tensor_class, of(dtype::int32)}, both},
    {"torch.cuda", "IntTensor", {global_id::tensor_class, of(dtype::int32)}, both},
    {"torch", "ShortStorage", {global_id::storage_class, of(dtype::int16)}, both},
    {"torch.cuda", "ShortStorage", {global_id::storage_class, of(dtype::int16)}, both},
    {"torch", "ShortTensor", {global_id::tensor_class, of(dtype::int16)}, both},
    {"torch.cuda", "ShortTensor", {global_id::tensor_class, of(dtype::int16)}, both},
    {"torch", "CharStorage", {global_id::storage_class, of(dtype::int8)}, both},
    {"torch.cuda", "CharStorage", {global_id::storage_class, of(dtype::int8)}, both},
    {"torch", "CharTensor", {global_id::tensor_class, of(dtype::int8)}, both},
    {"torch.cuda", "CharTensor", {global_id::tensor_class, of(dtype::int8)}, both},
    {"torch", "ByteStorage", {global_id::storage_class, of(dtype::uint8)}, both},
    {"torch.cuda", "ByteStorage", {global_id::storage_class, of(dtype::uint8)}, both},
    {"torch", "ByteTensor", {global_id::tensor_class, of(dtype::uint8)}, both},
    {"torch.cuda", "ByteTensor", {global_id::tensor_class, of(dtype::uint8)}, both},
    {"torch", "BoolStorage", {global_id::storage_class, of(dtype::boolean)}, both},
    {"torch.cuda", "BoolStorage", {global_id::storage_class, of(dtype::boolean)}, both},
    {"torch", "BoolTensor", {global_id::tensor_class, of(dtype::boolean)}, both},
    {"torch.cuda", "BoolTensor", {global_id::tensor_class, of(dtype::boolean)}, both},
    {"torch", "ComplexDoubleStorage", {global_id::storage_class, of(dtype::complex128)}, both},
    {"torch.cuda", "ComplexDoubleStorage", {global_id::storage_class, of(dtype::complex128)}, both},
    {"torch", "ComplexFloatStorage", {global_id::storage_class, of(dtype::complex64)}, both},
    {"torch.cuda", "ComplexFloatStorage", {global_id::storage_class, of(dtype::complex64)}, both},
    {"torch", "QInt8Storage", {global_id::storage_class, of(dtype::qint8)}, both},
    {"torch", "QInt32Storage", {global_id::storage_class, of(dtype::qint32)}, both},
    {"torch", "QUInt8Storage", {global_id::storage_class, of(dtype::quint8)}, both},
    {"torch", "QUInt4x2Storage", {global_id::storage_class, of(dtype::quint4x2)}, both},
    {"torch", "QUInt2x4Storage", {global_id::storage_class, of(dtype::quint2x4)}, both},
    {"torch.sparse", "BFloat16Tensor", {global_id::tensor_class, of(dtype::bfloat16), true}, both},
    {"torch.cuda.sparse", "BFloat16Tensor", {global_id::tensor_class, of(dtype::bfloat16), true}, both},
    {"torch.sparse", "ByteTensor", {global_id::tensor_class, of(dtype::uint8), true}, both},
    {"torch.cuda.sparse", "ByteTensor", {global_id::tensor_class, of(dtype::uint8), true}, both},
    {"torch.sparse", "CharTensor", {global_id::tensor_class, of(dtype::int8), true}, both},
    {"torch.cuda.sparse", "CharTensor", {global_id::tensor_class, of(dtype::int8), true}, both},
    {"torch.sparse", "DoubleTensor", {global_id::tensor_class, of(dtype::float64), true}, both},
    {"torch.cuda.sparse", "DoubleTensor", {global_id::tensor_class, of(dtype::float64), true}, both},
    {"torch.sparse", "FloatTensor", {global_id::tensor_class, of(dtype::float32), true}, both},
    {"torch.cuda.sparse", "FloatTensor", {global_id::tensor_class, of(dtype::float32), true}, both},
    {"torch.sparse", "HalfTensor", {global_id::tensor_class, of(dtype::float16), true}, both},
    {"torch.cuda.sparse", "HalfTensor", {global_id::tensor_class, of(dtype::float16), true}, both},
    {"torch.sparse", "IntTensor", {global_id::tensor_class, of(dtype::int32), true}, both},
    {"torch.cuda.sparse", "IntTensor", {global_id::tensor_class, of(dtype::int32), true}, both},
    {"torch.sparse", "LongTensor", {global_id::tensor_class, of(dtype::int64), true}, both},
    {"torch.cuda.sparse", "LongTensor", {global_id::tensor_class, of(dtype::int64), true}, both},
    {"torch.sparse", "ShortTensor", {global_id::tensor_class, of(dtype::int16), true}, both},
    {"torch.cuda.sparse", "ShortTensor", {global_id::tensor_class, of(dtype::int16), true}, both},
    {"torch.storage", "TypedStorage", {global_id::typed_storage}, both},
    {"torch.storage", "UntypedStorage", {global_id::untyped_storage}, both},
    // qschemes (param: index into qschemes)
    {"torch", "per_tensor_affine", {global_id::qscheme, 0}, torch_2_15},
    {"torch", "per_tensor_symmetric", {global_id::qscheme, 1}, torch_2_15},
    {"torch", "per_channel_affine", {global_id::qscheme, 2}, torch_2_15},
    {"torch", "per_channel_symmetric", {global_id::qscheme, 3}, torch_2_15},
    {"torch", "per_channel_affine_float_qparams", {global_id::qscheme, 4}, torch_2_15},
    // Rebuild functions
    {"torch._utils", "_rebuild_parameter", {global_id::rebuild_parameter}, both},
    {"torch._utils", "_rebuild_parameter_with_state", {global_id::rebuild_parameter_with_state}, torch_2_15},
    {"torch._utils", "_rebuild_qtensor", {global_id::rebuild_qtensor}, torch_2_15},
    {"torch._utils", "_rebuild_tensor", {global_id::rebuild_tensor}, both},
    {"torch._utils", "_rebuild_tensor_v2", {global_id::rebuild_tensor_v2}, both},
    {"torch._utils", "_rebuild_tensor_v3", {global_id::rebuild_tensor_v3}, torch_2_15},
    {"torch._utils", "_rebuild_sparse_tensor", {global_id::rebuild_sparse_tensor}, both},
    {"torch._utils", "_rebuild_meta_tensor_no_storage", {global_id::rebuild_meta_tensor_no_storage}, both},
    {"torch._utils", "_rebuild_wrapper_subclass", {global_id::rebuild_wrapper_subclass}, torch_2_15},
    {"torch._utils", "_rebuild_device_tensor_from_cpu_tensor", {global_id::rebuild_device_tensor_from_cpu_tensor}, torch_2_15},
    {"torch._utils", "_rebuild_device_tensor_from_numpy", {global_id::rebuild_device_tensor_from_numpy}, torch_2_15, refused_by_policy},
    {"torch._tensor", "_rebuild_from_type_v2", {global_id::rebuild_from_type_v2}, torch_2_15},
    {"torch._utils", "_rebuild_sparse_csr_tensor", {global_id::rebuild_sparse_csr_tensor}, torch_1_13},
    // Beyond torch's allowlist: data real checkpoints hold, decoded without numpy (numpy 1.x's
    // module path numpy.core, 2.x's numpy._core).
    {"torch.torch_version", "TorchVersion", {global_id::torch_version}, beyond_torch},
    {"numpy.core.multiarray", "scalar", {global_id::numpy_scalar}, beyond_torch},
    {"numpy._core.multiarray", "scalar", {global_id::numpy_scalar}, beyond_torch},
    {"numpy.core.multiarray", "_reconstruct", {global_id::numpy_reconstruct}, beyond_torch},
    {"numpy._core.multiarray", "_reconstruct", {global_id::numpy_reconstruct}, beyond_torch},
    {"numpy", "dtype", {global_id::numpy_dtype}, beyond_torch},
    {"numpy", "ndarray", {global_id::numpy_ndarray}, beyond_torch},
})};

// "module.name" as one string, compared without building it.
constexpr std::size_t full_size(const allowed& a) { return a.module.size() + 1 + a.name.size(); }
constexpr unsigned char full_char(const allowed& a, std::size_t i) {
  return static_cast<unsigned char>(i < a.module.size() ? a.module[i] : i == a.module.size() ? '.' : a.name[i - a.module.size() - 1]);
}

template <class At>
constexpr int compare_chars(std::size_t na, std::size_t nb, At at) {
  for (std::size_t i = 0; i < na && i < nb; ++i) {
    const auto [x, y] = at(i);
    if (x != y) return x < y ? -1 : 1;
  }
  return na < nb ? -1 : na > nb ? 1 : 0;
}

constexpr int compare_full(const allowed& a, std::string_view full) {
  return compare_chars(full_size(a), full.size(), [&](std::size_t i) {
    return std::pair<unsigned char, unsigned char>{full_char(a, i), static_cast<unsigned char>(full[i])};
  });
}

constexpr int compare_rows(const allowed& a, const allowed& b) {
  return compare_chars(full_size(a), full_size(b), [&](std::size_t i) {
    return std::pair<unsigned char, unsigned char>{full_char(a, i), full_char(b, i)};
  });
}

// Row indices sorted by full name: lookup is a binary search over them.
constexpr auto sorted_rows = [] {
  std::array<std::uint8_t, allowlist.size()> idx{};
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<std::uint8_t>(i);
  std::sort(idx.begin(), idx.end(), [](std::uint8_t x, std::uint8_t y) { return compare_rows(allowlist[x], allowlist[y]) < 0; });
  return idx;
}();
static_assert(allowlist.size() <= 255, "row indices fit a byte");

constexpr bool unique_names() {
  for (std::size_t i = 1; i < sorted_rows.size(); ++i)
    if (compare_rows(allowlist[sorted_rows[i - 1]], allowlist[sorted_rows[i]]) >= 0) return false;
  return true;
}
static_assert(unique_names(), "every allowlisted name appears once");

constexpr bool identifier(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

constexpr bool dotted_identifier(std::string_view s) {
  for (std::size_t start = 0;;) {
    const std::size_t dot = s.find('.', start);
    if (!identifier(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

constexpr std::string_view legacy_prefix(std::uint8_t param) {
  for (const auto& [prefix, type] : legacy_prefixes)
    if (of(type) == param) return prefix;
  return {};
}

// A row's name agrees with its global_ref: dtype and qscheme names with their index, class
// names with their dtype's prefix, sparse classes in a sparse module.
constexpr bool row_consistent(const allowed& r) {
  if (!dotted_identifier(r.module) || !identifier(r.name) || (r.torch & (both | beyond_torch)) == 0) return false;
  const bool sparse_module = r.module == "torch.sparse" || r.module == "torch.cuda.sparse";
  if (r.ref.sparse != sparse_module) return false;
  const std::string_view prefix = legacy_prefix(r.ref.param);
  switch (r.ref.id) {
    case global_id::dtype: return r.module == "torch" && r.ref.param < dtype_globals.size() && r.name == dtype_globals[r.ref.param];
    case global_id::qscheme: return r.module == "torch" && r.ref.param < qschemes.size() && r.name == qschemes[r.ref.param];
    case global_id::storage_class:
      return (r.module == "torch" || r.module == "torch.cuda") && !prefix.empty() && r.name.starts_with(prefix) &&
             r.name.substr(prefix.size()) == "Storage";
    case global_id::tensor_class:
      return (r.module == "torch" || r.module == "torch.cuda" || sparse_module) && !prefix.empty() &&
             r.name.starts_with(prefix) && r.name.substr(prefix.size()) == "Tensor";
    default: return r.ref.param == 0;
  }
}

// Globals resolved elsewhere, never by name in the default list: caller-allowed globals
// (load_options::allowed_globals) and TorchScript's (torch_rebuilder::resolve_global).
constexpr std::array resolved_elsewhere{global_id::caller_allowed, global_id::jit_build_list,
                                        global_id::jit_restore_type_tag, global_id::torchscript_class};

// Every global_id is accounted for: a family (dtype, classes, qschemes) has rows, every other
// id exactly one row, or none when it is resolved elsewhere.
constexpr bool ids_accounted_for() {
  for (std::size_t id = 0; id < global_id_count; ++id) {
    std::size_t rows = 0;
    for (const auto& r : allowlist) rows += static_cast<std::size_t>(r.ref.id) == id;
    const auto g = static_cast<global_id>(id);
    const bool family = g == global_id::dtype || g == global_id::tensor_class || g == global_id::storage_class ||
                        g == global_id::qscheme;
    const bool elsewhere = std::find(resolved_elsewhere.begin(), resolved_elsewhere.end(), g) != resolved_elsewhere.end();
    const bool two_paths = g == global_id::numpy_scalar || g == global_id::numpy_reconstruct;  // numpy 1.x and 2.x
    if (elsewhere ? rows != 0 : family ? rows == 0 : rows != (two_paths ? 2u : 1u)) return false;
  }
  return true;
}

constexpr bool rows_consistent() {
  for (const auto& r : allowlist)
    if (!row_consistent(r)) return false;
  return true;
}
static_assert(rows_consistent(), "every row's name matches its global_ref");
static_assert(ids_accounted_for(), "every global_id has its rows");

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
  const auto it = std::lower_bound(sorted_rows.begin(), sorted_rows.end(), full,
                                   [](std::uint8_t row, std::string_view key) { return compare_full(allowlist[row], key) < 0; });
  if (it == sorted_rows.end() || compare_full(allowlist[*it], full) != 0 || allowlist[*it].refused) return std::nullopt;
  return allowlist[*it].ref;
}

std::string_view dtype_global_name(std::uint8_t param) noexcept {
  return param < dtype_globals.size() ? dtype_globals[param] : std::string_view{};
}

std::string_view qscheme_name(std::uint8_t param) noexcept {
  return param < qschemes.size() ? qschemes[param] : std::string_view{};
}

}  // namespace pthsafe::detail
