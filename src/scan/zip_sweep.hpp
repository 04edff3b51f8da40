// Lenient enumeration of the records of a zip-like file, for the gate only: when the strict
// archive refuses a file, readers more forgiving than pthsafe may still open it, so every record
// any of them could find (through the central directory or by walking local headers) is
// collected for scanning.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "io/release_behind.hpp"

#include "pthsafe/options.hpp"

namespace pthsafe::detail {

struct loose_record {
  std::string_view name;                ///< in the file's bytes (central or local header)
  std::uint64_t offset = 0;             ///< file offset of its data
  std::span<const std::byte> bytes;     ///< stored bytes, or `inflated`
  std::vector<std::byte> inflated;
  bool from_directory = false;          ///< listed in the central directory
  std::size_t entry = 0;                ///< its index there (read_directory's order), when listed
};

/// Every record reachable through the central directory (when it parses) and, when `sweep`,
/// every local header found anywhere in the file. Deflated records are inflated up to
/// min(max_inflated_bytes, 64 MiB) and max_compression_ratio; larger ones are skipped.
/// `release` (a mapped file's release_pages) hands back the pages of the local headers read
/// through the directory as the walk passes them.
std::vector<loose_record> enumerate_records(std::span<const std::byte> file, const limits& lim, bool sweep,
                                            const page_release& release = {});

/// Offset just past the end-of-central-directory record (and its comment) found nearest the end
/// of the file, or 0 when there is none.
std::uint64_t end_of_zip(std::span<const std::byte> file);

}  // namespace pthsafe::detail
