// Handing back the pages of a mapped file that a sequential reader has passed, so that reading
// every local header (zip/directory.cpp) or copying every small record (place/bulk_read.cpp)
// does not keep the whole file resident. The pages return to the page cache only: anything that
// reads them again refaults them.
#pragma once

#include <cstddef>
#include <algorithm>
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
  /// A dense walk also hands back its last stretch when it ends (early returns included).
  ~release_behind() { finish(); }
  release_behind(const release_behind&) = delete;
  release_behind& operator=(const release_behind&) = delete;

  void passed(std::uint64_t offset) {
    ++seen_;
    if (!release_ || offset > file_.size() || offset < from_) return;
    last_ = std::max(last_, offset);
    const std::uint64_t span = offset - from_;
    if (span < step_ || seen_ < headers_) return;
    release_(file_.subspan(static_cast<std::size_t>(from_), static_cast<std::size_t>(span)));
    from_ = offset;
    seen_ = 0;
    dense_ = true;
  }
  /// For a reader that makes several ascending passes (libzip reads the central directory, then
  /// every local header from the start): a read below the current pass starts a new one, whose
  /// pages go back as it passes them in turn. Releases stay at most one per `headers` reads.
  void passed_in_passes(std::uint64_t offset) {
    if (offset < from_) {
      finish();
      from_ = last_ = offset;
      seen_ = 0;
    }
    passed(offset);
  }
  /// Hands back the stretch since the last release, once this walk has proved dense (released
  /// before): without it up to `step` bytes of headers stay resident after every walk.
  void finish() {
    if (!dense_ || !release_ || last_ <= from_) return;
    release_(file_.subspan(static_cast<std::size_t>(from_), static_cast<std::size_t>(last_ - from_)));
    from_ = last_;
  }

 private:
  std::span<const std::byte> file_;
  const page_release& release_;
  std::uint64_t step_, headers_;
  std::uint64_t from_ = 0, seen_ = 0, last_ = 0;
  bool dense_ = false;  // released at least once
};

}  // namespace pthsafe::detail
