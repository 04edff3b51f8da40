// load_into: every destination is checked first (no byte is written unless all fit), then each
// tensor is walked in C order through its strides and stored element by element, converted
// between float32, float16 and bfloat16 as c10::Half / c10::BFloat16 do.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/checked.hpp"
#include "pthsafe/match.hpp"
#include "util/keyed_hash.hpp"

namespace pthsafe {

namespace {

bool is_float_kind(dtype t) { return t == dtype::float32 || t == dtype::float16 || t == dtype::bfloat16; }

// c10::detail::fp16_ieee_from_fp32_value: round to nearest even through float arithmetic
// (the scaling by 2^112 and 2^-110 makes the FPU do the rounding, subnormals included);
// overflow to infinity. NaN as torch 2.x's conversion on x86-64 writes it (F16C's vcvtps2ph):
// the sign, a quiet NaN and the top 9 bits of the payload (0x7FFFE000 -> 0x7FFF).
std::uint16_t half_from_float(float f) {
  const std::uint32_t w = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = w & 0x80000000u;
  const std::uint32_t shl1_w = w + w;
  if (shl1_w > 0xFF000000u) return static_cast<std::uint16_t>((sign >> 16) | 0x7E00u | ((w & 0x007FFFFFu) >> 13));
  const float scale_to_inf = std::bit_cast<float>(std::uint32_t{0x77800000});
  const float scale_to_zero = std::bit_cast<float>(std::uint32_t{0x08800000});
  float base = (std::fabs(f) * scale_to_inf) * scale_to_zero;
  std::uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = std::bit_cast<float>((bias >> 1) + 0x07800000u) + base;
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(base);
  const std::uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const std::uint32_t mantissa_bits = bits & 0x00000FFFu;
  return static_cast<std::uint16_t>((sign >> 16) | (exp_bits + mantissa_bits));
}

// c10::detail::round_to_nearest_even: add 0x7FFF plus the lowest kept bit and truncate
// (overflow carries into the exponent: infinity). NaN differs between torch's kernels, and
// pthsafe writes what torch 2.x writes on x86-64: from float32 its vectorised conversion's
// 0xFFFF, from float16 (converted through float by c10::BFloat16) 0x7FC0.
std::uint16_t bfloat16_from_float(float f, dtype from) {
  if (f != f) return from == dtype::float16 ? 0x7FC0 : 0xFFFF;
  const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t rounding_bias = ((u >> 16) & 1u) + 0x7FFFu;
  return static_cast<std::uint16_t>((u + rounding_bias) >> 16);
}

float load_float(dtype t, const std::byte* p) {
  if (t == dtype::float32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  std::uint16_t b;
  std::memcpy(&b, p, 2);
  return t == dtype::float16 ? float16{b}.to_float() : bfloat16{b}.to_float();
}

void store_float(dtype t, std::byte* p, float f, dtype from) {
  if (t == dtype::float32) {
    std::memcpy(p, &f, 4);
    return;
  }
  const std::uint16_t b = t == dtype::float16 ? half_from_float(f) : bfloat16_from_float(f, from);
  std::memcpy(p, &b, 2);
}

error mismatch(const destination& d, const std::string& what) {
  return make_error(errc::destination_mismatch, "destination \"" + d.name + "\": " + what);
}

// The checks load_state_dict makes (shape, with the 0-d rule) plus those of a raw copy.
result<void> check(const destination& d, const tensor_view& t) {
  const auto have = t.shape();
  const bool scalar_from_1d = d.shape.empty() && have.size() == 1 && have[0] == 1;
  if (!scalar_from_1d && !std::equal(have.begin(), have.end(), d.shape.begin(), d.shape.end()))
    return mismatch(d, "shape differs from the tensor's");
  const dtype from = t.element_type();
  if (from != d.type && !(is_float_kind(from) && is_float_kind(d.type)))
    return mismatch(d, std::string("no conversion from ") + std::string(dtype_name(from)) + " to " + std::string(dtype_name(d.type)));
  if (t.is_sparse() || t.is_conj() || t.is_neg() || !t.has_storage())
    return make_error(errc::unsupported_feature, "tensor \"" + d.name + "\" has no plain strided bytes (sparse, meta, conj or neg bit)");
  switch (from) {
    case dtype::qint8: case dtype::quint8: case dtype::qint32: case dtype::quint4x2: case dtype::quint2x4:
    case dtype::float4_e2m1fn_x2: case dtype::bits1x8: case dtype::bits2x4: case dtype::bits4x2:
      return make_error(errc::unsupported_feature, "tensor \"" + d.name + "\": " + std::string(dtype_name(from)) + " is not copied element-wise");
    default: break;
  }
  if (t.numel() != 0 && t.data() == nullptr)
    return make_error(errc::unsupported_feature, "tensor \"" + d.name + "\" has no bytes loaded (load_mode::metadata)");
  const auto need = detail::checked_mul<std::uint64_t>(t.numel(), itemsize(d.type));
  if (!need || *need != d.bytes.size())
    return mismatch(d, "buffer of " + std::to_string(d.bytes.size()) + " bytes, the tensor needs " +
                           (need ? std::to_string(*need) : std::string("more than 2^64")));
  if (d.kind != destination_kind::host) return mismatch(d, "unknown destination kind");
  return {};
}

void copy(const destination& d, const tensor_view& t) {
  const dtype from = t.element_type();
  const std::size_t in_size = itemsize(from), out_size = itemsize(d.type);
  const auto shape = t.shape();
  const auto strides = t.strides();
  const std::uint64_t n = t.numel();
  if (n == 0) return;
  const std::byte* base = t.data();
  std::vector<std::int64_t> index(shape.size(), 0);
  std::int64_t offset = 0;  // elements from base, kept in step with `index`
  std::byte* out = d.bytes.data();
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::byte* src = base + offset * static_cast<std::int64_t>(in_size);
    if (from == d.type) std::memcpy(out, src, in_size);
    else store_float(d.type, out, load_float(from, src), from);
    out += out_size;
    // Next C-order index: the view was checked to lie inside its storage for every index.
    for (std::size_t k = shape.size(); k-- > 0;) {
      if (++index[k] < shape[k]) {
        offset += strides[k];
        break;
      }
      offset -= strides[k] * (shape[k] - 1);
      index[k] = 0;
    }
  }
}

}  // namespace

result<void> load_into(const state_dict& sd, std::span<const destination> destinations) {
  std::unordered_map<std::string_view, std::size_t, detail::keyed_string_hash, std::equal_to<>> by_name;
  by_name.reserve(sd.entries.size());
  for (std::size_t i = 0; i < sd.entries.size(); ++i) by_name.emplace(sd.entries[i].name, i);
  std::vector<tensor_view> sources;
  sources.reserve(destinations.size());
  for (const destination& d : destinations) {
    const auto it = by_name.find(d.name);
    if (it == by_name.end()) return mismatch(d, "no tensor of that name in the state_dict");
    const tensor_view t = sd.entries[it->second].tensor;
    if (auto ok = check(d, t); !ok) return ok.error_value();
    sources.push_back(t);
  }
  for (std::size_t i = 0; i < destinations.size(); ++i) copy(destinations[i], sources[i]);
  return {};
}

}  // namespace pthsafe
