// libzip reads the archive through this source: the same bytes a buffer source would give it,
// with the pages it has read past handed back while it opens (ZIP_CHECKCONS reads every local
// header, which would otherwise keep the whole record area of a mapped file resident).
#pragma once

#include <zip.h>

#include <cstdint>
#include <optional>
#include <span>

#include "io/release_behind.hpp"

namespace pthsafe::detail {

/// The state behind a libzip source over `file`. Owned by the caller, which must keep it (and
/// `file`) alive until libzip has freed the source (zip_discard, or zip_source_free after a
/// failed open); libzip's FREE command does not delete it.
class libzip_reader {
 public:
  /// `release` is copied: pages libzip reads past go back while it is set (see stop_releasing).
  libzip_reader(std::span<const std::byte> file, const page_release& release);
  libzip_reader(const libzip_reader&) = delete;
  libzip_reader& operator=(const libzip_reader&) = delete;

  /// A new libzip source reading this state (nullptr on allocation failure, with `err` set).
  zip_source_t* make_source(zip_error_t* err);
  /// After the open: later reads (inflating records) jump about the file, and whatever
  /// `release` refers to may be gone.
  void stop_releasing() noexcept { behind_.reset(); }

 private:
  static zip_int64_t callback(void* self, void* data, zip_uint64_t len, zip_source_cmd_t cmd);
  zip_int64_t serve(void* data, zip_uint64_t len, zip_source_cmd_t cmd);

  std::span<const std::byte> file_;
  page_release release_;
  std::optional<release_behind> behind_;
  std::uint64_t pos_ = 0;
  zip_error_t error_{};
};

}  // namespace pthsafe::detail
