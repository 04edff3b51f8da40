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
#include <memory>
#include <optional>
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
  /// Inline for the mapping (four calls an entry in a dense file's walks), the reads out of line.
  [[gnu::always_inline]] std::span<const std::byte> bytes(std::uint64_t at, std::uint64_t n) {
    if (at >= file_.size()) return {};
    n = std::min<std::uint64_t>(n, file_.size() - at);
    if (!pread_) return file_.subspan(static_cast<std::size_t>(at), static_cast<std::size_t>(n));
    return read(at, n);
  }

 private:
  [[gnu::noinline]] std::span<const std::byte> read(std::uint64_t at, std::uint64_t n) {
    // The walks go through the headers in directory order and come back to the same header:
    // the block used last and the one after it are tried before the search.
    if (last_ < blocks_.size()) {
      if (const auto v = inside(blocks_[last_], at, n)) return *v;
      if (last_ + 1 < blocks_.size())
        if (const auto v = inside(blocks_[last_ + 1], at, n)) {
          ++last_;
          return *v;
        }
    }
    // The block that starts at or before `at`, if it holds the whole range.
    auto it = after(at);
    if (it != blocks_.begin())
      if (const auto v = inside(*std::prev(it), at, n)) {
        last_ = static_cast<std::size_t>(std::prev(it) - blocks_.begin());
        return *v;
      }
    // One read serves a header, its name and extra field, the data descriptor just before it
    // (the descriptor walk) and the same header again (the libzip-parity walk).
    const std::uint64_t from = at - std::min<std::uint64_t>(at, lead);
    const std::uint64_t len = std::min<std::uint64_t>(std::max<std::uint64_t>(n, min_read) + (at - from), file_.size() - from);
    if (blocks_.size() >= max_blocks) {  // bounded: the views of earlier calls may go
      blocks_.clear();
      chunks_.clear();
      left_ = 0;
    }
    std::byte* dst = room(static_cast<std::size_t>(len));
    if (!(*pread_)(from, std::span<std::byte>(dst, static_cast<std::size_t>(len))))
      return file_.subspan(static_cast<std::size_t>(at), static_cast<std::size_t>(n));  // same bytes
    cur_ += len;
    left_ -= static_cast<std::size_t>(len);
    it = after(from);
    it = blocks_.insert(it, block{from, dst, len});
    last_ = static_cast<std::size_t>(it - blocks_.begin());
    return std::span<const std::byte>(dst + (at - from), static_cast<std::size_t>(n));
  }

 private:
  // A block's bytes live in chunks_, which never move: blocks_ holds plain pointers into them,
  // and one allocation serves ~80 headers (one per header cost ~800 instructions a read and
  // a page fault every ~16 headers: bench/NOTES.md 47).
  struct block {
    std::uint64_t at;
    const std::byte* bytes;
    std::uint64_t size;
  };
  // The first block starting after `at`. Headers are met in file order, mostly past the last
  // block read: that case needs no search.
  std::vector<block>::iterator after(std::uint64_t at) {
    if (blocks_.empty() || at >= blocks_.back().at) return blocks_.end();
    return std::upper_bound(blocks_.begin(), blocks_.end(), at, [](std::uint64_t x, const block& b) { return x < b.at; });
  }
  static std::optional<std::span<const std::byte>> inside(const block& b, std::uint64_t at, std::uint64_t n) {
    if (at < b.at || at - b.at > b.size || n > b.size - (at - b.at)) return std::nullopt;
    return std::span<const std::byte>(b.bytes + (at - b.at), static_cast<std::size_t>(n));
  }
  // Space for len bytes at cur_ (not yet taken: a failed read leaves it free).
  std::byte* room(std::size_t len) {
    if (len > left_) {
      const std::size_t size = std::max(len, chunk_bytes);
      chunks_.push_back(std::make_unique_for_overwrite<std::byte[]>(size));
      cur_ = chunks_.back().get();
      left_ = size;
    }
    return cur_;
  }
  static constexpr std::uint64_t lead = 32;           // bytes read before a header: a data descriptor
  // Bytes read from a header on: its 30 fixed bytes, a name of up to ~100 bytes and torch's
  // alignment padding (an extra field of 4 + 0..63 bytes). A longer header costs a second read.
  // Not more: each 4 KiB page of fresh heap faults once (5-10 us here) in a load that is ready
  // in well under a millisecond (bench/NOTES.md 32).
  static constexpr std::uint64_t min_read = 192;
  static constexpr std::size_t max_blocks = 4096;     // ~0.9 MB of headers at most
  static constexpr std::size_t chunk_bytes = 16 << 10;
  std::span<const std::byte> file_;
  const file_pread* pread_;
  std::vector<block> blocks_;  // sorted by `at`
  std::size_t last_ = SIZE_MAX;
  std::vector<std::unique_ptr<std::byte[]>> chunks_;
  std::byte* cur_ = nullptr;
  std::size_t left_ = 0;
};

}  // namespace pthsafe::detail
