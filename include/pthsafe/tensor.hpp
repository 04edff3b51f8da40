// pthsafe/tensor.hpp - a validated, read-only view of one tensor of a loaded checkpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "pthsafe/dtype.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"

namespace pthsafe {

class checkpoint;
namespace detail { struct tensor_record; struct storage_record; }

/// How a tensor's elements are laid out (torch.layout). Sparse tensors own no storage: their
/// data are component tensors (indices, values) reached through tensor_view.
enum class tensor_layout : std::uint8_t { strided, sparse_coo, sparse_csr, sparse_csc, sparse_bsr, sparse_bsc };
/// torch's name without "torch." ("strided", "sparse_coo", "sparse_csr", ...).
PTHSAFE_API std::string_view layout_name(tensor_layout l) noexcept;

/// Quantization scheme of a quantized tensor (torch.qscheme) as torch reports it once loaded:
/// per-channel tensors whose zero points are floating point are per_channel_affine_float_qparams
/// whatever scheme the file names (torch writes that scheme as per_channel_affine).
enum class quant_scheme : std::uint8_t { none, per_tensor_affine, per_channel_affine, per_channel_affine_float_qparams };
/// torch's name without "torch." ("per_tensor_affine", ...); "none" for unquantized tensors.
PTHSAFE_API std::string_view quant_scheme_name(quant_scheme q) noexcept;

/// One storage (a `data/<key>` record): the bytes tensors view.
/// Borrowed from the checkpoint that owns it; valid while that checkpoint lives.
class PTHSAFE_API storage_view {
 public:
  std::string_view key() const noexcept;     ///< the storage key ("0", "1", ...)
  std::string_view record() const noexcept;  ///< full record name ("model/data/0")
  dtype element_type() const noexcept;       ///< dtype it was saved with
  std::uint64_t nbytes() const noexcept;     ///< numel * itemsize, equal to the record size
  /// The bytes; empty span in load_mode::metadata. In mmap mode they point into the mapping.
  std::span<const std::byte> bytes() const noexcept;
  /// True when bytes() points into the mapped file rather than an owned buffer.
  bool is_mapped() const noexcept;
  /// Identity of the storage: equal for every view of one storage of one checkpoint, distinct
  /// between storages alive at the same time (tensors sharing a storage share it).
  std::uintptr_t id() const noexcept { return reinterpret_cast<std::uintptr_t>(r_); }

 private:
  friend class checkpoint;
  friend class tensor_view;
  explicit storage_view(const detail::storage_record* r) noexcept : r_(r) {}
  const detail::storage_record* r_;
};

/// A tensor: dtype, geometry and the storage it views. Every view handed out has been checked:
/// sizes, strides and offset are non-negative and every element lies inside the storage.
/// Borrowed from the owning checkpoint; valid while that checkpoint lives (a tensor_view is a
/// handle: the spans it returns point into the checkpoint, not into the view, so a temporary
/// view is safe to read through). Members marked "requires" throw precondition_error when
/// called outside their precondition; the rest never throw.
class PTHSAFE_API tensor_view {
 public:
  dtype element_type() const noexcept;
  std::span<const std::int64_t> shape() const noexcept;
  std::span<const std::int64_t> strides() const noexcept;  ///< in elements, as saved
  std::int64_t storage_offset() const noexcept;            ///< in elements, as saved
  std::size_t ndim() const noexcept { return shape().size(); }
  std::uint64_t numel() const noexcept;                    ///< product of shape (fits 63 bits)
  /// numel * itemsize; packed quantized types: their packed bytes; sparse: the sum of the
  /// components' nbytes.
  std::uint64_t nbytes() const noexcept;
  bool is_contiguous() const noexcept;                     ///< row-major with no gaps
  /// Location string recorded in the file ("cpu", "cuda:0", "meta"), not where bytes live now.
  std::string_view device() const noexcept;
  bool requires_grad() const noexcept;
  bool is_parameter() const noexcept;     ///< saved as torch.nn.Parameter
  bool is_conj() const noexcept;          ///< conjugate bit: stored data is the un-conjugated buffer
  bool is_neg() const noexcept;           ///< negative bit: stored data is the un-negated buffer
  bool has_storage() const noexcept;      ///< false for meta, sparse and wrapper-subclass tensors
  /// The storage it views. Requires has_storage(): throws precondition_error otherwise.
  storage_view storage() const;
  /// Address of element [0,...,0] (storage bytes + offset * itemsize); null when no bytes are
  /// loaded (metadata mode, meta tensors) or the tensor is empty.
  const std::byte* data() const noexcept;

  // ---- layouts: sparse tensors (torch._utils._rebuild_sparse_tensor) -----------------------
  // Every invariant torch's _validate_sparse_{coo,compressed}_tensor_args checks (index dtypes
  // and ranks, nnz agreement, index bounds, compressed indices starting at 0, ending at nnz and
  // non-decreasing, plain indices sorted and distinct per row, block shapes) holds before the
  // checkpoint exists. A sparse tensor has no storage, strides or offset of its own; shape() is
  // its dense shape and element_type() its values' dtype.
  tensor_layout layout() const noexcept;
  bool is_sparse() const noexcept { return layout() != tensor_layout::strided; }
  // Each accessor below throws precondition_error (naming the rule) when its layout
  // requirement does not hold: a dense tensor has no components.
  /// COO: indices, int64 [sparse_dim, nnz]. CSR/BSR: crow_indices. CSC/BSC: ccol_indices.
  /// Requires is_sparse().
  tensor_view sparse_indices() const;
  /// CSR/BSR: col_indices. CSC/BSC: row_indices. Requires a compressed layout (not COO).
  tensor_view sparse_plain_indices() const;
  /// The values: [nnz, dense...] (COO, CSR, CSC) or [nnz, block..., dense...] (BSR, BSC).
  /// Requires is_sparse().
  tensor_view sparse_values() const;
  /// COO: 1 / 0 when the file records is_coalesced (torch >= 2.1 does), -1 when it does not.
  /// Requires layout() == sparse_coo.
  int sparse_coalesced() const;

  // ---- quantized tensors (torch._utils._rebuild_qtensor) ------------------------------------
  // The view, storage and data() are the integer representation (qint8, quint8, qint32; for
  // quint4x2 / quint2x4 the packed bytes, two or four values per byte).
  bool is_quantized() const noexcept { return qscheme() != quant_scheme::none; }
  quant_scheme qscheme() const noexcept;
  // The parameters below belong to one scheme each; asking a tensor of another scheme (or an
  // unquantized one) throws precondition_error naming the scheme required.
  double q_scale() const;             ///< requires qscheme() == per_tensor_affine
  std::int64_t q_zero_point() const;  ///< requires qscheme() == per_tensor_affine
  std::int64_t q_axis() const;        ///< requires a per-channel scheme; 0 <= axis < ndim()
  /// Per-channel schemes: the scales tensor (1-D, shape()[q_axis()] elements) as the file holds
  /// it. torch converts it to float64 (per_channel_affine) or float32 (float qparams) on load;
  /// lists in the file are converted here exactly as torch converts them. Requires a
  /// per-channel scheme.
  tensor_view q_per_channel_scales() const;
  /// Per-channel schemes: the zero points (integer for per_channel_affine, which torch converts
  /// to int64; floating for float qparams, converted to float32). Requires a per-channel scheme.
  tensor_view q_per_channel_zero_points() const;

  // ---- tensors without data -----------------------------------------------------------------
  /// _rebuild_wrapper_subclass: the subclass's "module.Name" (a caller-allowed global); such a
  /// tensor has no storage. Empty for every other tensor.
  std::string_view subclass() const noexcept;

 private:
  friend class checkpoint;
  friend class value;
  explicit tensor_view(const detail::tensor_record* r) noexcept : r_(r) {}
  const detail::tensor_record* r_;
};

}  // namespace pthsafe
