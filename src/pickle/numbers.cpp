#include "pickle/numbers.hpp"

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
