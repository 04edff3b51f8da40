// A strict walk of the zip end records and central directory. libzip remains the parser of
// record (zip/archive.cpp cross-checks every entry against it); this walk exists because libzip
// does not expose local-header offsets, and because refusing what a lenient reader would accept
// needs the raw fields (trailing data, lying zip64 sentinels, gaps before the directory).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "pthsafe/error.hpp"
#include "io/release_behind.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe::detail {

class local_reads;

// 48 bytes (bench/NOTES.md 37): one per record, 100,000s in a checkpoint of many tensors. The
// name is a view of the central header in the file (46 bytes after its start, which is how the
// header's offset is found again) and the data offset is kept as its distance from the local
// header.
struct zip_entry {
  std::uint64_t comp_size = 0;
  std::uint64_t uncomp_size = 0;
  std::uint64_t local_offset = 0;
  std::uint32_t crc = 0;
  std::uint32_t data_skip = 0;     // data_offset - local_offset (30 + local name and extra), set
                                   // by the local-header check
  const char* name_data = nullptr; // the central header's name bytes, in the file
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::uint16_t name_size = 0;
  bool dos_directory = false;      // DOS attribute bit 0x10, which miniz reads as "a directory"

  std::string_view name() const noexcept { return {name_data, name_size}; }
  /// Where this entry's central header starts in `file` (the span the walk read).
  std::uint64_t central_offset(std::span<const std::byte> file) const noexcept {
    return static_cast<std::uint64_t>(reinterpret_cast<const std::byte*>(name_data) - file.data()) - 46;
  }
  /// Where the record's bytes start (local_offset until the local-header check has run).
  std::uint64_t data_offset() const noexcept { return local_offset + data_skip; }
};
static_assert(sizeof(zip_entry) <= 48);

struct zip_directory {
  std::vector<zip_entry> entries;    // central directory order
  std::uint64_t cd_offset = 0;       // start of the central directory
  std::uint64_t end_offset = 0;      // end of the last end record (== file size)
};

/// Walks EOCD (+ zip64 locator/record) and the central directory of `file`.
/// Errors: zip_no_eocd, zip_bad_eocd, zip_trailing_data, zip_bad_central_entry,
/// zip_too_many_entries.
result<zip_directory> read_directory(std::span<const std::byte> file, const limits& lim);

/// Called with each central entry (its index and fields) as the walk reads it; an error stops
/// the walk and is returned.
using entry_visitor = std::function<result<void>(std::size_t, const zip_entry&)>;
/// The same walk and checks as read_directory, handing each entry to `each` instead of keeping
/// it (the returned directory's `entries` stays empty): a caller that only compares entries
/// holds none of them (the gate's libzip check after the load, bench/NOTES.md 33).
result<zip_directory> read_directory(std::span<const std::byte> file, const limits& lim, const entry_visitor& each);

/// Reads each entry's local header, checks it against the central entry and fills data_offset;
/// then checks that records neither overlap nor reach into the directory. Pages below the
/// header being read are handed to `release` as the walk goes (the checks are the same).
/// Errors: zip_local_header, zip_out_of_bounds, zip_overlap, zip_unsupported_flags,
/// zip_unsupported_method.
/// `reads` (zip/local_reads.hpp; null: the mapping) lets a walk over far-apart records read each
/// header by pread instead of faulting its pages in; the checks are the same either way.
/// `also`, when set, is handed each entry whose local header passed, while that header is at
/// hand, so that a further check of the same headers needs no walk of its own.
result<void> check_local_headers(std::span<const std::byte> file, zip_directory& dir, const page_release& release = {},
                                 local_reads* reads = nullptr, const std::function<void(const zip_entry&)>& also = {});

/// Where entry `e` (stored) would have its bytes if its local header holds, read before
/// check_local_headers has checked it: the header's signature, name and extra lengths as far
/// as they go, and the data inside the record area. A guess for work that may start early and
/// is used only if the checked record turns out to be exactly this span (pickle/memo_reads_ahead.hpp);
/// nullopt when the entry is not stored or the header does not fit.
std::optional<std::span<const std::byte>> unchecked_stored_bytes(std::span<const std::byte> file, const zip_directory& dir,
                                                                 const zip_entry& e) noexcept;

}  // namespace pthsafe::detail
