// diff_tensors(): name matching (a sorted index, not a hash keyed by file content), then one
// pass over each pair of tensors with the same dtype and shape.
#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <cstring>
#include <map>
#include <string_view>

#include "pthsafe/diff.hpp"

namespace pthsafe {
namespace {

std::vector<std::int64_t> strides_of(const tensor_ref& t) {
  if (!t.strides.empty()) return t.strides;
  std::vector<std::int64_t> s(t.shape.size(), 1);
  for (std::size_t i = t.shape.size(); i-- > 1;) s[i - 1] = s[i] * std::max<std::int64_t>(1, t.shape[i]);
  return s;
}

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// An element as a complex double; nullopt for dtypes without arithmetic here.
std::optional<std::complex<double>> element(dtype t, const std::byte* p) {
  switch (t) {
    case dtype::float64: return load<double>(p);
    case dtype::float32: return static_cast<double>(load<float>(p));
    case dtype::float16: return static_cast<double>(float16{load<std::uint16_t>(p)}.to_float());
    case dtype::bfloat16: return static_cast<double>(bfloat16{load<std::uint16_t>(p)}.to_float());
    case dtype::complex128: return std::complex<double>(load<double>(p), load<double>(p + 8));
    case dtype::complex64: return std::complex<double>(load<float>(p), load<float>(p + 4));
    case dtype::int64: return static_cast<double>(load<std::int64_t>(p));
    case dtype::int32: return static_cast<double>(load<std::int32_t>(p));
    case dtype::int16: return static_cast<double>(load<std::int16_t>(p));
    case dtype::int8: return static_cast<double>(load<std::int8_t>(p));
    case dtype::uint8: return static_cast<double>(load<std::uint8_t>(p));
    case dtype::uint16: return static_cast<double>(load<std::uint16_t>(p));
    case dtype::uint32: return static_cast<double>(load<std::uint32_t>(p));
    case dtype::uint64: return static_cast<double>(load<std::uint64_t>(p));
    case dtype::boolean: return load<std::uint8_t>(p) != 0 ? 1.0 : 0.0;
    default: return std::nullopt;
  }
}

tensor_comparison compare(const tensor_ref& a, const tensor_ref& b) {
  tensor_comparison c;
  c.key = a.name;
  const std::size_t item = itemsize(a.type);
  const auto sa = strides_of(a), sb = strides_of(b);
  std::uint64_t numel = 1;
  for (const auto d : a.shape) numel *= static_cast<std::uint64_t>(std::max<std::int64_t>(d, 0));
  static constexpr std::array<std::byte, 16> zero{};
  const bool arithmetic = element(a.type, zero.data()).has_value();
  bool identical = true;
  double worst = 0;
  std::vector<std::int64_t> index(a.shape.size(), 0);
  std::int64_t oa = 0, ob = 0;
  for (std::uint64_t n = 0; n < numel; ++n) {
    const std::byte* pa = a.data + oa * static_cast<std::int64_t>(item);
    const std::byte* pb = b.data + ob * static_cast<std::int64_t>(item);
    if (std::memcmp(pa, pb, item) != 0) {
      identical = false;
      if (arithmetic) {
        const auto x = *element(a.type, pa), y = *element(b.type, pb);
        const bool nan_x = std::isnan(x.real()) || std::isnan(x.imag()), nan_y = std::isnan(y.real()) || std::isnan(y.imag());
        if (nan_x || nan_y) {
          if (nan_x != nan_y) worst = std::nan("");
        } else if (!std::isnan(worst)) {
          const double d = std::abs(x - y);
          // Equal infinities differ by NaN in IEEE arithmetic: they are the same value.
          if (!(std::isinf(x.real()) && x == y)) worst = std::max(worst, std::isnan(d) ? INFINITY : d);
        }
      }
    }
    for (std::size_t d = index.size(); d-- > 0;) {
      if (++index[d] < a.shape[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (a.shape[d] - 1);
      ob -= sb[d] * (a.shape[d] - 1);
      index[d] = 0;
    }
  }
  c.identical = identical;
  if (arithmetic) c.max_abs_diff = worst;
  return c;
}

result<std::map<std::string_view, const tensor_ref*>> index_names(std::span<const tensor_ref> ts, const char* side) {
  std::map<std::string_view, const tensor_ref*> m;
  for (const auto& t : ts) {
    if (!m.emplace(t.name, &t).second) {
      return make_error(errc::save_duplicate_key, std::string(side) + " holds the name '" + t.name + "' twice");
    }
  }
  return m;
}

}  // namespace

result<diff_report> diff_tensors(std::span<const tensor_ref> a, std::span<const tensor_ref> b, double atol) {
  auto ia = index_names(a, "A");
  if (!ia) return ia.error_value();
  auto ib = index_names(b, "B");
  if (!ib) return ib.error_value();
  diff_report r;
  for (const auto& t : a) {
    const auto it = ib->find(t.name);
    if (it == ib->end()) {
      r.only_in_a.push_back(t.name);
      continue;
    }
    const tensor_ref& u = *it->second;
    if (t.type != u.type || t.shape != u.shape) {
      r.changed.push_back({t.name, t.type, u.type, t.shape, u.shape});
      continue;
    }
    r.compared.push_back(compare(t, u));
  }
  for (const auto& t : b) {
    if (ia->find(t.name) == ia->end()) r.only_in_b.push_back(t.name);
  }
  r.same = r.only_in_a.empty() && r.only_in_b.empty() && r.changed.empty();
  for (const auto& c : r.compared) {
    if (c.identical) continue;
    const bool close = atol > 0 && c.max_abs_diff && !std::isnan(*c.max_abs_diff) && *c.max_abs_diff <= atol;
    if (!close) r.same = false;
  }
  return r;
}

}  // namespace pthsafe
