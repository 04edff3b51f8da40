#include "pickle/text.hpp"

#include <cstdint>
#include <cstring>

namespace pthsafe::detail {

bool valid_utf8(std::string_view s, bool surrogatepass) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      // ASCII eight bytes at a time: dict keys and names are almost all ASCII (bench/NOTES.md 37).
      while (end - p >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        if (w & 0x8080808080808080ULL) break;
        p += 8;
      }
      continue;
    }
    int n;
    char32_t cp;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; cp = c & 0x07; }
    else return false;
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) return false;
    if (!surrogatepass && cp >= 0xd800 && cp <= 0xdfff) return false;
    p += n + 1;
  }
  return true;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

namespace {
int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool escape_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c != '\\') { out.push_back(c); continue; }
    if (++i == in.size()) return false;  // trailing backslash
    const char e = in[i];
    switch (e) {
      case '\n': break;
      case '\\': out.push_back('\\'); break;
      case '\'': out.push_back('\''); break;
      case '"': out.push_back('"'); break;
      case 'a': out.push_back('\a'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'v': out.push_back('\v'); break;
      case 'x': {
        if (i + 2 >= in.size()) return false;
        const int h = hexval(in[i + 1]);
        const int l = hexval(in[i + 2]);
        if (h < 0 || l < 0) return false;
        out.push_back(static_cast<char>(h * 16 + l));
        i += 2;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0';
          for (int k = 0; k < 2 && i + 1 < in.size() && in[i + 1] >= '0' && in[i + 1] <= '7'; ++k) v = v * 8 + (in[++i] - '0');
          // Values above 0o377 are deprecated and truncated differently across versions.
          if (v > 0377) return false;
          out.push_back(static_cast<char>(v));
        } else {
          out.push_back('\\');  // unknown escapes are kept verbatim
          out.push_back(e);
        }
    }
  }
  return true;
}

bool raw_unicode_escape_decode(std::string_view in, std::string& out) {
  out.clear();
  std::size_t i = 0;
  while (i < in.size()) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c != '\\') { append_utf8(out, c); ++i; continue; }
    // Only a backslash that ends an odd-length run of backslashes can start \u or \U.
    std::size_t run = 0;
    while (i + run < in.size() && in[i + run] == '\\') ++run;
    const std::size_t after = i + run;
    const bool escape = (run % 2 == 1) && after < in.size() && (in[after] == 'u' || in[after] == 'U');
    const std::size_t literal = escape ? run - 1 : run;
    for (std::size_t k = 0; k < literal; ++k) out.push_back('\\');
    i += literal;
    if (!escape) continue;
    const std::size_t digits = in[after] == 'u' ? 4 : 8;
    if (after + digits >= in.size()) return false;
    char32_t cp = 0;
    for (std::size_t k = 1; k <= digits; ++k) {
      const int h = hexval(in[after + k]);
      if (h < 0) return false;
      cp = cp * 16 + static_cast<char32_t>(h);
    }
    if (cp > 0x10ffff) return false;
    append_utf8(out, cp);
    i = after + digits + 1;
  }
  return true;
}

}  // namespace pthsafe::detail
