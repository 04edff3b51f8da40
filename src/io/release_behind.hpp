// Handing back the pages of a mapped file that a sequential reader has passed, so that reading
// every local header (zip/directory.cpp) or copying every small record (place/bulk_read.cpp)
// does not keep the whole file resident. The pages return to the page cache only: anything that
// reads them again refaults them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace pthsafe::detail {

/// Hands back pages of a mapped file that a walk has read past (source::release_pages):
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

}  // namespace pthsafe::detail
