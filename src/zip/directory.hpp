// A strict walk of the zip end records and central directory. libzip remains the parser of
// record (zip/archive.cpp cross-checks every entry against it); this walk exists because libzip
// does not expose local-header offsets, and because refusing what a lenient reader would accept
// needs the raw fields (trailing data, lying zip64 sentinels, gaps before the directory).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "pthsafe/error.hpp"
#include "io/release_behind.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe::detail {

class local_reads;

struct zip_entry {
  std::string_view name;          // view into the file's bytes
  std::uint16_t flags = 0;
  std::uint16_t method = 0;
  std::uint32_t external_attr = 0;  // miniz treats bit 0x10 (DOS directory) as "a directory"
  std::uint32_t crc = 0;
  std::uint64_t comp_size = 0;
  std::uint64_t uncomp_size = 0;
  std::uint64_t local_offset = 0;
  std::uint64_t central_offset = 0;  // where this entry's central header starts
  std::uint64_t data_offset = 0;     // filled by the local-header check
};

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
result<void> check_local_headers(std::span<const std::byte> file, zip_directory& dir, const page_release& release = {},
                                 local_reads* reads = nullptr);

}  // namespace pthsafe::detail
