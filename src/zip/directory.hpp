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
#include "pthsafe/options.hpp"

namespace pthsafe::detail {

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

/// Hands back pages of a mapped file that a walk has read past (io/source.hpp release_pages):
/// a walk over every local header would otherwise keep the whole record area resident (36 MB
/// for a 100,000-record checkpoint whose tensors are never touched in mmap mode). Empty: keep.
using page_release = std::function<void(std::span<const std::byte>)>;

/// Calls `release` on the bytes below the offsets a walk reports (each a header it reads) once
/// they span `step` bytes and `headers` headers: a dense walk (100,000 records in 36 MB) hands
/// back its pages every few MB. A sparse one (94 records in 2 GiB) keeps them: it faults in a
/// few MB of page cache in all, and a syscall per region costs more time (mmap ready) than the
/// pages are worth (bench/NOTES.md 24). Offsets below what was released release nothing.
class release_behind {
 public:
  release_behind(std::span<const std::byte> file, const page_release& release, std::uint64_t step = std::uint64_t{8} << 20,
                 std::uint64_t headers = 256)
      : file_(file), release_(release), step_(step), headers_(headers) {}
  void passed(std::uint64_t offset) {
    ++seen_;
    if (!release_ || offset > file_.size() || offset < from_) return;
    const std::uint64_t span = offset - from_;
    if (span < step_ || seen_ < headers_) return;
    release_(file_.subspan(static_cast<std::size_t>(from_), static_cast<std::size_t>(span)));
    from_ = offset;
    seen_ = 0;
  }

 private:
  std::span<const std::byte> file_;
  const page_release& release_;
  std::uint64_t step_, headers_;
  std::uint64_t from_ = 0, seen_ = 0;
};

/// Reads each entry's local header, checks it against the central entry and fills data_offset;
/// then checks that records neither overlap nor reach into the directory. Pages below the
/// header being read are handed to `release` as the walk goes (the checks are the same).
/// Errors: zip_local_header, zip_out_of_bounds, zip_overlap, zip_unsupported_flags,
/// zip_unsupported_method.
result<void> check_local_headers(std::span<const std::byte> file, zip_directory& dir, const page_release& release = {});

}  // namespace pthsafe::detail
