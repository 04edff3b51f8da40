#include "model/state.hpp"
#include "model/dtype_facts.hpp"
#include "pthsafe/tensor.hpp"

namespace pthsafe {

std::string_view storage_view::key() const noexcept { return r_->key; }
std::string_view storage_view::record() const noexcept { return r_->record(); }
dtype storage_view::element_type() const noexcept { return r_->type; }
std::uint64_t storage_view::nbytes() const noexcept { return r_->nbytes; }
std::span<const std::byte> storage_view::bytes() const noexcept {
  return r_->data ? std::span<const std::byte>(r_->data, r_->nbytes) : std::span<const std::byte>();
}
bool storage_view::is_mapped() const noexcept { return r_->mapped; }

dtype tensor_view::element_type() const noexcept { return r_->type; }
std::span<const std::int64_t> tensor_view::shape() const noexcept { return r_->shape(); }
std::span<const std::int64_t> tensor_view::strides() const noexcept { return r_->stride(); }
std::int64_t tensor_view::storage_offset() const noexcept { return r_->offset; }
std::uint64_t tensor_view::numel() const noexcept { return r_->numel; }
std::uint64_t tensor_view::nbytes() const noexcept {
  if (r_->layout != tensor_layout::strided) {
    std::uint64_t n = 0;
    for (const auto* p : r_->extra->parts)
      if (p) n += tensor_view(p).nbytes();
    return n;
  }
  if (const unsigned per = detail::values_per_byte(r_->type); per > 1) return (r_->numel + per - 1) / per;
  return r_->numel * itemsize(r_->type);
}
bool tensor_view::is_contiguous() const noexcept {
  // Empty tensors are trivially contiguous; skipping them also keeps `expected` below the
  // (validated, < 2^63) element count, so the products cannot overflow.
  if (r_->numel == 0) return true;
  std::int64_t expected = 1;
  for (std::size_t i = r_->shape().size(); i-- > 0;) {
    if (r_->shape()[i] == 1) continue;
    if (r_->stride()[i] != expected) return false;
    expected *= r_->shape()[i];
  }
  return true;
}
std::string_view tensor_view::device() const noexcept { return r_->device(); }
bool tensor_view::requires_grad() const noexcept { return r_->requires_grad; }
bool tensor_view::is_parameter() const noexcept { return r_->parameter; }
bool tensor_view::is_conj() const noexcept { return r_->conj; }
bool tensor_view::is_neg() const noexcept { return r_->neg; }
bool tensor_view::has_storage() const noexcept { return r_->storage != nullptr; }
storage_view tensor_view::storage() const {
  detail::require(r_->storage != nullptr, "tensor_view::storage(): requires has_storage()");
  return storage_view(r_->storage);
}
tensor_layout tensor_view::layout() const noexcept { return r_->layout; }
namespace {
bool compressed(tensor_layout l) { return l != tensor_layout::strided && l != tensor_layout::sparse_coo; }
bool per_channel(quant_scheme q) {
  return q == quant_scheme::per_channel_affine || q == quant_scheme::per_channel_affine_float_qparams;
}
}  // namespace
tensor_view tensor_view::sparse_indices() const {
  detail::require(r_->layout != tensor_layout::strided, "tensor_view::sparse_indices(): requires is_sparse()");
  return tensor_view(r_->extra->parts[0]);
}
tensor_view tensor_view::sparse_plain_indices() const {
  detail::require(compressed(r_->layout),
                  "tensor_view::sparse_plain_indices(): requires a compressed layout (sparse_csr, sparse_csc, sparse_bsr, sparse_bsc)");
  return tensor_view(r_->extra->parts[1]);
}
tensor_view tensor_view::sparse_values() const {
  detail::require(r_->layout != tensor_layout::strided, "tensor_view::sparse_values(): requires is_sparse()");
  return tensor_view(r_->extra->parts[2]);
}
int tensor_view::sparse_coalesced() const {
  detail::require(r_->layout == tensor_layout::sparse_coo, "tensor_view::sparse_coalesced(): requires layout() == sparse_coo");
  return r_->coalesced;
}
quant_scheme tensor_view::qscheme() const noexcept { return r_->qscheme; }
double tensor_view::q_scale() const {
  detail::require(r_->qscheme == quant_scheme::per_tensor_affine, "tensor_view::q_scale(): requires qscheme() == per_tensor_affine");
  return r_->extra->q_scale;
}
std::int64_t tensor_view::q_zero_point() const {
  detail::require(r_->qscheme == quant_scheme::per_tensor_affine,
                  "tensor_view::q_zero_point(): requires qscheme() == per_tensor_affine");
  return r_->extra->q_zero_point;
}
std::int64_t tensor_view::q_axis() const {
  detail::require(per_channel(r_->qscheme), "tensor_view::q_axis(): requires a per-channel qscheme()");
  return r_->extra->q_axis;
}
tensor_view tensor_view::q_per_channel_scales() const {
  detail::require(per_channel(r_->qscheme), "tensor_view::q_per_channel_scales(): requires a per-channel qscheme()");
  return tensor_view(r_->extra->parts[0]);
}
tensor_view tensor_view::q_per_channel_zero_points() const {
  detail::require(per_channel(r_->qscheme), "tensor_view::q_per_channel_zero_points(): requires a per-channel qscheme()");
  return tensor_view(r_->extra->parts[1]);
}
std::string_view tensor_view::subclass() const noexcept { return r_->extra->subclass; }

std::string_view layout_name(tensor_layout l) noexcept {
  switch (l) {
    case tensor_layout::strided: return "strided";
    case tensor_layout::sparse_coo: return "sparse_coo";
    case tensor_layout::sparse_csr: return "sparse_csr";
    case tensor_layout::sparse_csc: return "sparse_csc";
    case tensor_layout::sparse_bsr: return "sparse_bsr";
    case tensor_layout::sparse_bsc: return "sparse_bsc";
  }
  return "strided";
}

std::string_view quant_scheme_name(quant_scheme q) noexcept {
  switch (q) {
    case quant_scheme::none: return "none";
    case quant_scheme::per_tensor_affine: return "per_tensor_affine";
    case quant_scheme::per_channel_affine: return "per_channel_affine";
    case quant_scheme::per_channel_affine_float_qparams: return "per_channel_affine_float_qparams";
  }
  return "none";
}

const std::byte* tensor_view::data() const noexcept {
  if (!r_->storage || !r_->storage->data || r_->numel == 0) return nullptr;
  return r_->storage->data + static_cast<std::uint64_t>(r_->offset) * itemsize(r_->type);
}

}  // namespace pthsafe
