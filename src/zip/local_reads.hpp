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
  /// `file` and `pread` outlive this; `use_pread` from reads_by_pread.
  local_reads(std::span<const std::byte> file, const file_pread& pread, bool use_pread)
      : file_(file), pread_(pread), use_pread_(use_pread && pread) {}

  /// File bytes [at, at + n), cut at the end of the file: exactly what a cursor over the whole
  /// file would read there. A view valid until the next call.
  std::span<const std::byte> bytes(std::uint64_t at, std::uint64_t n) {
    if (at >= file_.size()) return {};
    n = std::min<std::uint64_t>(n, file_.size() - at);
    if (!use_pread_) return file_.subspan(static_cast<std::size_t>(at), static_cast<std::size_t>(n));
    if (at >= buf_at_ && at - buf_at_ <= buf_.size() && n <= buf_.size() - (at - buf_at_))
      return std::span<const std::byte>(buf_).subspan(static_cast<std::size_t>(at - buf_at_), static_cast<std::size_t>(n));
    // One read serves a header and its name and extra field in the common case.
    const std::uint64_t len = std::min<std::uint64_t>(std::max<std::uint64_t>(n, 512), file_.size() - at);
    buf_.resize(static_cast<std::size_t>(len));
    if (!pread_(at, buf_)) {
      buf_.clear();  // the mapping holds the same bytes
      return file_.subspan(static_cast<std::size_t>(at), static_cast<std::size_t>(n));
    }
    buf_at_ = at;
    return std::span<const std::byte>(buf_).first(static_cast<std::size_t>(n));
  }

 private:
  std::span<const std::byte> file_;
  const file_pread& pread_;
  bool use_pread_;
  std::vector<std::byte> buf_;
  std::uint64_t buf_at_ = 0;
};

}  // namespace pthsafe::detail
