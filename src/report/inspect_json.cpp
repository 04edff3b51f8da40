#include <cstring>
#include <unordered_map>
#include <vector>

#include "model/state.hpp"
#include "torch/quantized.hpp"
#include "pthsafe/report.hpp"
#include "report/training.hpp"
#include "model/expansion.hpp"
#include "util/json.hpp"
#include "util/keyed_hash.hpp"
#include "util/sha256.hpp"
#include "util/try.hpp"

namespace pthsafe {
namespace {

using detail::json_writer;

// Applies the negative / conjugate bits to one little-endian element in place.
void apply_bits(std::byte* e, dtype t, bool conj, bool neg) {
  auto flip_sign = [](std::byte* p, std::size_t width) { p[width - 1] ^= std::byte{0x80}; };
  const std::size_t n = itemsize(t);
  if (neg) {
    switch (t) {
      case dtype::float64: case dtype::float32: case dtype::float16: case dtype::bfloat16:
      case dtype::float8_e4m3fn: case dtype::float8_e5m2:
        flip_sign(e, n);
        break;
      case dtype::complex128: case dtype::complex64: case dtype::complex32:
        flip_sign(e, n / 2);
        flip_sign(e + n / 2, n / 2);
        break;
      case dtype::int64: case dtype::int32: case dtype::int16: case dtype::int8:
      case dtype::uint8: case dtype::uint16: case dtype::uint32: case dtype::uint64: {
        std::uint64_t v = 0;
        std::memcpy(&v, e, n);
        v = ~v + 1;
        std::memcpy(e, &v, n);
        break;
      }
      default: break;
    }
  }
  if (conj && is_complex(t)) flip_sign(e + n / 2, n / 2);
}

}  // namespace

std::string tensor_sha256(const tensor_view& t) {
  const std::byte* base = t.data();
  if (!t.has_storage() || (!base && t.numel() > 0) || (t.numel() > 0 && t.storage().bytes().empty())) return {};
  detail::sha256 h;
  const std::size_t item = itemsize(t.element_type());
  const bool bits = t.is_conj() || t.is_neg();
  if (t.numel() == 0) return h.hex();
  if (const unsigned per = detail::values_per_byte(t.element_type()); per > 1) {
    // Packed quantized types: torch's int_repr() is the ceil(numel / per) bytes from data().
    h.update(base, (t.numel() + per - 1) / per);
    return h.hex();
  }
  if (t.is_contiguous() && !bits) {
    h.update(base, t.numel() * item);
    return h.hex();
  }
  const auto shape = t.shape();
  const auto stride = t.strides();
  const std::size_t nd = shape.size();
  std::vector<std::int64_t> idx(nd, 0);
  std::vector<std::byte> chunk;
  chunk.reserve(1 << 16);
  std::uint64_t off = 0;  // element offset relative to base
  for (std::uint64_t i = 0; i < t.numel(); ++i) {
    const std::size_t at = chunk.size();
    chunk.resize(at + item);
    std::memcpy(chunk.data() + at, base + off * item, item);
    if (bits) apply_bits(chunk.data() + at, t.element_type(), t.is_conj(), t.is_neg());
    if (chunk.size() >= (1 << 16) - 32) {
      h.update(chunk.data(), chunk.size());
      chunk.clear();
    }
    for (std::size_t d = nd; d-- > 0;) {
      if (++idx[d] < shape[d]) {
        off += static_cast<std::uint64_t>(stride[d]);
        break;
      }
      off -= static_cast<std::uint64_t>(stride[d]) * static_cast<std::uint64_t>(shape[d] - 1);
      idx[d] = 0;
    }
  }
  h.update(chunk.data(), chunk.size());
  return h.hex();
}

namespace {

struct walker {
  json_writer& w;
  bool digests;
  std::uint64_t budget;
  std::uint64_t max_bytes;

  // Checked before a value is written, with `ahead` the most its own text can add (a str
  // escapes to at most 6 bytes a byte, bytes are hex), so that no single value overshoots.
  result<void> room(std::uint64_t ahead) const {
    if (w.text().size() > max_bytes || ahead > max_bytes - w.text().size())
      return make_error(errc::limit_exceeded, "limit max_output_bytes (" + std::to_string(max_bytes) +
                                                  ") exceeded while writing JSON (shared references repeat values)");
    return {};
  }

  result<void> write(const value& v) {
    if (budget == 0)
      return make_error(errc::limit_exceeded, "limit max_walk_nodes exceeded while writing JSON (shared subtrees expand "
                                              "to more values than the walk budget)");
    --budget;
    const bool textual = v.kind() == value_kind::string || v.kind() == value_kind::bytes || v.kind() == value_kind::integer;
    PTHSAFE_TRY(room(256 + (textual ? 6 * v.text().size() : 0)));
    w.begin_object().key("type").str(value_kind_name(v.kind()));
    switch (v.kind()) {
      case value_kind::none: break;
      case value_kind::boolean: w.key("value").boolean(v.as_bool()); break;
      case value_kind::integer: w.key("value").str(v.int_decimal()); break;
      case value_kind::floating: w.key("value").real(v.as_double()); break;
      case value_kind::complex: w.key("real").real(v.as_complex().real()).key("imag").real(v.as_complex().imag()); break;
      case value_kind::string:
        w.key("value").str(v.text());
        if (v.is_torch_version()) w.key("class").str("TorchVersion");
        break;
      case value_kind::bytes: {
        static const char* digits = "0123456789abcdef";
        std::string hex;
        hex.reserve(v.text().size() * 2);
        for (unsigned char c : v.text()) { hex.push_back(digits[c >> 4]); hex.push_back(digits[c & 15]); }
        w.key("hex").str(hex);
        break;
      }
      case value_kind::dtype: case value_kind::device: case value_kind::layout: case value_kind::qscheme:
      case value_kind::global: case value_kind::storage:
        w.key("value").str(v.text());
        break;
      case value_kind::tuple: case value_kind::list: case value_kind::set: case value_kind::frozenset:
      case value_kind::size: {
        w.key("items").begin_array();
        for (const value* it : v.items())
          PTHSAFE_TRY(write(*it));
        w.end_array();
        break;
      }
      case value_kind::dict: case value_kind::ordered_dict: {
        if (!v.dict_class().empty()) w.key("class").str(v.dict_class());
        w.key("items").begin_array();
        const auto items = v.items();
        for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
          w.begin_array();
          PTHSAFE_TRY(write(*items[i]));
          PTHSAFE_TRY(write(*items[i + 1]));
          w.end_array();
        }
        w.end_array();
        PTHSAFE_TRY(attrs(v));
        break;
      }
      case value_kind::object: {
        w.key("class").str(v.text());
        w.key("args");
        PTHSAFE_TRY(write(*v.items()[0]));
        if (v.items().size() > 1) {
          w.key("state");
          PTHSAFE_TRY(write(*v.items()[1]));
        }
        break;
      }
      case value_kind::ndarray: {
        w.key("dtype").str(dtype_name(*v.numpy_dtype()));
        w.key("shape").begin_array();
        for (const value* d : v.items()) w.num(d->as_int64());
        w.end_array();
        if (digests) {
          // Hashed like a tensor: the elements in C order, little-endian (how they are stored).
          detail::sha256 h;
          h.update(v.text().data(), v.text().size());
          w.key("sha256").str(h.hex());
        }
        break;
      }
      case value_kind::tensor: {
        tensor_fields(v.as_tensor());
        PTHSAFE_TRY(attrs(v));
        break;
      }
    }
    if (const auto np = v.numpy_dtype(); np && v.kind() != value_kind::ndarray) w.key("numpy").str(dtype_name(*np));
    w.end_object();
    return {};
  }

  // The fields of a tensor object (docs/inspect-json.md), plus, as extra fields the contract allows:
  // sparse tensors' "layout", "is_coalesced" and component tensors (no storage or digest of
  // their own); quantized tensors' "qscheme" and parameters; wrapper subclasses' "subclass".
  void tensor_fields(const tensor_view& t) {
    w.key("dtype").str(dtype_name(t.element_type()));
    w.key("shape").begin_array();
    for (auto s : t.shape()) w.num(s);
    w.end_array();
    if (t.is_sparse()) {
      w.key("layout").str(layout_name(t.layout()));
      w.key("device").str(t.device());
      w.key("requires_grad").boolean(t.requires_grad());
      w.key("parameter").boolean(t.is_parameter());
      const bool row = t.layout() == tensor_layout::sparse_csr || t.layout() == tensor_layout::sparse_bsr;
      if (t.layout() == tensor_layout::sparse_coo) {
        w.key("is_coalesced").boolean(t.sparse_coalesced() == 1);
        component("indices", t.sparse_indices());
      } else {
        component(row ? "crow_indices" : "ccol_indices", t.sparse_indices());
        component(row ? "col_indices" : "row_indices", t.sparse_plain_indices());
      }
      component("values", t.sparse_values());
      return;
    }
    w.key("stride").begin_array();
    for (auto s : t.strides()) w.num(s);
    w.end_array();
    w.key("storage_offset").num(t.storage_offset());
    w.key("device").str(t.device());
    w.key("requires_grad").boolean(t.requires_grad());
    w.key("parameter").boolean(t.is_parameter());
    if (t.has_storage()) w.key("storage").str(t.storage().key());
    if (digests && t.has_storage()) {
      const std::string& d = digest(t);
      if (!d.empty()) w.key("sha256").str(d);
    }
    if (!t.subclass().empty()) w.key("subclass").str(t.subclass());
    if (t.is_quantized()) {
      w.key("qscheme").str(quant_scheme_name(t.qscheme()));
      if (t.qscheme() == quant_scheme::per_tensor_affine) {
        w.key("q_scale").real(t.q_scale()).key("q_zero_point").num(t.q_zero_point());
      } else {
        const bool fq = t.qscheme() == quant_scheme::per_channel_affine_float_qparams;
        w.key("q_axis").num(t.q_axis());
        if (digests) {
          w.key("q_scales").begin_array();
          for (double d : detail::qparam_doubles(t.q_per_channel_scales(), fq)) w.real(d);
          w.end_array().key("q_zero_points").begin_array();
          if (fq) {
            for (double d : detail::qparam_doubles(t.q_per_channel_zero_points(), true)) w.real(d);
          } else {
            for (std::int64_t i : detail::qparam_ints(t.q_per_channel_zero_points())) w.num(i);
          }
          w.end_array();
        }
      }
    }
  }

  // A digest is a function of the elements' address, type, geometry and sign bits: a tensor
  // referenced a million times through the memo is hashed once, not a million times.
  std::unordered_map<std::string, std::string, detail::keyed_string_hash, std::equal_to<>> digest_cache;
  const std::string& digest(const tensor_view& t) {
    std::string key;
    auto put = [&](std::uint64_t x) { key.append(reinterpret_cast<const char*>(&x), sizeof x); };
    put(reinterpret_cast<std::uintptr_t>(t.data()));
    put(static_cast<std::uint64_t>(t.element_type()) | (std::uint64_t{t.is_conj()} << 8) | (std::uint64_t{t.is_neg()} << 9));
    for (auto x : t.shape()) put(static_cast<std::uint64_t>(x));
    put(~std::uint64_t{0});
    for (auto x : t.strides()) put(static_cast<std::uint64_t>(x));
    auto it = digest_cache.find(key);
    if (it == digest_cache.end()) it = digest_cache.emplace(std::move(key), tensor_sha256(t)).first;
    return it->second;
  }

  void component(const char* name, const tensor_view& t) {
    w.key(name).begin_object().key("type").str("tensor");
    tensor_fields(t);
    w.end_object();
  }

  result<void> attrs(const value& v) {
    if (v.attrs().empty()) return {};
    w.key("attrs").begin_object();
    for (const auto& [name, val] : v.attrs()) {
      PTHSAFE_TRY(room(256 + 6 * name.size()));
      w.key(name);
      PTHSAFE_TRY(write(*val));
    }
    w.end_object();
    return {};
  }
};

}  // namespace

result<std::string> inspect_json(const checkpoint& ck, bool with_digests) {
  // Refused before a byte is written when shared references expand past the budgets.
  PTHSAFE_TRY(detail::check_expansion(ck));
  json_writer w;
  w.begin_object();
  w.key("format").str(container_format_name(ck.format()));
  w.key("byteorder").str(ck.big_endian() ? "big" : "little");
  w.key("root");
  walker wk{w, with_digests && ck.mode() != load_mode::metadata, ck.walk_budget(), ck.output_budget(), {}};
  PTHSAFE_TRY(wk.write(ck.root()));
  if (const value* c = ck.constants()) {  // TorchScript: constants.pkl (an extra field)
    w.key("constants");
    PTHSAFE_TRY(wk.write(*c));
  }
  if (const auto training = summarize_training(ck); training.is_training()) {
    w.key("training");
    detail::write_training_json(w, training);
    if (w.text().size() > ck.output_budget())
      return make_error(errc::limit_exceeded, "limit max_output_bytes (" + std::to_string(ck.output_budget()) +
                                                  ") exceeded while writing JSON (the training summary)");
  }
  w.end_object();
  return w.take();
}

std::string scan_report_json(const std::string& path, const scan_report& r) {
  json_writer w;
  w.begin_object().key("file").str(path).key("verdict").str(verdict_name(r.verdict)).key("format").str(r.format);
  w.key("findings").begin_array();
  for (const auto& f : r.findings) {
    w.begin_object()
        .key("rule").str(f.rule)
        .key("severity").str(severity_name(f.severity))
        .key("record").str(f.record)
        .key("offset").num(f.offset)
        .key("subject").str(f.subject)
        .key("message").str(f.message)
        .end_object();
  }
  w.end_array().end_object();
  return w.take();
}

}  // namespace pthsafe
