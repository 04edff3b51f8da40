// safetensors_file: the header read by the strict JSON reader, then the crate's Metadata::validate
// (offsets sorted, contiguous from 0, each span = numel * itemsize with overflow checks) and
// read_metadata's final rule (the last offset is the end of the file).
#include "pthsafe/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>
#include <string_view>

#include "io/checked.hpp"
#include "io/source.hpp"
#include "util/json_parse.hpp"
#include "util/try.hpp"

namespace pthsafe {

struct safetensors_file::impl {
  detail::source src;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<safetensors_tensor> tensors;
  std::uint64_t data_offset = 0;
};

safetensors_file::safetensors_file(std::unique_ptr<impl> p) noexcept : p_(std::move(p)) {}

void safetensors_file::release_pages(std::span<const std::byte> bytes) const noexcept {
  if (p_) p_->src.release_pages(bytes);
}
safetensors_file::safetensors_file(safetensors_file&&) noexcept = default;
safetensors_file& safetensors_file::operator=(safetensors_file&&) noexcept = default;
safetensors_file::~safetensors_file() = default;
const std::vector<std::pair<std::string, std::string>>& safetensors_file::metadata() const& noexcept { return p_->metadata; }
const std::vector<safetensors_tensor>& safetensors_file::tensors() const& noexcept { return p_->tensors; }
std::uint64_t safetensors_file::data_offset() const noexcept { return p_->data_offset; }

namespace {

// The dtype names safetensors.torch maps to torch dtypes (its _TYPES table).
std::optional<dtype> dtype_of(std::string_view s) {
  struct row { std::string_view name; dtype type; };
  static constexpr row rows[] = {
      {"F64", dtype::float64}, {"F32", dtype::float32}, {"F16", dtype::float16}, {"BF16", dtype::bfloat16},
      {"I64", dtype::int64}, {"I32", dtype::int32}, {"I16", dtype::int16}, {"I8", dtype::int8},
      {"U64", dtype::uint64}, {"U32", dtype::uint32}, {"U16", dtype::uint16}, {"U8", dtype::uint8},
      {"BOOL", dtype::boolean}, {"C64", dtype::complex64},
      {"F8_E4M3", dtype::float8_e4m3fn}, {"F8_E4M3FNUZ", dtype::float8_e4m3fnuz},
      {"F8_E5M2", dtype::float8_e5m2}, {"F8_E5M2FNUZ", dtype::float8_e5m2fnuz},
  };
  for (const auto& r : rows)
    if (r.name == s) return r.type;
  return std::nullopt;
}

error bad(errc code, std::string msg, std::uint64_t offset = 0) { return make_error(code, std::move(msg), {}, offset); }

std::optional<std::uint64_t> offset_value(const detail::json_value& v) {
  if (v.kind != detail::json_kind::integer || v.integer < 0) return std::nullopt;
  return static_cast<std::uint64_t>(v.integer);
}

result<safetensors_tensor> read_entry(const std::string& name, const detail::json_value& spec, const limits& lim) {
  const auto fail = [&](std::string_view what) { return bad(errc::safetensors_bad_header, "tensor \"" + name + "\": " + std::string(what)); };
  if (spec.kind != detail::json_kind::object) return fail("not an object");
  for (const std::string& k : spec.keys)
    if (k != "dtype" && k != "shape" && k != "data_offsets") return fail("unknown member \"" + k + "\"");
  const detail::json_value* dt = spec.find("dtype");
  const detail::json_value* shape = spec.find("shape");
  const detail::json_value* offs = spec.find("data_offsets");
  if (!dt || dt->kind != detail::json_kind::string) return fail("dtype must be a string");
  if (!shape || shape->kind != detail::json_kind::array) return fail("shape must be an array");
  if (!offs || offs->kind != detail::json_kind::array || offs->items.size() != 2) return fail("data_offsets must be [begin, end]");
  safetensors_tensor t;
  t.name = name;
  const auto type = dtype_of(dt->text);
  if (!type) return bad(errc::safetensors_bad_dtype, "tensor \"" + name + "\": dtype \"" + dt->text + "\" has no pthsafe element type");
  t.type = *type;
  if (shape->items.size() > lim.max_dims)
    return bad(errc::limit_exceeded, "tensor \"" + name + "\": more dimensions than max_dims (" + std::to_string(lim.max_dims) + ")");
  std::uint64_t numel = 1;
  for (const auto& d : shape->items) {
    const auto n = offset_value(d);
    if (!n) return fail("shape entries must be integers >= 0");
    const auto next = detail::checked_mul<std::uint64_t>(numel, *n);
    if (!next) return fail("numel overflows");
    numel = *next;
    t.shape.push_back(static_cast<std::int64_t>(*n));
  }
  const auto sized = detail::checked_mul<std::uint64_t>(numel, itemsize(t.type));
  if (!sized) return fail("byte size overflows");
  const std::uint64_t nbytes = *sized;
  const auto b = offset_value(offs->items[0]), e = offset_value(offs->items[1]);
  if (!b || !e) return fail("data_offsets must be integers >= 0");
  t.begin = *b;
  t.end = *e;
  if (t.end < t.begin || t.end - t.begin != nbytes)
    return bad(errc::safetensors_bad_offsets, "tensor \"" + name + "\": data_offsets [" + std::to_string(t.begin) + ", " +
                                                  std::to_string(t.end) + "] do not span the " + std::to_string(nbytes) +
                                                  " bytes its shape and dtype need");
  return t;
}

}  // namespace

// Builds the file from its bytes (a friend: the constructor and impl are private).
struct safetensors_access {
  static result<safetensors_file> parse(detail::source src, const limits& lim) {
    const auto bytes = src.bytes();
    if (bytes.size() < 8) return bad(errc::safetensors_bad_header, "shorter than the 8-byte header length");
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);  // little-endian hosts only (CMakeLists.txt)
    if (n > safetensors_max_header)
      return bad(errc::safetensors_bad_header, "header length " + std::to_string(n) + " is over the safetensors limit of 100,000,000");
    if (n > bytes.size() - 8) return bad(errc::safetensors_bad_header, "header length " + std::to_string(n) + " runs past the end of the file");
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, static_cast<std::size_t>(n));
    if (text.empty() || text[0] != '{') return bad(errc::safetensors_bad_header, "the header does not start with '{'", 8);
    auto doc = detail::parse_json(text, lim);
    if (!doc) {
      error e = std::move(doc).error_value();
      e.offset += 8;
      return e;
    }
    if (doc->kind != detail::json_kind::object) return bad(errc::safetensors_bad_header, "the header is not a JSON object", 8);
    auto out = std::make_unique<safetensors_file::impl>();
    out->data_offset = 8 + n;
    for (std::size_t i = 0; i < doc->items.size(); ++i) {
      const std::string& name = doc->keys[i];
      const detail::json_value& v = doc->items[i];
      if (name == "__metadata__") {
        if (v.kind != detail::json_kind::object) return bad(errc::safetensors_bad_header, "__metadata__ is not an object");
        for (std::size_t k = 0; k < v.items.size(); ++k) {
          if (v.items[k].kind != detail::json_kind::string)
            return bad(errc::safetensors_bad_header, "__metadata__ value of \"" + v.keys[k] + "\" is not a string");
          out->metadata.emplace_back(v.keys[k], v.items[k].text);
        }
        continue;
      }
      if (out->tensors.size() >= lim.max_tensors) return bad(errc::limit_exceeded, "more tensors than max_tensors");
      PTHSAFE_ASSIGN(safetensors_tensor t, read_entry(name, v, lim));
      out->tensors.push_back(std::move(t));
    }
    // Metadata::validate: in offset order, each tensor starts where the previous one ended.
    std::vector<std::size_t> order(out->tensors.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      const auto& x = out->tensors[a];
      const auto& y = out->tensors[b];
      return x.begin != y.begin ? x.begin < y.begin : x.end < y.end;
    });
    std::uint64_t at = 0;
    for (std::size_t i : order) {
      const auto& t = out->tensors[i];
      if (t.begin != at)
        return bad(errc::safetensors_bad_offsets, "tensor \"" + t.name + "\" starts at " + std::to_string(t.begin) + ", the previous one ends at " +
                                                      std::to_string(at) + " (gap or overlap)");
      at = t.end;
    }
    const std::uint64_t data_size = bytes.size() - out->data_offset;
    if (at != data_size)
      return bad(errc::safetensors_bad_offsets, "the tensors cover " + std::to_string(at) + " bytes, the data section holds " +
                                                    std::to_string(data_size));
    for (auto& t : out->tensors)
      t.bytes = bytes.subspan(static_cast<std::size_t>(out->data_offset + t.begin), static_cast<std::size_t>(t.end - t.begin));
    out->src = std::move(src);
    return safetensors_file(std::move(out));
  }
};

result<safetensors_file> safetensors_file::open(const std::string& path, const limits& lim) {
  PTHSAFE_ASSIGN(detail::source src, detail::source::map_file(path));
  return safetensors_access::parse(std::move(src), lim);
}

result<safetensors_file> safetensors_file::open_buffer(std::span<const std::byte> bytes, const limits& lim) {
  return safetensors_access::parse(detail::source::from_buffer(bytes), lim);
}

}  // namespace pthsafe
