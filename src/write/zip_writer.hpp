// The archive half of torch.save: records written the way torch's PyTorchStreamWriter (miniz)
// writes them, so that every reader (torch's miniz, CPython's zipfile, libzip, our strict walk)
// sees the same records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pthsafe/error.hpp"

namespace pthsafe::detail {

/// Consecutive chunks of the output; false aborts the write.
using byte_sink = std::function<bool(std::span<const std::byte>)>;

/// Writes stored (uncompressed) records under one top folder: each local header carries an
/// "FB" extra field padding the data to a 64-byte boundary (plus a zip64 extra field first when
/// the size or the header's offset passes 4 GiB), flags 0x0808 (data descriptor, UTF-8 names),
/// zero DOS time and date, the CRC-32 and sizes in a data descriptor after the data; finish()
/// adds `.data/serialization_id` computed as torch computes it, the central directory and the
/// zip64 end records torch always writes.
class zip_writer {
 public:
  zip_writer(byte_sink sink, std::string archive_name);
  /// Called with each piece (at most 64 MiB) of record bytes once written.
  void on_consumed(std::function<void(std::span<const std::byte>)> f) { consumed_ = std::move(f); }

  /// One record named "<archive>/<name>", its bytes given as a sequence of pieces (a storage
  /// is written straight from the caller's memory without a copy). Errors: io_write.
  result<void> add(std::string_view name, std::span<const std::span<const std::byte>> pieces);
  result<void> add(std::string_view name, std::string_view text);
  /// Serialization id, central directory and end records. Errors: io_write.
  result<void> finish();

  /// The exact size of the archive add() then finish() write for records of these names and
  /// sizes, in this order (the serialization id is added), known before a byte is written.
  static std::uint64_t planned_size(std::string_view archive, std::span<const std::pair<std::string, std::uint64_t>> records);

 private:
  struct entry {
    std::string name;  // full name
    std::uint64_t offset = 0, size = 0;
    std::uint32_t crc = 0;
    std::uint32_t flags = 0;
  };
  result<void> emit(std::span<const std::byte> bytes);
  result<void> emit(const std::string& bytes);

  byte_sink sink_;
  std::string archive_;
  std::uint64_t pos_ = 0;
  std::vector<entry> entries_;
  std::vector<std::string> names_;  // names as torch records them (no folder), in write order
  std::uint64_t combined_crc_ = 0;
  std::function<void(std::span<const std::byte>)> consumed_;
};

}  // namespace pthsafe::detail
