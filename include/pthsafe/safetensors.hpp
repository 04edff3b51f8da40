// pthsafe/safetensors.hpp - a .safetensors file: 8-byte little-endian header length, a JSON
// header {"__metadata__": {str: str}, "name": {"dtype", "shape", "data_offsets"}, ...}, then the
// tensors' bytes (C order, little-endian), every byte belonging to exactly one tensor.
//
// Everything the safetensors crate (huggingface/safetensors, safetensors/src/tensor.rs) checks
// is checked, and more where readers could differ: duplicate names (serde keeps the last,
// others the first), unknown members, invalid UTF-8 or escapes in the header. docs/match.md
// lists the rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pthsafe/dtype.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe {

struct safetensors_access;

/// Largest header the safetensors crate reads (its MAX_HEADER_SIZE).
inline constexpr std::uint64_t safetensors_max_header = 100'000'000;

/// One tensor as the header describes it.
struct safetensors_tensor {
  std::string name;
  dtype type = dtype::float32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  ///< data_offsets[0]: from the start of the data section
  std::uint64_t end = 0;    ///< data_offsets[1]; end - begin == numel * itemsize(type)
  /// The tensor's bytes (end - begin of them) in the file's mapping or the caller's buffer.
  std::span<const std::byte> bytes;
};

class PTHSAFE_API safetensors_file {
 public:
  /// Maps `path` read-only and validates the header and the layout of the data section.
  /// Errors: io_open / io_read; safetensors_bad_header (under 8 bytes, a header length past
  /// the file or over safetensors_max_header, a header not starting with '{', not an object, a
  /// member that is not {dtype, shape, data_offsets} or __metadata__ not {str: str}, numel or
  /// byte size overflowing); safetensors_bad_offsets (offsets that, in offset order, do not
  /// start at 0, touch end to end and end at the end of the file, or whose span differs from
  /// numel * itemsize); safetensors_bad_dtype; json_malformed, json_duplicate_key and
  /// limit_exceeded (max_json_*, max_dims, max_tensors) from the header text.
  static result<safetensors_file> open(const std::string& path, const limits& lim = {});
  /// The same over a caller's buffer, which must outlive the result (not copied).
  static result<safetensors_file> open_buffer(std::span<const std::byte> bytes, const limits& lim = {});

  safetensors_file(safetensors_file&&) noexcept;
  safetensors_file& operator=(safetensors_file&&) noexcept;
  ~safetensors_file();

  /// `__metadata__`, in header order (empty when absent).
  const std::vector<std::pair<std::string, std::string>>& metadata() const& noexcept;
  const std::vector<std::pair<std::string, std::string>>& metadata() const&& = delete;
  /// The tensors in the order the header lists them (not offset order). This is the order a
  /// match reference takes (the safetensors package writes the header sorted by dtype
  /// alignment, then name, so it is not the model's state_dict order: docs/match.md).
  const std::vector<safetensors_tensor>& tensors() const& noexcept;
  const std::vector<safetensors_tensor>& tensors() const&& = delete;
  /// Offset of the data section in the file: 8 + header length.
  std::uint64_t data_offset() const noexcept;
  /// For a mapped file: the whole pages inside `bytes` may leave this process's memory now
  /// (they stay valid, read from the file again on next access); see checkpoint::release_pages.
  void release_pages(std::span<const std::byte> bytes) const noexcept;

 private:
  struct impl;
  friend struct safetensors_access;
  explicit safetensors_file(std::unique_ptr<impl> p) noexcept;
  std::unique_ptr<impl> p_;
};

}  // namespace pthsafe
