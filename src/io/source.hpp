// The bytes of a checkpoint: a read-only mapping of a file, or a caller's buffer. Never copied whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "pthsafe/error.hpp"

namespace pthsafe::detail {

class source {
 public:
  /// Maps `path` read-only (MAP_PRIVATE). Errors: io_open, io_read.
  static result<source> map_file(const std::string& path);
  /// Wraps a caller's buffer (not owned).
  static source from_buffer(std::span<const std::byte> b) noexcept;
  /// The same bytes as `owner` (which must outlive the result), not owned: release_pages hands
  /// back pages of owner's mapping, and read_into copies from it.
  static source borrow(const source& owner) noexcept;

  source() = default;
  source(source&&) noexcept;
  source& operator=(source&&) noexcept;
  source(const source&) = delete;
  source& operator=(const source&) = delete;
  ~source();

  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::uint64_t size() const noexcept { return size_; }
  /// A file read through its descriptor: read_into preads instead of touching the mapping.
  bool has_descriptor() const noexcept { return fd_ >= 0; }
  /// Copies [off, off+n) into dst: pread from the file descriptor for files (so the mapping's
  /// pages are not faulted in for copy-mode loads), memcpy for buffers. Errors: io_read.
  result<void> read_into(std::uint64_t off, std::byte* dst, std::uint64_t n) const;
  /// For a mapped file: drops the whole pages inside `bytes` from this process's memory
  /// (MADV_DONTNEED on a read-only private file mapping: the bytes stay valid and are read from
  /// the file again on next access). A no-op for buffers and for bytes outside the mapping.
  void release_pages(std::span<const std::byte> bytes) const noexcept;

 private:
  void release() noexcept;
  const std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
  int fd_ = -1;
  bool mapped_ = false;
  bool owned_ = true;  // false: borrow()ed, never unmapped here
};

}  // namespace pthsafe::detail
