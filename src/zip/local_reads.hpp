// Where the zip walks read local headers and data descriptors: the mapping itself, or, for a
// mapped file whose records lie far apart, pread into a small scratch buffer. Each header of a
// sparse file sits on its own pages, and faulting one in costs 5-10 us on these machines against
// ~1 us for a pread of the same bytes (bench/NOTES.md 29): for a 2 GiB checkpoint of 94 records
// that is most of mmap mode's time to ready. Dense files (many headers per page) keep the
// mapping, where one fault serves dozens of headers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <vector>

#include "io/file_pread.hpp"
#include "zip/directory.hpp"

namespace pthsafe::detail {

/// True when the walks should pread: a pread is given and the records average at least 64 KiB
/// apart (the kernel maps up to 64 KiB around a fault, so closer headers share faults).
inline bool reads_by_pread(const file_pread& pread, const zip_directory& dir) {
  return pread && !dir.entries.empty() && dir.cd_offset / dir.entries.size() >= (std::uint64_t{64} << 10);
}

class local_reads {
 public:
  /// `file` and `*pread` outlive this. `pread` null or empty: read the mapping (see
  /// reads_by_pread for when to pass one).
  local_reads(std::span<const std::byte> file, const file_pread* pread) : file_(file), pread_(pread && *pread ? pread : nullptr) {}

  /// File bytes [at, at + n), cut at the end of the file: exactly what a cursor over the whole
  /// file would read there. A view valid until the next call.
  std::span<const std::byte> bytes(std::uint64_t at, std::uint64_t n) {
    if (at >= file_.size()) return {};
    n = std::min<std::uint64_t>(n, file_.size() - at);
    if (!pread_) return file_.subspan(static_cast<std::size_t>(at), static_cast<std::size_t>(n));
    // The block that starts at or before `at`, if it holds the whole range.
    auto it = std::upper_bound(blocks_.begin(), blocks_.end(), at, [](std::uint64_t x, const block& b) { return x < b.at; });
    if (it != blocks_.begin()) {
      const block& b = *std::prev(it);
      if (at - b.at <= b.bytes.size() && n <= b.bytes.size() - (at - b.at))
        return std::span<const std::byte>(b.bytes).subspan(static_cast<std::size_t>(at - b.at), static_cast<std::size_t>(n));
    }
    // One read serves a header, its name and extra field, the data descriptor just before it
    // (the descriptor walk) and the same header again (the libzip-parity walk).
    const std::uint64_t from = at - std::min<std::uint64_t>(at, lead);
    const std::uint64_t len = std::min<std::uint64_t>(std::max<std::uint64_t>(n, min_read) + (at - from), file_.size() - from);
    if (blocks_.size() >= max_blocks) blocks_.clear();  // bounded: the views of earlier calls may go
    block b{from, std::vector<std::byte>(static_cast<std::size_t>(len))};
    if (!(*pread_)(from, b.bytes)) return file_.subspan(static_cast<std::size_t>(at), static_cast<std::size_t>(n));  // same bytes
    it = std::upper_bound(blocks_.begin(), blocks_.end(), from, [](std::uint64_t x, const block& y) { return x < y.at; });
    it = blocks_.insert(it, std::move(b));  // a block's bytes keep their address when blocks_ grows
    return std::span<const std::byte>(it->bytes).subspan(static_cast<std::size_t>(at - from), static_cast<std::size_t>(n));
  }

 private:
  struct block {
    std::uint64_t at;
    std::vector<std::byte> bytes;
  };
  static constexpr std::uint64_t lead = 32;           // bytes read before a header: a data descriptor
  // Bytes read from a header on: its 30 fixed bytes, a name of up to ~100 bytes and torch's
  // alignment padding (an extra field of 4 + 0..63 bytes). A longer header costs a second read.
  // Not more: every block is fresh heap, and each 4 KiB page of them faults once (5-10 us here)
  // in a load that is ready in well under a millisecond (bench/NOTES.md 32).
  static constexpr std::uint64_t min_read = 192;
  static constexpr std::size_t max_blocks = 4096;     // ~0.9 MB of headers at most
  std::span<const std::byte> file_;
  const file_pread* pread_;
  std::vector<block> blocks_;  // sorted by `at`
};

}  // namespace pthsafe::detail
