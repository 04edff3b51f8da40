#include "zip/libzip_parity.hpp"

#include <cstdint>
#include <string>
#include <string_view>

#include "io/cursor.hpp"
#include "util/try.hpp"
#include "zip/local_reads.hpp"

namespace pthsafe::detail {
namespace {

constexpr std::uint16_t ef_zip64 = 0x0001, ef_utf8_name = 0x7075, ef_utf8_comment = 0x6375;

// libzip's _zip_guess_encoding reads 0x20..0x7e as ASCII and keeps such a name as it is; any other
// byte starts UTF-8 or CP437 guessing, and a CP437 name is converted before libzip hashes it (two
// different names can then collide), so only these names are decided here.
bool printable_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

enum class extra_verdict { plain, ask_libzip, refused };

// libzip's _zip_ef_parse: fields of (id, length, body) that must fit; 1-3 trailing bytes are
// allowed when they are zero (APK alignment padding), anything else is ZIP_ER_INCONS. A Unicode
// path or comment field makes libzip replace the name it compares and reports (when its CRC
// matches): left to libzip. `zip64_len` receives the length of the first zip64 field (libzip
// reads the first one), or stays 0xffffffff when there is none.
extra_verdict parse_extra(std::string_view ef, std::uint32_t& zip64_len) {
  cursor x(std::as_bytes(std::span(ef.data(), ef.size())));
  bool utf8 = false;
  while (x.remaining() >= 4) {
    std::uint16_t id = 0, len = 0;
    x.u16(id);
    x.u16(len);
    if (!x.skip(len)) return extra_verdict::refused;
    if (id == ef_utf8_name || id == ef_utf8_comment) utf8 = true;
    if (id == ef_zip64 && zip64_len == 0xffffffffu) zip64_len = len;
  }
  for (std::uint64_t at = x.pos(); at < ef.size(); ++at)
    if (ef[static_cast<std::size_t>(at)] != '\0') return extra_verdict::refused;
  return utf8 ? extra_verdict::ask_libzip : extra_verdict::plain;
}

error rejected(const zip_entry& e, std::string msg, std::uint64_t off) {
  return make_error(errc::zip_libzip_rejected, "libzip (the parser of record) refuses this archive: " + std::move(msg),
                    std::string(e.name()), off);
}

// Padded by insert: gcc 12 at -O3 warns (-Wrestrict, falsely) about const char* + std::string.
std::string two_digits(int v) {
  std::string s = std::to_string(v);
  if (v < 10) s.insert(s.begin(), '0');
  return s;
}

// The stamp's fields as stored (not normalised): what a reader of the header sees.
std::string describe(dos_stamp s) {
  return std::to_string(((s.date >> 9) & 127) + 1980) + "-" + two_digits((s.date >> 5) & 15) + "-" + two_digits(s.date & 31) +
         " " + two_digits((s.time >> 11) & 31) + ":" + two_digits((s.time >> 5) & 63) + ":" + two_digits((s.time << 1) & 62);
}

}  // namespace

bool libzip_plain_ends(std::span<const std::byte> f) {
  // An archive comment moves the end record away from the end of the file, where libzip's search
  // buffer (the last 64 KiB) starts 20 bytes in: left to libzip.
  if (f.size() < 22) return false;
  cursor t(f, f.size() - 2);
  std::uint16_t comment_len = 1;
  t.u16(comment_len);
  return comment_len == 0;
}

result<bool> libzip_plain_entry(std::span<const std::byte> f, const zip_entry& e, local_reads& reads) {
  if (e.method != 0 || !printable_ascii(e.name())) return false;
  // The central header again (the strict walk keeps only what the load needs); its bounds were
  // checked by read_directory.
  cursor c(f, e.central_offset(f) + 6);
  std::uint16_t c_needed = 0, c_mtime = 0, c_mdate = 0, name_len = 0, extra_len = 0, comment_len = 0, disk = 0;
  std::uint32_t c_csize = 0, c_usize = 0, c_local = 0;
  c.u16(c_needed);
  c.skip(4);  // flags, method
  c.u16(c_mtime); c.u16(c_mdate);
  c.skip(4);  // crc
  c.u32(c_csize); c.u32(c_usize); c.u16(name_len); c.u16(extra_len); c.u16(comment_len); c.u16(disk);
  c.skip(6);  // internal and external attributes
  c.u32(c_local);
  std::string_view c_extra;
  if (!c.skip(name_len) || !c.bytes(extra_len, c_extra)) return false;
  // A comment is checked as UTF-8 when flag bit 11 is set; a disk number of 0xffff is read from
  // the zip64 field: both left to libzip.
  if (comment_len != 0 || disk != 0) return false;
  std::uint32_t c_z64 = 0xffffffffu;
  if (parse_extra(c_extra, c_z64) != extra_verdict::plain) return false;
  // libzip refuses a zip64 field longer than the sentinels it replaces unless it is exactly
  // 24 or 28 bytes and repeats the values; the strict walk reads only what it needs. Decided
  // here only when the field is exactly as long as the sentinels need.
  const std::uint32_t sentinels = (c_usize == 0xffffffffu) + (c_csize == 0xffffffffu) + (c_local == 0xffffffffu);
  if (sentinels != 0 && c_z64 != 8 * sentinels) return false;

  // The local header: its bounds, signature, name, flags, method, CRC and sizes were checked by
  // check_local_headers.
  cursor l(reads.bytes(e.local_offset + 4, 26));
  std::uint16_t l_needed = 0, l_mtime = 0, l_mdate = 0, l_name_len = 0, l_extra_len = 0;
  std::uint32_t l_csize = 0, l_usize = 0;
  l.u16(l_needed);
  l.skip(4);  // flags, method
  l.u16(l_mtime); l.u16(l_mdate);
  l.skip(4);  // crc
  l.u32(l_csize); l.u32(l_usize); l.u16(l_name_len); l.u16(l_extra_len);
  // The name and extra field as far as the file goes (what a cursor over the file would read);
  // l_extra views the read buffer until the next read.
  cursor rest(reads.bytes(e.local_offset + 30, std::uint64_t{l_name_len} + l_extra_len));
  std::string_view l_extra;
  if (!rest.skip(l_name_len) || !rest.bytes(l_extra_len, l_extra)) return false;
  // libzip's _zip_headercomp.
  if (l_needed > c_needed)
    return rejected(e, "local header needs version " + std::to_string(l_needed) + ", the central directory " +
                           std::to_string(c_needed), e.local_offset);
  // libzip compares the times after mktime, which maps some different DOS times to one
  // instant: equal bytes are equal for libzip, anything else is left to it.
  if (l_mtime != c_mtime || l_mdate != c_mdate) return false;
  // zip64 sizes in a local header come from its zip64 field, which the strict walk does not
  // read (it accepts the sentinel): left to libzip.
  if (l_csize == 0xffffffffu || l_usize == 0xffffffffu) return false;
  std::uint32_t l_z64 = 0xffffffffu;
  switch (parse_extra(l_extra, l_z64)) {
    case extra_verdict::plain: break;
    case extra_verdict::ask_libzip: return false;
    case extra_verdict::refused: return rejected(e, "malformed local extra field", e.local_offset + 30 + l_name_len);
  }
  return true;
}

result<bool> decided_without_libzip(std::span<const std::byte> f, const zip_directory& dir, const page_release& release,
                                    local_reads* shared) {
  release_behind behind(f, release);
  local_reads mapped(f, nullptr);
  local_reads& reads = shared ? *shared : mapped;
  if (!libzip_plain_ends(f)) return false;
  for (const zip_entry& e : dir.entries) {
    behind.passed(e.local_offset);
    PTHSAFE_ASSIGN(const bool plain, libzip_plain_entry(f, e, reads));
    if (!plain) return false;
  }
  return true;
}

}  // namespace pthsafe::detail

namespace pthsafe::detail {

result<void> libzip_times_stable(std::span<const std::byte> f, const zip_entry& e, local_reads& reads,
                                 stable_clock_times& zone) {
  dos_stamp central, local;
  cursor c(f, e.central_offset(f) + 12);
  c.u16(central.time); c.u16(central.date);
  cursor l(reads.bytes(e.local_offset + 10, 4));
  l.u16(local.time); l.u16(local.date);
  const auto check = [&](dos_stamp s, const char* where, std::uint64_t off) -> result<void> {
    if (zone.stable(s)) return {};
    return rejected(e, std::string("the ") + where + " modification time " + describe(s) +
                           " occurs twice or never in this process's time zone, where libzip's consistency check "
                           "gives no stable answer (TZ=UTC decides it)",
                    off);
  };
  PTHSAFE_TRY(check(central, "central", e.central_offset(f) + 12));
  return check(local, "local", e.local_offset + 10);
}

std::optional<error> first_unstable_time(std::span<const std::byte> f, const zip_directory& dir, const page_release& release,
                                         local_reads& reads) {
  release_behind behind(f, release);
  stable_clock_times zone;
  for (const zip_entry& e : dir.entries) {
    behind.passed(e.local_offset);
    if (auto r = libzip_times_stable(f, e, reads, zone); !r) return std::move(r).error_value();
  }
  return std::nullopt;
}

}  // namespace pthsafe::detail
