#include "scan/zip_sweep.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "io/checked.hpp"
#include "io/cursor.hpp"
#include "zip/directory.hpp"
#include "util/keyed_hash.hpp"

namespace pthsafe::detail {
namespace {

constexpr std::uint64_t scan_inflate_cap = std::uint64_t{64} << 20;

bool sig_at(std::span<const std::byte> f, std::uint64_t at, std::string_view sig) {
  return at + 4 <= f.size() && std::memcmp(f.data() + at, sig.data(), 4) == 0;
}

bool inflate_raw(std::span<const std::byte> in, std::uint64_t declared, const limits& lim, std::vector<std::byte>& out) {
  const std::uint64_t cap = std::min({lim.max_inflated_bytes, scan_inflate_cap,
                                      static_cast<std::uint64_t>(in.size()) * lim.max_compression_ratio + 4096});
  if (declared > cap) return false;
  out.resize(static_cast<std::size_t>(declared ? declared : std::min<std::uint64_t>(cap, 1 << 20)));
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = static_cast<uInt>(std::min<std::uint64_t>(in.size(), UINT32_MAX));
  std::uint64_t done = 0;
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (done == out.size()) {
      if (declared || out.size() >= cap) break;
      out.resize(static_cast<std::size_t>(std::min<std::uint64_t>(cap, out.size() * 2)));
    }
    z.next_out = reinterpret_cast<Bytef*>(out.data() + done);
    z.avail_out = static_cast<uInt>(std::min<std::uint64_t>(out.size() - done, UINT32_MAX));
    const uInt before = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    done += before - z.avail_out;
  }
  inflateEnd(&z);
  out.resize(static_cast<std::size_t>(done));
  return rc == Z_STREAM_END || rc == Z_OK || rc == Z_BUF_ERROR;
}

// Reads the local header at `at`; fills the record when its data lies in the file.
bool read_local(std::span<const std::byte> f, std::uint64_t at, std::uint64_t comp_size, bool size_known,
                const limits& lim, loose_record& r) {
  if (!sig_at(f, at, "PK\3\4") || !range_fits(at, 30, f.size())) return false;
  cursor c(f, at + 4);
  std::uint16_t needed = 0, flags = 0, method = 0, t = 0, d = 0, name_len = 0, extra_len = 0;
  std::uint32_t crc = 0, csize = 0, usize = 0;
  c.u16(needed); c.u16(flags); c.u16(method); c.u16(t); c.u16(d); c.u32(crc); c.u32(csize); c.u32(usize);
  c.u16(name_len); c.u16(extra_len);
  std::string_view name;
  if (!c.bytes(name_len, name) || !c.skip(extra_len)) return false;
  const std::uint64_t data = c.pos();
  std::uint64_t len = size_known ? comp_size : csize;
  std::uint64_t declared = size_known ? 0 : usize;
  if (!size_known && ((flags & 0x8) || csize == 0xffffffffu)) {
    // Size unknown from the header: the data runs to the next signature.
    std::uint64_t next = data;
    while (next + 4 <= f.size() && !sig_at(f, next, "PK\7\10") && !sig_at(f, next, "PK\3\4") && !sig_at(f, next, "PK\1\2"))
      ++next;
    len = next - data;
    declared = 0;
  }
  if (!range_fits(data, len, f.size())) return false;
  if (!size_known) r.name = name;  // else the caller sets the central name
  r.offset = data;
  const auto raw = f.subspan(data, len);
  if (method == 0) {
    r.bytes = raw;
  } else if (method == 8) {
    if (!inflate_raw(raw, declared, lim, r.inflated)) return false;
    r.bytes = r.inflated;
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::uint64_t end_of_zip(std::span<const std::byte> f) {
  if (f.size() < 22) return 0;
  const std::uint64_t lowest = f.size() > 22 + 0xffff + 4096 ? f.size() - 22 - 0xffff - 4096 : 0;
  for (std::uint64_t at = f.size() - 22 + 1; at-- > lowest;) {
    if (!sig_at(f, at, "PK\5\6")) continue;
    std::uint16_t comment;
    std::memcpy(&comment, f.data() + at + 20, 2);
    return std::min<std::uint64_t>(at + 22 + comment, f.size());
  }
  return 0;
}

std::vector<loose_record> enumerate_records(std::span<const std::byte> f, const limits& lim, bool sweep,
                                            const page_release& release) {
  std::vector<loose_record> out;
  std::unordered_set<std::uint64_t, keyed_u64_hash> seen;
  limits relaxed = lim;
  if (auto dir = read_directory(f, relaxed)) {
    out.reserve(dir->entries.size());
    release_behind behind(f, release);
    for (std::size_t i = 0; i < dir->entries.size(); ++i) {
      const auto& e = dir->entries[i];
      behind.passed(e.local_offset);
      loose_record r;
      if (!read_local(f, e.local_offset, e.comp_size, true, lim, r)) continue;
      r.name = e.name();  // the central name is what directory readers use
      r.from_directory = true;
      r.entry = i;
      if (sweep) seen.insert(r.offset);  // only the sweep below asks
      out.push_back(std::move(r));
    }
  }
  if (!sweep) return out;
  const char* base = reinterpret_cast<const char*>(f.data());
  std::uint64_t at = 0;
  while (at + 4 <= f.size()) {
    const void* hit = memmem(base + at, static_cast<std::size_t>(f.size() - at), "PK\3\4", 4);
    if (!hit) break;
    const auto pos = static_cast<std::uint64_t>(static_cast<const char*>(hit) - base);
    loose_record r;
    if (read_local(f, pos, 0, false, lim, r) && !seen.count(r.offset)) {
      seen.insert(r.offset);
      out.push_back(std::move(r));
    }
    at = pos + 4;
    if (out.size() > lim.max_zip_entries) break;
  }
  return out;
}

}  // namespace pthsafe::detail
