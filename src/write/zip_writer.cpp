#include "write/zip_writer.hpp"

#include "util/crc32.hpp"
#include "util/try.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <future>
#include <system_error>
#include <unordered_set>
#include <utility>

namespace pthsafe::detail {
namespace {

constexpr std::uint64_t alignment = 64;
constexpr std::uint64_t u32_max = 0xffffffffu;
constexpr std::size_t local_header_size = 30;

void put16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>(v & 0xffu));
  s.push_back(static_cast<char>((v >> 8) & 0xffu));
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffffu);
  put16(s, v >> 16);
}
void put64(std::string& s, std::uint64_t v) {
  put32(s, static_cast<std::uint32_t>(v & u32_max));
  put32(s, static_cast<std::uint32_t>(v >> 32));
}

// torch's c10::hash_combine (Boost's formula), which the serialization id folds with.
std::uint64_t hash_combine(std::uint64_t seed, std::uint64_t v) {
  return seed ^ (v + 0x9e3779b9u + (seed << 6u) + (seed >> 2u));
}

// The zip64 extended-information field miniz puts in a header whose size or offset passes
// 4 GiB: the sizes (uncompressed, then compressed) when the size does, the offset when it does.
// In a local header miniz writes the uncompressed size and a zero compressed size (known only
// once the data is written: it follows in the data descriptor); the central directory has both.
std::string zip64_extra(std::uint64_t size, std::uint64_t offset, bool local = false) {
  std::string x;
  const bool big = size >= u32_max, far = offset >= u32_max;
  if (!big && !far) return x;
  put16(x, 0x0001);
  put16(x, (big ? 16u : 0u) + (far ? 8u : 0u));
  if (big) {
    put64(x, size);
    put64(x, local ? 0 : size);
  }
  if (far) put64(x, offset);
  return x;
}

}  // namespace

std::uint64_t zip_writer::planned_size(std::string_view archive,
                                      std::span<const std::pair<std::string, std::uint64_t>> records) {
  std::uint64_t pos = 0, central = 0;
  const auto one = [&](std::size_t name_size, std::uint64_t size) {
    const std::uint64_t full = archive.size() + 1 + name_size;
    const std::uint64_t z64 = zip64_extra(size, pos).size();
    const std::uint64_t start = pos + local_header_size + full + z64 + 4;
    const std::uint64_t pad = (alignment - start % alignment) % alignment;
    central += 46 + full + z64;
    pos = start + pad + size + (size == 0 ? 0 : z64 == 0 ? 16 : 24);
  };
  for (const auto& r : records) one(r.first.size(), r.second);
  one(std::string_view(".data/serialization_id").size(), 40);
  return pos + central + 56 + 20 + 22;
}

zip_writer::zip_writer(byte_sink sink, std::string archive_name)
    : sink_(std::move(sink)), archive_(std::move(archive_name)) {}

result<void> zip_writer::emit(std::span<const std::byte> bytes) {
  if (bytes.empty()) return {};
  if (!sink_(bytes)) return make_error(errc::io_write, "the output refused a write", "", pos_);
  pos_ += bytes.size();
  return {};
}

result<void> zip_writer::emit(const std::string& bytes) {
  return emit(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
}

result<void> zip_writer::add(std::string_view name, std::span<const std::span<const std::byte>> pieces) {
  entry e;
  e.name = archive_ + "/" + std::string(name);
  e.offset = pos_;
  for (const auto& p : pieces) e.size += p.size();

  const std::string z64 = zip64_extra(e.size, e.offset, true);
  // Data starts after the header, the name, the zip64 field and the 4-byte "FB" field header.
  const std::uint64_t start = e.offset + local_header_size + e.name.size() + z64.size() + 4;
  const std::uint64_t pad = (alignment - start % alignment) % alignment;

  // miniz writes an empty record without a data descriptor (and torch then folds no CRC of it
  // into the serialization id).
  const bool descriptor = e.size != 0;
  e.flags = descriptor ? 0x0808 : 0x0800;
  std::string h;
  put32(h, 0x04034b50u);
  put16(h, 0);        // version needed: miniz writes 0 for stored records
  put16(h, e.flags);  // data descriptor follows (non-empty records); UTF-8 name
  put16(h, 0);       // stored
  put32(h, 0);       // DOS time and date: zero, as torch writes them
  put32(h, 0);       // CRC-32 and sizes: in the data descriptor
  put32(h, 0);
  put32(h, 0);
  put16(h, static_cast<std::uint32_t>(e.name.size()));
  put16(h, static_cast<std::uint32_t>(z64.size() + 4 + pad));
  h += e.name;
  h += z64;
  h += "FB";
  put16(h, static_cast<std::uint32_t>(pad));
  h.append(pad, 'Z');
  PTHSAFE_TRY(emit(h));

  // 64 MiB at a time, each piece's CRC-32 computed on a second thread while the piece is written
  // (zlib's CRC ran at ~2 GB/s here, as fast as the write; util/crc32's folding one is ~10x
  // that, and overlapped a large record still costs the write alone), the CRCs joined with crc32_combine; then the piece is released (for a
  // mapped source), so a file streamed through never has more than one piece resident.
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto crc_of = [](std::span<const std::byte> b) -> uLong { return crc32_update(0, b); };
  for (const auto& p : pieces) {
    for (std::size_t done = 0; done < p.size();) {
      const auto piece = p.subspan(done, std::min<std::size_t>(p.size() - done, std::size_t{64} << 20));
      uLong part = 0;
      if (piece.size() >= (std::size_t{4} << 20)) {
        std::future<uLong> f;
        try {
          f = std::async(std::launch::async, crc_of, piece);
        } catch (const std::system_error&) {  // no thread to be had: compute it here
        }
        auto written = emit(piece);
        part = f.valid() ? f.get() : crc_of(piece);
        PTHSAFE_TRY(written);
      } else {
        part = crc_of(piece);
        PTHSAFE_TRY(emit(piece));
      }
      crc = crc32_combine(crc, part, static_cast<z_off_t>(piece.size()));
      if (consumed_) consumed_(piece);
      done += piece.size();
    }
  }
  e.crc = static_cast<std::uint32_t>(crc);

  names_.emplace_back(name);
  if (!descriptor) {
    entries_.push_back(std::move(e));
    return {};
  }
  std::string d;
  put32(d, 0x08074b50u);
  put32(d, e.crc);
  if (z64.empty()) {
    put32(d, static_cast<std::uint32_t>(e.size));
    put32(d, static_cast<std::uint32_t>(e.size));
  } else {
    put64(d, e.size);
    put64(d, e.size);
  }
  PTHSAFE_TRY(emit(d));

  combined_crc_ = hash_combine(combined_crc_, e.crc);
  entries_.push_back(std::move(e));
  return {};
}

result<void> zip_writer::add(std::string_view name, std::string_view text) {
  const std::array<std::span<const std::byte>, 1> one = {
      std::as_bytes(std::span<const char>(text.data(), text.size()))};
  return add(name, one);
}

result<void> zip_writer::finish() {
  // torch's id: the hash of every record name folded in the iteration order of the
  // std::unordered_set<std::string> its writer keeps them in, then the CRC-32s folded in write
  // order, each printed as 20 zero-padded digits. Inserting the same names in the same order
  // into the same container (libstdc++, as torch's wheels use) reproduces it exactly.
  // One insert at a time into a default-constructed set, as torch does: a range constructor
  // would size the buckets differently and iterate in another order.
  std::unordered_set<std::string> written;
  for (const auto& n : names_) written.insert(n);
  std::uint64_t name_hash = 0;
  for (const auto& n : written) name_hash = hash_combine(name_hash, std::hash<std::string>{}(n));
  std::array<char, 48> id{};
  std::snprintf(id.data(), id.size(), "%020llu%020llu", static_cast<unsigned long long>(name_hash),
                static_cast<unsigned long long>(combined_crc_));
  PTHSAFE_TRY(add(".data/serialization_id", std::string_view(id.data(), 40)));

  const std::uint64_t cd_offset = pos_;
  for (const auto& e : entries_) {
    const std::string z64 = zip64_extra(e.size, e.offset);
    std::string c;
    put32(c, 0x02014b50u);
    put16(c, 0);  // version made by
    put16(c, 0);  // version needed
    put16(c, e.flags);
    put16(c, 0);
    put32(c, 0);
    put32(c, e.crc);
    put32(c, static_cast<std::uint32_t>(std::min(e.size, u32_max)));
    put32(c, static_cast<std::uint32_t>(std::min(e.size, u32_max)));
    put16(c, static_cast<std::uint32_t>(e.name.size()));
    put16(c, static_cast<std::uint32_t>(z64.size()));
    put16(c, 0);  // comment
    put16(c, 0);  // disk
    put16(c, 0);  // internal attributes
    put32(c, 0);  // external attributes
    put32(c, static_cast<std::uint32_t>(std::min(e.offset, u32_max)));
    c += e.name;
    c += z64;
    PTHSAFE_TRY(emit(c));
  }
  const std::uint64_t cd_size = pos_ - cd_offset;
  const std::uint64_t z64_eocd = pos_;
  const auto count = static_cast<std::uint64_t>(entries_.size());

  std::string t;
  put32(t, 0x06064b50u);  // zip64 end of central directory
  put64(t, 44);
  put16(t, 0x031e);       // made by: Unix, 3.0 (what miniz writes)
  put16(t, 0x002d);       // needed: 4.5
  put32(t, 0);
  put32(t, 0);
  put64(t, count);
  put64(t, count);
  put64(t, cd_size);
  put64(t, cd_offset);
  put32(t, 0x07064b50u);  // zip64 locator
  put32(t, 0);
  put64(t, z64_eocd);
  put32(t, 1);
  put32(t, 0x06054b50u);  // end of central directory
  put16(t, 0);
  put16(t, 0);
  put16(t, static_cast<std::uint32_t>(std::min<std::uint64_t>(count, 0xffffu)));
  put16(t, static_cast<std::uint32_t>(std::min<std::uint64_t>(count, 0xffffu)));
  put32(t, static_cast<std::uint32_t>(std::min(cd_size, u32_max)));
  put32(t, static_cast<std::uint32_t>(std::min(cd_offset, u32_max)));
  put16(t, 0);
  return emit(t);
}

}  // namespace pthsafe::detail
