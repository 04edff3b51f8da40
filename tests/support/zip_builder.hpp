// tests/support/zip_builder.hpp - builds zip archives in memory, the way torch.save writes them,
// with a knob for every field a hostile file can lie about.
//
// torch's writer (miniz, `PyTorchStreamWriter`; torch inline_container.cc (miniz)) produces:
//   per record: local header (version-needed 0, flags 0x0808, method 0, time/date 0, CRC and
//               sizes 0), name, an "FB" extra field padding the data to a 64-byte boundary, the
//               data, then a 16-byte data descriptor `PK\7\8 crc csize usize`;
//   central directory: one 46-byte header per record with the real CRC and sizes, no extra;
//   zip64 end record (44 bytes, made-by 0x031e, needed 0x2d) + zip64 locator, always;
//   end-of-central-directory record with a 0 comment length.
// zip_layout::torch_style = false writes a "plain" archive instead (CRC and sizes in the local
// header, no descriptor, flags 0).
//
// Every corruption knob is an std::optional / extra bytes that replaces exactly one field of one
// header; everything left alone is written consistently.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pthsafe_test {

using bytes = std::vector<std::byte>;

// ---- byte helpers ---------------------------------------------------------------------------

inline bytes to_bytes(std::string_view s) {
  bytes b(s.size());
  if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
  return b;
}
inline std::string to_string(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
inline void append(bytes& out, std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); }
inline void append(bytes& out, std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}
inline void put_u8(bytes& out, std::uint8_t v) { out.push_back(std::byte{v}); }
inline void put_u16(bytes& out, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}
inline void put_u32(bytes& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}
inline void put_u64(bytes& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

/// CRC-32 (zlib's, the one zip uses).
inline std::uint32_t crc32_of(std::span<const std::byte> b) {
  uLong c = crc32(0L, Z_NULL, 0);
  if (!b.empty()) c = crc32(c, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size()));
  return static_cast<std::uint32_t>(c);
}

/// Raw deflate stream (no zlib header: what zip method 8 holds).
inline bytes raw_deflate(std::span<const std::byte> in, int level = Z_BEST_COMPRESSION) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  bytes out(deflateBound(&zs, static_cast<uLong>(in.size())) + 16);
  zs.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  out.resize(zs.total_out);
  return out;
}

// ---- archive description -------------------------------------------------------------------

inline constexpr std::uint32_t sig_local = 0x04034b50, sig_central = 0x02014b50, sig_descriptor = 0x08074b50,
                               sig_eocd = 0x06054b50, sig_z64_eocd = 0x06064b50, sig_z64_locator = 0x07064b50;

/// One record. `payload` is what lies after the local header (deflated bytes for method 8);
/// `uncompressed_size` and `crc` describe the uncompressed content. The optional fields replace
/// one header field each; unset, they are written consistently.
struct zip_record {
  std::string name;
  bytes payload;
  std::uint64_t uncompressed_size = 0;
  std::uint32_t crc = 0;
  std::uint16_t method = 0;

  // ---- both headers ----
  std::optional<std::uint16_t> flags;  ///< general-purpose flags in both headers (default: layout's)

  // ---- local header only ----
  std::optional<std::uint32_t> local_signature;
  std::optional<std::string> local_name;
  std::optional<std::uint16_t> local_method;
  std::optional<std::uint16_t> local_flags;
  std::optional<std::uint32_t> local_crc;
  std::optional<std::uint32_t> local_comp_size, local_uncomp_size;
  std::optional<std::uint16_t> local_extra_len;  ///< lie about the extra length (bytes unchanged)
  bytes local_extra;                             ///< raw bytes placed before the FB padding field

  // ---- central header only ----
  std::optional<std::uint32_t> central_signature;
  std::optional<std::string> central_name;
  std::optional<std::uint16_t> central_method;
  std::optional<std::uint16_t> central_flags;
  std::optional<std::uint32_t> central_crc;
  std::optional<std::uint64_t> central_comp_size, central_uncomp_size;  ///< > 32 bits: zip64 extra
  std::optional<std::uint64_t> central_local_offset;  ///< absolute offset of the local header
  std::optional<std::uint16_t> central_name_len;       ///< lie about the name length (bytes unchanged)
  std::optional<std::uint16_t> central_disk_start;
  std::uint32_t external_attr = 0;  ///< external attributes (0x10: DOS directory bit)
  bytes central_extra;              ///< raw bytes appended to the central extra field
  bool zip64_extra = false;         ///< write sizes and offset as 0xffffffff + a 0x0001 extra field
  std::size_t zip64_extra_drop = 0; ///< leave this many bytes off the end of that extra field
  bool zip64_extra_omit = false;    ///< write the 0xffffffff sentinels but no 0x0001 extra field
  bool in_directory = true;         ///< false: the record is written, but not listed
  bytes gap_after;                  ///< bytes written after the record (and its descriptor)
  std::optional<std::uint32_t> descriptor_comp_size;  ///< lie in the data descriptor (torch_style)
};

/// Archive-wide layout and the end-record knobs.
struct zip_layout {
  bool torch_style = true;       ///< flags 0x0808, zero CRC/sizes in local headers, data descriptors
  std::uint32_t alignment = 64;  ///< FB-pad record data to this boundary; 0: no FB extra field
  bool zip64_end = true;         ///< zip64 end record + locator before the EOCD (torch: always)
  bool eocd_sentinels = false;   ///< EOCD counts/size/offset as 0xffff/0xffffffff (zip64 values rule)

  bytes prepend;                       ///< bytes before the first record
  bool prepend_shifts_offsets = true;  ///< offsets count the prepended bytes (else they lie by its size)
  bytes gap_before_cd;                 ///< bytes between the last record and the central directory
  bytes gap_after_cd;                  ///< bytes between the central directory and the end records
  bytes trailing;                      ///< bytes after the EOCD (and its comment)
  bytes comment;                       ///< EOCD comment
  std::optional<std::uint16_t> comment_len;

  /// Records listed in the directory, by index into zip_builder::records; empty: each once, in order.
  std::vector<std::size_t> directory_order;

  // EOCD fields
  std::optional<std::uint16_t> eocd_disk, eocd_cd_disk, eocd_entries_disk, eocd_entries_total;
  std::optional<std::uint32_t> eocd_cd_size, eocd_cd_offset;
  // zip64 end record fields
  std::optional<std::uint32_t> z64_signature;
  std::optional<std::uint64_t> z64_record_size, z64_entries_disk, z64_entries_total, z64_cd_size, z64_cd_offset;
  std::optional<std::uint32_t> z64_disk, z64_cd_disk;
  bytes z64_extensible;  ///< zip64 extensible data after the fixed fields (counted in the record size)
  // zip64 locator fields
  std::optional<std::uint32_t> locator_disk, locator_total_disks;
  std::optional<std::uint64_t> locator_z64_offset;
};

class zip_builder {
 public:
  zip_layout layout;
  std::vector<zip_record> records;

  /// Adds a stored record.
  zip_record& add(std::string name, bytes data) {
    zip_record r;
    r.name = std::move(name);
    r.crc = crc32_of(data);
    r.uncompressed_size = data.size();
    r.payload = std::move(data);
    records.push_back(std::move(r));
    return records.back();
  }
  zip_record& add(std::string name, std::string_view text) { return add(std::move(name), to_bytes(text)); }
  /// Adds a deflated (method 8) record of `data`.
  zip_record& add_deflated(std::string name, const bytes& data, int level = Z_BEST_COMPRESSION) {
    zip_record r;
    r.name = std::move(name);
    r.crc = crc32_of(data);
    r.uncompressed_size = data.size();
    r.payload = raw_deflate(data, level);
    r.method = 8;
    records.push_back(std::move(r));
    return records.back();
  }
  /// The record named `name` (throws when absent: a test bug, not a case).
  zip_record& record(std::string_view name) {
    for (auto& r : records)
      if (r.name == name) return r;
    throw std::out_of_range("zip_builder: no record " + std::string(name));
  }
  bool has(std::string_view name) const {
    for (const auto& r : records)
      if (r.name == name) return true;
    return false;
  }
  void remove(std::string_view name) {
    for (auto it = records.begin(); it != records.end(); ++it)
      if (it->name == name) { records.erase(it); return; }
    throw std::out_of_range("zip_builder: no record " + std::string(name));
  }
  void rename(std::string_view from, std::string to) { record(from).name = std::move(to); }

  /// Offsets of the last build (absolute, in the built bytes).
  struct placed { std::uint64_t local_offset = 0, data_offset = 0, central_offset = 0; };
  std::vector<placed> where;
  std::uint64_t cd_offset = 0, cd_size = 0, z64_offset = 0, eocd_offset = 0;

  bytes build() {
    const zip_layout& L = layout;
    bytes out = L.prepend;
    const std::uint64_t shift = L.prepend_shifts_offsets ? 0 : L.prepend.size();
    const std::uint16_t default_flags = L.torch_style ? 0x0808 : 0x0000;
    const std::uint16_t needed = L.torch_style ? 0 : 20;
    where.assign(records.size(), placed{});

    for (std::size_t i = 0; i < records.size(); ++i) {
      const zip_record& r = records[i];
      const std::string& lname = r.local_name ? *r.local_name : r.name;
      const std::uint16_t flags = r.local_flags ? *r.local_flags : r.flags ? *r.flags : default_flags;
      where[i].local_offset = out.size();
      bytes extra = r.local_extra;
      if (L.alignment) {
        const std::uint64_t start = out.size() + 30 + lname.size() + extra.size() + 4;
        const std::uint64_t pad = (L.alignment - start % L.alignment) % L.alignment;
        append(extra, "FB");
        put_u16(extra, static_cast<std::uint16_t>(pad));
        extra.insert(extra.end(), pad, std::byte{'Z'});
      }
      const bool zero_local = L.torch_style;
      put_u32(out, r.local_signature ? *r.local_signature : sig_local);
      put_u16(out, needed);
      put_u16(out, flags);
      put_u16(out, r.local_method ? *r.local_method : r.method);
      put_u16(out, 0);  // time
      put_u16(out, 0);  // date
      put_u32(out, r.local_crc ? *r.local_crc : zero_local ? 0 : r.crc);
      put_u32(out, r.local_comp_size ? *r.local_comp_size
                                     : zero_local ? 0 : static_cast<std::uint32_t>(r.payload.size()));
      put_u32(out, r.local_uncomp_size ? *r.local_uncomp_size
                                       : zero_local ? 0 : static_cast<std::uint32_t>(r.uncompressed_size));
      put_u16(out, static_cast<std::uint16_t>(lname.size()));
      put_u16(out, r.local_extra_len ? *r.local_extra_len : static_cast<std::uint16_t>(extra.size()));
      append(out, lname);
      append(out, extra);
      where[i].data_offset = out.size();
      append(out, r.payload);
      if (L.torch_style) {
        put_u32(out, sig_descriptor);
        put_u32(out, r.crc);
        put_u32(out, r.descriptor_comp_size ? *r.descriptor_comp_size : static_cast<std::uint32_t>(r.payload.size()));
        put_u32(out, static_cast<std::uint32_t>(r.uncompressed_size));
      }
      append(out, r.gap_after);
    }
    append(out, L.gap_before_cd);

    std::vector<std::size_t> order = L.directory_order;
    if (order.empty())
      for (std::size_t i = 0; i < records.size(); ++i)
        if (records[i].in_directory) order.push_back(i);
    cd_offset = out.size();
    for (std::size_t i : order) {
      const zip_record& r = records[i];
      const std::string& cname = r.central_name ? *r.central_name : r.name;
      const std::uint64_t csize = r.central_comp_size ? *r.central_comp_size : r.payload.size();
      const std::uint64_t usize = r.central_uncomp_size ? *r.central_uncomp_size : r.uncompressed_size;
      const std::uint64_t loff = r.central_local_offset ? *r.central_local_offset : where[i].local_offset - shift;
      const bool big_u = r.zip64_extra || usize >= 0xffffffffu, big_c = r.zip64_extra || csize >= 0xffffffffu,
                 big_l = r.zip64_extra || loff >= 0xffffffffu;
      bytes extra;
      if ((big_u || big_c || big_l) && !r.zip64_extra_omit) {
        bytes body;
        if (big_u) put_u64(body, usize);
        if (big_c) put_u64(body, csize);
        if (big_l) put_u64(body, loff);
        body.resize(body.size() - std::min(body.size(), r.zip64_extra_drop));
        put_u16(extra, 0x0001);
        put_u16(extra, static_cast<std::uint16_t>(body.size()));
        append(extra, body);
      }
      append(extra, r.central_extra);
      where[i].central_offset = out.size();
      put_u32(out, r.central_signature ? *r.central_signature : sig_central);
      put_u16(out, needed);  // made by
      put_u16(out, needed);  // needed
      put_u16(out, r.central_flags ? *r.central_flags : r.flags ? *r.flags : default_flags);
      put_u16(out, r.central_method ? *r.central_method : r.method);
      put_u16(out, 0);
      put_u16(out, 0);
      put_u32(out, r.central_crc ? *r.central_crc : r.crc);
      put_u32(out, big_c ? 0xffffffffu : static_cast<std::uint32_t>(csize));
      put_u32(out, big_u ? 0xffffffffu : static_cast<std::uint32_t>(usize));
      put_u16(out, r.central_name_len ? *r.central_name_len : static_cast<std::uint16_t>(cname.size()));
      put_u16(out, static_cast<std::uint16_t>(extra.size()));
      put_u16(out, 0);  // comment
      put_u16(out, r.central_disk_start ? *r.central_disk_start : 0);
      put_u16(out, 0);  // internal attributes
      put_u32(out, r.external_attr);
      put_u32(out, big_l ? 0xffffffffu : static_cast<std::uint32_t>(loff));
      append(out, cname);
      append(out, extra);
    }
    cd_size = out.size() - cd_offset;
    const std::uint64_t cd_off_field = cd_offset - shift;
    append(out, L.gap_after_cd);

    const std::uint64_t count = order.size();
    if (L.zip64_end) {
      z64_offset = out.size();
      put_u32(out, L.z64_signature ? *L.z64_signature : sig_z64_eocd);
      put_u64(out, L.z64_record_size ? *L.z64_record_size : 44 + L.z64_extensible.size());
      put_u16(out, 0x031e);
      put_u16(out, 0x002d);
      put_u32(out, L.z64_disk ? *L.z64_disk : 0);
      put_u32(out, L.z64_cd_disk ? *L.z64_cd_disk : 0);
      put_u64(out, L.z64_entries_disk ? *L.z64_entries_disk : count);
      put_u64(out, L.z64_entries_total ? *L.z64_entries_total : count);
      put_u64(out, L.z64_cd_size ? *L.z64_cd_size : cd_size);
      put_u64(out, L.z64_cd_offset ? *L.z64_cd_offset : cd_off_field);
      append(out, L.z64_extensible);
      put_u32(out, sig_z64_locator);
      put_u32(out, L.locator_disk ? *L.locator_disk : 0);
      put_u64(out, L.locator_z64_offset ? *L.locator_z64_offset : z64_offset - shift);
      put_u32(out, L.locator_total_disks ? *L.locator_total_disks : 1);
    }
    eocd_offset = out.size();
    const bool s = L.eocd_sentinels;
    put_u32(out, sig_eocd);
    put_u16(out, L.eocd_disk ? *L.eocd_disk : 0);
    put_u16(out, L.eocd_cd_disk ? *L.eocd_cd_disk : 0);
    put_u16(out, L.eocd_entries_disk ? *L.eocd_entries_disk : s ? 0xffff : static_cast<std::uint16_t>(count));
    put_u16(out, L.eocd_entries_total ? *L.eocd_entries_total : s ? 0xffff : static_cast<std::uint16_t>(count));
    put_u32(out, L.eocd_cd_size ? *L.eocd_cd_size : s ? 0xffffffffu : static_cast<std::uint32_t>(cd_size));
    put_u32(out, L.eocd_cd_offset ? *L.eocd_cd_offset : s ? 0xffffffffu : static_cast<std::uint32_t>(cd_off_field));
    put_u16(out, L.comment_len ? *L.comment_len : static_cast<std::uint16_t>(L.comment.size()));
    append(out, L.comment);
    append(out, L.trailing);
    return out;
  }
};

}  // namespace pthsafe_test
