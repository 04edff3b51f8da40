#include "util/numbers.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>
#include <vector>

namespace pthsafe::detail {

py_int int_from_le_bytes(std::string_view b) {
  py_int r;
  const std::size_t n = b.size();
  if (n == 0) return r;
  const bool negative = (static_cast<unsigned char>(b[n - 1]) & 0x80) != 0;
  // Fits int64 when every byte beyond the 8th is pure sign extension of the 8th's top bit.
  bool fits = true;
  if (n > 8) {
    const unsigned char ext = negative ? 0xff : 0x00;
    for (std::size_t i = 8; i < n; ++i)
      if (static_cast<unsigned char>(b[i]) != ext) { fits = false; break; }
    if (fits && ((static_cast<unsigned char>(b[7]) & 0x80) != 0) != negative) fits = false;
  }
  if (fits) {
    std::uint64_t u = negative ? ~std::uint64_t{0} : 0;
    const std::size_t m = std::min<std::size_t>(n, 8);
    for (std::size_t i = 0; i < m; ++i) {
      u &= ~(std::uint64_t{0xff} << (8 * i));
      u |= std::uint64_t(static_cast<unsigned char>(b[i])) << (8 * i);
    }
    r.small = static_cast<std::int64_t>(u);
    return r;
  }
  // Minimal form: drop high bytes that only repeat the sign.
  std::size_t len = n;
  while (len > 1) {
    const auto hi = static_cast<unsigned char>(b[len - 1]);
    const auto next = static_cast<unsigned char>(b[len - 2]);
    if ((hi == 0x00 && !(next & 0x80)) || (hi == 0xff && (next & 0x80))) --len; else break;
  }
  r.raw.assign(b.data(), len);
  return r;
}

std::string decimal_from_le_bytes(std::string_view b) {
  const std::size_t n = b.size();
  if (n == 0) return "0";
  const bool negative = (static_cast<unsigned char>(b[n - 1]) & 0x80) != 0;
  // Magnitude in 32-bit limbs (two's complement negated when negative), then base-1e9 digits.
  std::vector<std::uint32_t> limbs((n + 3) / 4, 0);
  for (std::size_t i = 0; i < n; ++i) limbs[i / 4] |= std::uint32_t(static_cast<unsigned char>(b[i])) << (8 * (i % 4));
  if (negative) {
    const std::size_t pad = n % 4;
    if (pad) limbs.back() |= ~std::uint32_t{0} << (8 * pad);
    std::uint64_t carry = 1;
    for (auto& l : limbs) {
      const std::uint64_t v = std::uint64_t(~l) + carry;
      l = static_cast<std::uint32_t>(v);
      carry = v >> 32;
    }
  }
  while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
  std::vector<std::uint32_t> chunks;  // base 1e9, least significant first
  while (!limbs.empty()) {
    std::uint64_t rem = 0;
    for (std::size_t i = limbs.size(); i-- > 0;) {
      const std::uint64_t cur = (rem << 32) | limbs[i];
      limbs[i] = static_cast<std::uint32_t>(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    chunks.push_back(static_cast<std::uint32_t>(rem));
    while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
  }
  std::string s = negative ? "-" : "";
  s += std::to_string(chunks.back());
  for (std::size_t i = chunks.size() - 1; i-- > 0;) {
    std::string part = std::to_string(chunks[i]);
    s.append(9 - part.size(), '0');
    s += part;
  }
  return s;
}

namespace {
// Two's complement of a magnitude (little-endian, one spare high byte), then the minimal form.
std::string signed_minimal(std::string mag, bool negative) {
  mag.push_back('\0');
  if (negative) {
    unsigned carry = 1;
    for (char& c : mag) {
      const unsigned v = (~static_cast<unsigned char>(c) & 0xffu) + carry;
      c = static_cast<char>(v & 0xff);
      carry = v >> 8;
    }
  }
  py_int r = int_from_le_bytes(mag);
  if (!r.raw.empty()) return r.raw;
  // Fits int64 (callers pass only values beyond it): its 8 bytes.
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((static_cast<std::uint64_t>(r.small) >> (8 * i)) & 0xff);
  return out;
}
}  // namespace

std::string le_bytes_from_decimal(std::string_view t) {
  const bool negative = !t.empty() && t.front() == '-';
  if (negative) t.remove_prefix(1);
  std::vector<std::uint32_t> limbs;  // magnitude, least significant first
  std::size_t i = 0;
  while (i < t.size()) {
    const std::size_t len = std::min<std::size_t>(9, t.size() - i);
    std::uint32_t chunk = 0, scale = 1;
    for (std::size_t j = 0; j < len; ++j, ++i) {
      chunk = chunk * 10 + static_cast<std::uint32_t>(t[i] - '0');
      scale *= 10;
    }
    std::uint64_t carry = chunk;
    for (auto& l : limbs) {
      const std::uint64_t v = std::uint64_t(l) * scale + carry;
      l = static_cast<std::uint32_t>(v);
      carry = v >> 32;
    }
    if (carry) limbs.push_back(static_cast<std::uint32_t>(carry));
  }
  std::string mag;
  mag.reserve(limbs.size() * 4);
  for (std::uint32_t l : limbs)
    for (int b = 0; b < 4; ++b) mag.push_back(static_cast<char>((l >> (8 * b)) & 0xff));
  return signed_minimal(std::move(mag), negative);
}

std::string le_bytes_from_integral_double(double d) {
  const bool negative = d < 0;
  int e = 0;
  const double m = std::frexp(std::fabs(d), &e);  // |d| = m * 2^e, 0.5 <= m < 1
  std::uint64_t mant = static_cast<std::uint64_t>(std::ldexp(m, 53));
  int shift = e - 53;  // |d| = mant * 2^shift
  while (shift < 0) { mant >>= 1; ++shift; }  // integral: the dropped bits are zero
  std::string mag(static_cast<std::size_t>(shift / 8) + 8, '\0');
  const std::uint64_t wide = mant << (shift % 8);  // at most 53 + 7 bits
  for (int b = 0; b < 8; ++b) mag[static_cast<std::size_t>(shift / 8) + static_cast<std::size_t>(b)] = static_cast<char>((wide >> (8 * b)) & 0xff);
  return signed_minimal(std::move(mag), negative);
}

bool int_from_decimal(std::string_view t, py_int& out) {
  std::string_view digits = t;
  const bool negative = !digits.empty() && digits.front() == '-';
  if (negative) digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 4300) return false;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  if (digits.size() > 1 && digits.front() == '0') return false;
  // "-0": pickle.py reads 0, _pickle's INT reads False ("-0" is not "00"); refused.
  if (negative && digits == "0") return false;
  out = py_int{};
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec == std::errc() && p == t.data() + t.size()) {
    out.small = v;
    return true;
  }
  out.decimal = (negative && digits != "0") ? std::string(t) : std::string(digits);
  return true;
}

bool float_from_text(std::string_view t, double& out) {
  if (t == "inf") { out = std::numeric_limits<double>::infinity(); return true; }
  if (t == "-inf") { out = -std::numeric_limits<double>::infinity(); return true; }
  if (t == "nan") { out = std::numeric_limits<double>::quiet_NaN(); return true; }
  if (t.empty() || t.size() > 400) return false;
  for (char c : t)
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) return false;
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out, std::chars_format::general);
  if (ec != std::errc() || p != t.data() + t.size()) return false;
  return std::isfinite(out);
}

}  // namespace pthsafe::detail
