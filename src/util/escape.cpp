#include "util/escape.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace pthsafe::detail {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void append_hex(std::string& out, std::uint32_t v, int digits) {
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out.push_back(hex_digits[(v >> shift) & 0xfu]);
}

}  // namespace

utf8_unit next_utf8(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  const utf8_unit bad{c, 1, false};
  if (c < 0x80) return {c, 1, true};
  int n;
  char32_t cp;
  // The second byte's range is what excludes overlong forms (E0 80..9F, F0 80..8F) and code
  // points above U+10FFFF (F4 90..BF); C0, C1 and F5..FF never start a sequence.
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1fu; }
  else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0fu; if (c == 0xe0) lo = 0xa0; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07u; if (c == 0xf0) lo = 0x90; if (c == 0xf4) hi = 0x8f; }
  else return bad;
  if (s.size() - i <= static_cast<std::size_t>(n)) return bad;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return bad;
  for (int k = 1; k <= n; ++k) {
    const unsigned char t = byte(i + static_cast<std::size_t>(k));
    if ((t & 0xc0u) != 0x80u) return bad;
    cp = (cp << 6) | (t & 0x3fu);
  }
  return {cp, static_cast<std::uint8_t>(n + 1), true};
}

bool escaped_code_point(char32_t cp) noexcept {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || (cp >= 0xd800 && cp <= 0xdfff);
}

void append_text_escaped(std::string& out, std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const utf8_unit u = next_utf8(s, i);
    if (!u.valid || (u.cp < 0x20 || u.cp == 0x7f)) {
      out += "\\x";
      append_hex(out, u.cp, 2);
    } else if (u.cp == '\\') {
      out += "\\\\";
    } else if (escaped_code_point(u.cp)) {
      out += "\\u";
      append_hex(out, u.cp, 4);
    } else {
      out.append(s.substr(i, u.len));
    }
    i += u.len;
  }
}

std::string text_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_text_escaped(out, s);
  return out;
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const utf8_unit u = next_utf8(s, i);
    if (!u.valid) {
      out += "\\udc";
      append_hex(out, u.cp, 2);
    } else if (u.cp == '"' || u.cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(u.cp));
    } else if (escaped_code_point(u.cp)) {
      switch (u.cp) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default: out += "\\u"; append_hex(out, u.cp, 4);
      }
    } else {
      out.append(s.substr(i, u.len));
    }
    i += u.len;
  }
  out.push_back('"');
}

std::size_t utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept {
  if (s.size() <= max_bytes) return s.size();
  std::size_t i = 0;
  while (i < max_bytes) {
    const utf8_unit u = next_utf8(s, i);
    if (i + u.len > max_bytes) break;
    i += u.len;
  }
  return i;
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) { out += "nan"; return; }
  if (std::isinf(v)) { out += v > 0 ? "inf" : "-inf"; return; }
  std::array<char, 32> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  const std::string_view text(buf.data(), static_cast<std::size_t>(r.ptr - buf.data()));
  out += text;
  if (text.find_first_of(".en") == std::string_view::npos) out += ".0";
}

}  // namespace pthsafe::detail
