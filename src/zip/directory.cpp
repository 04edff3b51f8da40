#include "zip/directory.hpp"

#include <array>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "io/checked.hpp"
#include "io/cursor.hpp"
#include "io/find_bytes.hpp"
#include "util/try.hpp"
#include "zip/local_reads.hpp"

namespace pthsafe::detail {
namespace {

constexpr std::uint32_t sig_local = 0x04034b50, sig_central = 0x02014b50, sig_eocd = 0x06054b50,
                        sig_z64_eocd = 0x06064b50, sig_z64_loc = 0x07064b50;
constexpr std::uint64_t eocd_size = 22, z64_loc_size = 20, z64_eocd_min = 56;
constexpr std::uint16_t flag_encrypted = 0x0001, flag_strong_encryption = 0x0040,
                        flag_masked_header = 0x2000, flag_patched = 0x0020;

std::uint32_t load_u32(const std::byte* p) {
  std::uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;  // little-endian hosts only (checked in CMake)
}

error zerr(errc c, std::string msg, std::uint64_t off) { return make_error(c, std::move(msg), {}, off); }

// How far back from the end of the file any known reader looks for an end-of-central-directory
// signature: CPython's zipfile and libzip search the last 65,535 + 22 bytes; miniz (torch) reads
// 4 KiB blocks backwards and tests its 64 KiB limit only after each block, so it can look up to
// 4,096 bytes further.
constexpr std::uint64_t eocd_search_window = eocd_size + 0xffff + 4096;

std::uint16_t load_u16(const std::byte* p) {
  std::uint16_t v = 0;
  std::memcpy(&v, p, 2);
  return v;
}

// Chooses the end-of-central-directory record so that every reader chooses the same one:
//  * miniz (mz_zip_reader_locate_header_sig) takes the LAST signature with 22 bytes after it and
//    never looks at the comment length;
//  * CPython's zipfile (_EndRecData) takes the last 22 bytes when they are a signature with an
//    empty comment, else the LAST signature in the last 64 KiB (failing if it has no 22 bytes);
//  * libzip (and pthsafe before) take a signature whose comment ends exactly at the end of the
//    file; libzip weighs every such candidate and may prefer an earlier one.
// So the record must be the last signature in the file, its comment must end exactly at the end
// of the file, and no other signature in the searched tail may be a record a reader could take
// (22 bytes in the file and a comment that fits). A second archive hidden in the comment, the
// attack of issue "archives hidden in the zip comment", fails the first rule.
result<std::uint64_t> find_eocd(std::span<const std::byte> f) {
  const std::uint64_t n = f.size();
  if (n < eocd_size) return zerr(errc::zip_no_eocd, "file too short for an end-of-central-directory record", 0);
  const std::uint64_t lowest = n > eocd_search_window ? n - eocd_search_window : 0;
  // Every signature in the searched tail, ascending, 16 positions at a time (io/find_bytes.hpp):
  // a byte-by-byte loop over the 68 KiB took about a tenth of a large file's mmap ready time.
  std::vector<std::uint64_t> sigs;
  std::array<unsigned char, 4> needle{};
  std::memcpy(needle.data(), &sig_eocd, 4);  // "PK\5\6" on the little-endian hosts pthsafe builds on
  for_each_occurrence(f.subspan(static_cast<std::size_t>(lowest)), needle, [&](std::size_t at) { sigs.push_back(lowest + at); });
  std::uint64_t last_sig = n, last_full = n, chosen = n;  // n: none yet
  std::size_t below = 0;  // signatures below the chosen one: sigs[0, below)
  for (std::size_t i = sigs.size(); i-- > 0;) {
    const std::uint64_t at = sigs[i];
    if (last_sig == n) last_sig = at;
    if (at + eocd_size > n) continue;  // a truncated record: miniz skips it, zipfile fails on it
    if (last_full == n) last_full = at;
    if (at + eocd_size + load_u16(f.data() + at + 20) == n) {
      chosen = at;
      below = i;
      break;
    }
  }
  if (chosen == n) {
    if (last_full != n) return zerr(errc::zip_trailing_data, "bytes follow the end-of-central-directory record", n);
    return zerr(errc::zip_no_eocd, "no end-of-central-directory record", n);
  }
  if (last_sig != chosen)
    return zerr(errc::zip_eocd_in_comment,
                "an end-of-central-directory signature inside the archive comment: torch (miniz) and zipfile read the "
                "archive it ends, libzip the one before",
                last_sig);
  for (std::size_t i = below; i-- > 0;) {
    const std::uint64_t at = sigs[i];
    if (at + eocd_size > n) continue;
    if (at + eocd_size + load_u16(f.data() + at + 20) <= n)
      return zerr(errc::zip_ambiguous_eocd,
                  "a second end-of-central-directory record in the last 64 KiB: readers that weigh candidates may "
                  "choose it",
                  at);
  }
  return chosen;
}

}  // namespace

result<zip_directory> read_directory(std::span<const std::byte> f, const limits& lim) { return read_directory(f, lim, {}); }

result<zip_directory> read_directory(std::span<const std::byte> f, const limits& lim, const entry_visitor& each) {
  auto eocd_at = find_eocd(f);
  if (!eocd_at) return std::move(eocd_at).error_value();
  const std::uint64_t eocd = *eocd_at;
  cursor c(f, eocd + 4);
  std::uint16_t disk = 0, cd_disk = 0, n_disk = 0, n_total = 0, comment_len = 0;
  std::uint32_t cd_size32 = 0, cd_off32 = 0;
  c.u16(disk); c.u16(cd_disk); c.u16(n_disk); c.u16(n_total);
  c.u32(cd_size32); c.u32(cd_off32); c.u16(comment_len);
  if (disk != 0 || cd_disk != 0 || n_disk != n_total)
    return zerr(errc::zip_bad_eocd, "multi-disk archives are not supported", eocd);

  std::uint64_t count = n_total, cd_size = cd_size32, cd_off = cd_off32;
  std::uint64_t cd_end_expected = eocd;  // what must directly follow the central directory
  const bool has_locator = eocd >= z64_loc_size && load_u32(f.data() + eocd - z64_loc_size) == sig_z64_loc;
  if (has_locator) {
    cursor l(f, eocd - z64_loc_size + 4);
    std::uint32_t z_disk = 0, total_disks = 0;
    std::uint64_t z_off = 0;
    l.u32(z_disk); l.u64(z_off); l.u32(total_disks);
    // miniz requires exactly one disk; zipfile accepts 0 or 1.
    if (z_disk != 0 || total_disks != 1)
      return zerr(errc::zip_bad_eocd, "zip64 locator names another disk", eocd - z64_loc_size);
    if (!range_fits(z_off, z64_eocd_min, eocd - z64_loc_size) || load_u32(f.data() + z_off) != sig_z64_eocd)
      return zerr(errc::zip_bad_eocd, "zip64 locator does not point at a zip64 end record", eocd - z64_loc_size);
    cursor z(f, z_off + 4);
    std::uint64_t rec_size = 0, z_count_disk = 0, z_count = 0, z_cd_size = 0, z_cd_off = 0;
    std::uint16_t made_by = 0, needed = 0;
    std::uint32_t z_disk_no = 0, z_cd_disk = 0;
    z.u64(rec_size); z.u16(made_by); z.u16(needed); z.u32(z_disk_no); z.u32(z_cd_disk);
    z.u64(z_count_disk); z.u64(z_count); z.u64(z_cd_size); z.u64(z_cd_off);
    // miniz reads the zip64 end record where the locator points; zipfile (_EndRecData64) reads it
    // 56 bytes before the locator, assuming no extensible data. They agree only when the record
    // is exactly 56 bytes and ends at the locator (what torch writes).
    if (rec_size != z64_eocd_min - 12 || z_off + z64_eocd_min != eocd - z64_loc_size)
      return zerr(errc::zip_bad_eocd,
                  rec_size != z64_eocd_min - 12 ? "zip64 end record carries extensible data (zipfile and miniz would read "
                                                  "different records)"
                                                : "zip64 end record does not end at the locator",
                  z_off);
    if (z_disk_no != 0 || z_cd_disk != 0 || z_count_disk != z_count)
      return zerr(errc::zip_bad_eocd, "zip64 end record names another disk", z_off);
    // 32-bit fields are either the sentinel or must agree with the zip64 ones.
    if ((n_total != 0xffff && n_total != z_count) ||
        (cd_size32 != 0xffffffffu && cd_size32 != z_cd_size) ||
        (cd_off32 != 0xffffffffu && cd_off32 != z_cd_off))
      return zerr(errc::zip_bad_eocd, "zip64 end record disagrees with the end record", z_off);
    count = z_count;
    cd_size = z_cd_size;
    cd_off = z_cd_off;
    cd_end_expected = z_off;
  } else if (n_total == 0xffff || cd_size32 == 0xffffffffu || cd_off32 == 0xffffffffu) {
    return zerr(errc::zip_bad_eocd, "zip64 sentinel without a zip64 end record", eocd);
  }
  // The directory must sit directly before the end records: a gap could hide a second archive.
  if (cd_off > cd_end_expected || cd_end_expected - cd_off != cd_size)
    return zerr(errc::zip_bad_eocd, "central directory does not end where the end records begin", eocd);
  if (count > lim.max_zip_entries)
    return zerr(errc::zip_too_many_entries,
                "limit max_zip_entries (" + std::to_string(lim.max_zip_entries) + ") exceeded: " +
                    std::to_string(count) + " entries",
                eocd);
  // Each central header is at least 46 bytes: a count the directory cannot hold is a lie.
  if (count > cd_size / 46) return zerr(errc::zip_bad_eocd, "entry count exceeds what the directory can hold", eocd);
  // Entry indices are kept in 32 bits (storage_record::entry), whatever the limit allows (a
  // directory of 197 GB).
  if (count >= UINT32_MAX)
    return zerr(errc::zip_too_many_entries, std::to_string(count) + " entries: more than 2^32 - 2", eocd);

  zip_directory dir;
  dir.cd_offset = cd_off;
  dir.end_offset = f.size();
  if (!each) dir.entries.reserve(static_cast<std::size_t>(count));
  cursor d(f, cd_off);
  const std::uint64_t cd_end = cd_off + cd_size;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t at = d.pos();
    // Zero-initialised: the reads below are checked as a group, which gcc cannot follow.
    std::uint32_t sig = 0, crc = 0, csize32 = 0, usize32 = 0, ext_attr = 0, loc32 = 0;
    std::uint16_t made_by = 0, needed = 0, flags = 0, method = 0, mtime = 0, mdate = 0, name_len = 0, extra_len = 0,
                  comment_len2 = 0, disk_start = 0, int_attr = 0;
    if (cd_end - at < 46 || !d.u32(sig) || sig != sig_central)
      return zerr(errc::zip_bad_central_entry, "central directory entry " + std::to_string(i) + " is missing", at);
    d.u16(made_by); d.u16(needed); d.u16(flags); d.u16(method); d.u16(mtime); d.u16(mdate);
    d.u32(crc); d.u32(csize32); d.u32(usize32); d.u16(name_len); d.u16(extra_len);
    d.u16(comment_len2); d.u16(disk_start); d.u16(int_attr); d.u32(ext_attr); d.u32(loc32);
    const std::uint64_t var = std::uint64_t(name_len) + extra_len + comment_len2;
    if (cd_end - d.pos() < var)
      return zerr(errc::zip_bad_central_entry, "central directory entry " + std::to_string(i) + " overruns the directory", at);
    zip_entry e;
    std::string_view name;
    d.bytes(name_len, name);
    // name_data also locates the central header again (zip_entry::central_offset), so it is
    // the address 46 bytes past the header's start even for an empty name.
    e.name_data = reinterpret_cast<const char*>(f.data() + at + 46);
    e.name_size = name_len;
    e.flags = flags;
    e.method = method;
    e.dos_directory = (ext_attr & 0x10) != 0;
    e.crc = crc;
    e.comp_size = csize32;
    e.uncomp_size = usize32;
    e.local_offset = loc32;
    std::string_view extra;
    d.bytes(extra_len, extra);
    d.skip(comment_len2);
    // miniz (torch) refuses 0xffff even as a zip64 sentinel ("unsupported multidisk archive");
    // no writer puts an entry anywhere but disk 0.
    if (disk_start != 0) return zerr(errc::zip_bad_central_entry, "entry on another disk", at);
    // CPython's zipfile refuses to open an archive with any entry needing a version above 6.3
    // (the low byte; torch writes 0, or 45 with zip64), where torch and libzip read it.
    if ((needed & 0xff) > 63)
      return zerr(errc::zip_bad_central_entry,
                  "entry needs zip version " + std::to_string((needed & 0xff) / 10) + "." +
                      std::to_string((needed & 0xff) % 10) + ": CPython's zipfile refuses the archive, torch reads it",
                  at);
    // zip64 extra: only the fields whose 32-bit value is the sentinel are present, in order.
    const bool need_u = usize32 == 0xffffffffu, need_c = csize32 == 0xffffffffu, need_l = loc32 == 0xffffffffu;
    bool seen_z64 = false;
    cursor x(std::as_bytes(std::span(extra.data(), extra.size())));
    while (x.remaining() >= 4) {
      std::uint16_t id = 0, len = 0;  // remaining() >= 4 was checked: both reads succeed
      x.u16(id); x.u16(len);
      std::string_view body;
      if (!x.bytes(len, body)) return zerr(errc::zip_bad_central_entry, "extra field overruns its entry", at);
      if (id != 0x0001) continue;
      if (seen_z64) return zerr(errc::zip_bad_central_entry, "two zip64 extra fields", at);
      seen_z64 = true;
      cursor b(std::as_bytes(std::span(body.data(), body.size())));
      if ((need_u && !b.u64(e.uncomp_size)) || (need_c && !b.u64(e.comp_size)) ||
          (need_l && !b.u64(e.local_offset)))
        return zerr(errc::zip_bad_central_entry, "zip64 extra field is too short", at);
    }
    if (x.remaining() != 0) return zerr(errc::zip_bad_central_entry, "malformed extra field", at);
    if ((need_u || need_c || need_l) && !seen_z64)
      return zerr(errc::zip_bad_central_entry, "zip64 sentinel without zip64 extra field", at);
    if (each) {
      PTHSAFE_TRY(each(static_cast<std::size_t>(i), e));
    } else {
      dir.entries.push_back(e);
    }
  }
  if (d.pos() != cd_end) return zerr(errc::zip_bad_eocd, "central directory holds more bytes than its entries", d.pos());
  return dir;
}

result<void> check_local_headers(std::span<const std::byte> f, zip_directory& dir, const page_release& release,
                                 local_reads* shared, const std::function<void(const zip_entry&)>& also) {
  release_behind behind(f, release);
  local_reads mapped(f, nullptr);
  local_reads& reads = shared ? *shared : mapped;
  for (auto& e : dir.entries) {
    behind.passed(e.local_offset);
    if (e.flags & (flag_encrypted | flag_strong_encryption | flag_masked_header | flag_patched))
      return make_error(errc::zip_unsupported_flags, "encrypted, patched or masked entry (flags 0x" +
                        [&] { std::array<char, 8> b{}; std::snprintf(b.data(), b.size(), "%04x", e.flags); return std::string(b.data()); }() + ")",
                        std::string(e.name()), e.central_offset(f));
    if (e.method != 0 && e.method != 8)
      return make_error(errc::zip_unsupported_method, "compression method " + std::to_string(e.method), std::string(e.name()), e.central_offset(f));
    if (e.method == 0 && e.comp_size != e.uncomp_size)
      return make_error(errc::zip_bad_central_entry, "stored entry with different compressed and uncompressed sizes", std::string(e.name()), e.central_offset(f));
    if (!range_fits(e.local_offset, 30, dir.cd_offset))
      return make_error(errc::zip_out_of_bounds, "local header outside the file's record area", std::string(e.name()), e.local_offset);
    // The 30 fixed bytes (inside the record area, checked above), then the name and extra field
    // as far as the file goes: what a cursor over the whole file would read.
    cursor c(reads.bytes(e.local_offset, 30));
    std::uint32_t sig = 0, crc = 0, csize = 0, usize = 0;
    std::uint16_t needed = 0, flags = 0, method = 0, mtime = 0, mdate = 0, name_len = 0, extra_len = 0;
    c.u32(sig); c.u16(needed); c.u16(flags); c.u16(method); c.u16(mtime); c.u16(mdate);
    c.u32(crc); c.u32(csize); c.u32(usize); c.u16(name_len); c.u16(extra_len);
    if (sig != sig_local) return make_error(errc::zip_local_header, "no local header signature", std::string(e.name()), e.local_offset);
    cursor rest(reads.bytes(e.local_offset + 30, std::uint64_t{name_len} + extra_len));
    std::string_view lname;
    if (!rest.bytes(name_len, lname) || lname != e.name())
      return make_error(errc::zip_local_header, "local header names a different file", std::string(e.name()), e.local_offset);
    if (method != e.method || flags != e.flags)
      return make_error(errc::zip_local_header, "local header method or flags differ from the central directory", std::string(e.name()), e.local_offset);
    // With a data descriptor (bit 3) the local CRC/sizes may be zero; otherwise they must agree
    // (or be zip64 sentinels).
    const bool descriptor = (flags & 0x0008) != 0;
    const bool zeros = crc == 0 && csize == 0 && usize == 0;
    if (!(descriptor && zeros)) {
      const bool sizes_ok = (csize == 0xffffffffu || csize == e.comp_size) && (usize == 0xffffffffu || usize == e.uncomp_size);
      if (crc != e.crc || !sizes_ok)
        return make_error(errc::zip_local_header, "local header CRC or sizes differ from the central directory", std::string(e.name()), e.local_offset);
    }
    if (!rest.skip(extra_len)) return make_error(errc::zip_out_of_bounds, "local header overruns the file", std::string(e.name()), e.local_offset);
    e.data_skip = static_cast<std::uint32_t>(30 + rest.pos());  // < 30 + 2 * 65,536
    if (!range_fits(e.data_offset(), e.comp_size, dir.cd_offset))
      return make_error(errc::zip_out_of_bounds, "record data reaches past the start of the central directory", std::string(e.name()), e.data_offset());
    if (also) also(e);
  }
  // Records must not share bytes: sort by local offset and compare neighbours.
  std::vector<const zip_entry*> order;
  order.reserve(dir.entries.size());
  for (const auto& e : dir.entries) order.push_back(&e);
  // Writers list records in file order: sorting 100,000 that already are cost 4 % of a load.
  const auto by_offset = [](auto* a, auto* b) { return a->local_offset < b->local_offset; };
  if (!std::is_sorted(order.begin(), order.end(), by_offset)) std::sort(order.begin(), order.end(), by_offset);
  // Between records only a data descriptor may sit, after a record that announces one (bit 3),
  // and it must repeat the directory's CRC and sizes: optional signature PK\7\8, CRC, then both
  // sizes in 4 bytes (12/16 bytes) or 8 bytes (20/24). Any other gap could hide a record that a
  // reader walking local headers would find and the directory does not list, and a descriptor
  // that lies gives a streaming reader other sizes than the directory.
  auto descriptor_ok = [&](const zip_entry& prev, std::uint64_t at, std::uint64_t gap) {
    if (gap == 0) return true;
    if ((prev.flags & 0x0008) == 0 || (gap != 12 && gap != 16 && gap != 20 && gap != 24)) return false;
    cursor c(reads.bytes(at, gap));
    std::uint32_t sig = 0, crc = 0;
    if (gap == 16 || gap == 24) c.u32(sig);
    if ((gap == 16 || gap == 24) && sig != 0x08074b50) return false;
    c.u32(crc);
    std::uint64_t csize = 0, usize = 0;
    if (gap <= 16) {
      std::uint32_t c32 = 0, u32 = 0;
      c.u32(c32);
      c.u32(u32);
      csize = c32;
      usize = u32;
    } else {
      c.u64(csize);
      c.u64(usize);
    }
    return crc == prev.crc && csize == prev.comp_size && usize == prev.uncomp_size;
  };
  // torch's writer follows every record with a descriptor: reading them is a second walk over
  // the record area, which hands its pages back in turn.
  release_behind descriptors(f, release);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const zip_entry& prev = *order[i];
    const std::uint64_t end = prev.data_offset() + prev.comp_size;
    descriptors.passed(end);
    const std::uint64_t next = i + 1 < order.size() ? order[i + 1]->local_offset : dir.cd_offset;
    if (end > next)
      return make_error(errc::zip_overlap, "record overlaps " + std::string(prev.name()),
                        i + 1 < order.size() ? std::string(order[i + 1]->name()) : std::string(), next);
    const std::uint64_t gap = next - end;
    if (!descriptor_ok(prev, end, gap)) {
      const bool descriptor_shaped = (prev.flags & 0x0008) != 0 && (gap == 12 || gap == 16 || gap == 20 || gap == 24);
      if (descriptor_shaped)
        return make_error(errc::zip_local_header, "data descriptor disagrees with the central directory",
                          std::string(prev.name()), end);
      return make_error(errc::zip_gap, std::to_string(gap) + " unaccounted bytes after the record", std::string(prev.name()),
                        end);
    }
  }
  if (!order.empty() && order.front()->local_offset != 0)
    return make_error(errc::zip_bad_eocd, "bytes precede the first record", {}, 0);
  return {};
}

std::optional<std::span<const std::byte>> unchecked_stored_bytes(std::span<const std::byte> f, const zip_directory& dir,
                                                                 const zip_entry& e) noexcept {
  if (e.method != 0 || dir.cd_offset > f.size() || !range_fits(e.local_offset, 30, dir.cd_offset)) return std::nullopt;
  const std::byte* h = f.data() + e.local_offset;
  if (load_u32(h) != sig_local) return std::nullopt;
  const std::uint64_t data = e.local_offset + 30 + load_u16(h + 26) + load_u16(h + 28);
  if (!range_fits(data, e.comp_size, dir.cd_offset)) return std::nullopt;
  return f.subspan(static_cast<std::size_t>(data), static_cast<std::size_t>(e.comp_size));
}

}  // namespace pthsafe::detail
