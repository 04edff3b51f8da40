#include "load/tar_probe.hpp"

#include <cstdint>
#include <cstring>

namespace pthsafe::detail {
namespace {

constexpr std::size_t block = 512;

// Characters str.strip() and int() treat as whitespace in the ASCII range.
bool py_space(unsigned char c) { return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) || c == ' '; }

// Parses Python's int(text, 8) after strip(): sign, optional 0o/0O prefix (then at most one
// underscore), octal digits with single underscores between them. False where int() raises.
bool py_octal(const unsigned char* s, std::size_t n, std::int64_t& out) {
  while (n > 0 && py_space(s[0])) ++s, --n;
  while (n > 0 && py_space(s[n - 1])) --n;
  if (n == 0) {  // nti: int(s.strip() or "0", 8)
    out = 0;
    return true;
  }
  std::size_t i = 0;
  bool negative = false;
  if (s[i] == '+' || s[i] == '-') negative = s[i++] == '-';
  bool underscore_ok = false;  // an underscore may follow a digit, or the 0o prefix
  if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'o' || s[i + 1] == 'O')) {
    i += 2;
    underscore_ok = true;
  }
  std::int64_t v = 0;
  bool digits = false;
  for (; i < n; ++i) {
    const unsigned char c = s[i];
    if (c == '_') {
      if (!underscore_ok || i + 1 == n) return false;
      underscore_ok = false;
      continue;
    }
    if (c < '0' || c > '7') return false;
    if (v < (std::int64_t{1} << 40)) v = v * 8 + (c - '0');  // saturates far above any checksum
    digits = true;
    underscore_ok = true;
  }
  if (!digits) return false;
  out = negative ? -v : v;
  return true;
}

// tarfile.nti: base-256 when the first byte is 0o200 or 0o377, else a NUL-terminated ASCII
// octal string. `out` is exact for fields of at most 8 bytes (the checksum); longer base-256
// fields are only validated.
bool nti(const unsigned char* s, std::size_t n, std::int64_t& out) {
  if (s[0] == 0x80 || s[0] == 0xff) {
    std::int64_t v = 0;
    if (n <= 8) {
      for (std::size_t i = 1; i < n; ++i) v = v * 256 + s[i];
      if (s[0] == 0xff) v = -((std::int64_t{1} << (8 * (n - 1))) - v);
    }
    out = v;
    return true;
  }
  const void* nul = std::memchr(s, 0, n);
  const std::size_t len = nul ? static_cast<std::size_t>(static_cast<const unsigned char*>(nul) - s) : n;
  for (std::size_t i = 0; i < len; ++i)
    if (s[i] >= 0x80) return false;  // nts(..., "ascii", "strict") raises
  return py_octal(s, len, out);
}

bool field_ok(const unsigned char* b, std::size_t at, std::size_t n) {
  std::int64_t ignored = 0;
  return nti(b + at, n, ignored);
}

}  // namespace

bool tarfile_would_open(std::span<const std::byte> file) noexcept {
  if (file.size() < block) return false;  // TruncatedHeaderError / EmptyHeaderError at offset 0
  const auto* b = reinterpret_cast<const unsigned char*>(file.data());
  bool all_nul = true;
  for (std::size_t i = 0; i < block && all_nul; ++i) all_nul = b[i] == 0;
  if (all_nul) return true;  // EOFHeaderError at offset 0 is swallowed: an empty archive opens
  std::int64_t chksum = 0;
  if (!nti(b + 148, 8, chksum)) return false;
  std::int64_t unsigned_sum = 256, signed_sum = 256;
  for (std::size_t i = 0; i < block; ++i) {
    if (i == 148) i = 156;
    unsigned_sum += b[i];
    signed_sum += static_cast<std::int8_t>(b[i]);
  }
  if (chksum != unsigned_sum && chksum != signed_sum) return false;
  // frombuf's numeric fields: mode, uid, gid, size, mtime, devmajor, devminor.
  static constexpr std::size_t fields[][2] = {{100, 8}, {108, 8}, {116, 8}, {124, 12}, {136, 12}, {329, 8}, {337, 8}};
  for (const auto& f : fields)
    if (!field_ok(b, f[0], f[1])) return false;
  if (b[156] == 'S') {  // old GNU sparse: four (offset, numbytes) pairs and the original size
    for (std::size_t at = 386; at < 386 + 4 * 24; at += 12)
      if (!field_ok(b, at, 12)) return false;
    if (!field_ok(b, 483, 12)) return false;
  }
  return true;
}

bool has_ustar_magic(std::span<const std::byte> file) noexcept {
  return file.size() >= 262 && std::memcmp(file.data() + 257, "ustar", 5) == 0;
}

}  // namespace pthsafe::detail
