// pthsafe/tensor.hpp - a validated, read-only view of one tensor of a loaded checkpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "pthsafe/dtype.hpp"

namespace pthsafe {

class checkpoint;
namespace detail { struct tensor_record; struct storage_record; }

/// One storage (a `data/<key>` record): the bytes tensors view.
/// Borrowed from the checkpoint that owns it; valid while that checkpoint lives.
class storage_view {
 public:
  std::string_view key() const noexcept;     ///< the storage key ("0", "1", ...)
  std::string_view record() const noexcept;  ///< full record name ("model/data/0")
  dtype element_type() const noexcept;       ///< dtype it was saved with
  std::uint64_t nbytes() const noexcept;     ///< numel * itemsize, equal to the record size
  /// The bytes; empty span in load_mode::metadata. In mmap mode they point into the mapping.
  std::span<const std::byte> bytes() const noexcept;
  /// True when bytes() points into the mapped file rather than an owned buffer.
  bool is_mapped() const noexcept;

 private:
  friend class checkpoint;
  friend class tensor_view;
  explicit storage_view(const detail::storage_record* r) noexcept : r_(r) {}
  const detail::storage_record* r_;
};

/// A tensor: dtype, geometry and the storage it views. Every view handed out has been checked:
/// sizes, strides and offset are non-negative and every element lies inside the storage.
/// Borrowed from the owning checkpoint; valid while that checkpoint lives.
class tensor_view {
 public:
  dtype element_type() const noexcept;
  std::span<const std::int64_t> shape() const noexcept;
  std::span<const std::int64_t> strides() const noexcept;  ///< in elements, as saved
  std::int64_t storage_offset() const noexcept;            ///< in elements, as saved
  std::size_t ndim() const noexcept { return shape().size(); }
  std::uint64_t numel() const noexcept;                    ///< product of shape (fits 63 bits)
  std::uint64_t nbytes() const noexcept;                   ///< numel * itemsize
  bool is_contiguous() const noexcept;                     ///< row-major with no gaps
  /// Location string recorded in the file ("cpu", "cuda:0", "meta"), not where bytes live now.
  std::string_view device() const noexcept;
  bool requires_grad() const noexcept;
  bool is_parameter() const noexcept;     ///< saved as torch.nn.Parameter
  bool is_conj() const noexcept;          ///< conjugate bit: stored data is the un-conjugated buffer
  bool is_neg() const noexcept;           ///< negative bit: stored data is the un-negated buffer
  bool has_storage() const noexcept;      ///< false for meta tensors
  storage_view storage() const noexcept;  ///< requires has_storage()
  /// Address of element [0,...,0] (storage bytes + offset * itemsize); null when no bytes are
  /// loaded (metadata mode, meta tensors) or the tensor is empty.
  const std::byte* data() const noexcept;

 private:
  friend class checkpoint;
  friend class value;
  explicit tensor_view(const detail::tensor_record* r) noexcept : r_(r) {}
  const detail::tensor_record* r_;
};

}  // namespace pthsafe
