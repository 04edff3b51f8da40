#include "core/state.hpp"
#include "pthsafe/tensor.hpp"

namespace pthsafe {

std::string_view storage_view::key() const noexcept { return r_->key; }
std::string_view storage_view::record() const noexcept { return r_->record; }
dtype storage_view::element_type() const noexcept { return r_->type; }
std::uint64_t storage_view::nbytes() const noexcept { return r_->nbytes; }
std::span<const std::byte> storage_view::bytes() const noexcept {
  return r_->data ? std::span<const std::byte>(r_->data, r_->nbytes) : std::span<const std::byte>();
}
bool storage_view::is_mapped() const noexcept { return r_->mapped; }

dtype tensor_view::element_type() const noexcept { return r_->type; }
std::span<const std::int64_t> tensor_view::shape() const noexcept { return r_->shape; }
std::span<const std::int64_t> tensor_view::strides() const noexcept { return r_->stride; }
std::int64_t tensor_view::storage_offset() const noexcept { return r_->offset; }
std::uint64_t tensor_view::numel() const noexcept { return r_->numel; }
std::uint64_t tensor_view::nbytes() const noexcept { return r_->numel * itemsize(r_->type); }
bool tensor_view::is_contiguous() const noexcept {
  std::int64_t expected = 1;
  for (std::size_t i = r_->shape.size(); i-- > 0;) {
    if (r_->shape[i] == 1) continue;
    if (r_->stride[i] != expected) return r_->numel == 0;
    expected *= r_->shape[i];
  }
  return true;
}
std::string_view tensor_view::device() const noexcept { return r_->device; }
bool tensor_view::requires_grad() const noexcept { return r_->requires_grad; }
bool tensor_view::is_parameter() const noexcept { return r_->parameter; }
bool tensor_view::is_conj() const noexcept { return r_->conj; }
bool tensor_view::is_neg() const noexcept { return r_->neg; }
bool tensor_view::has_storage() const noexcept { return r_->storage != nullptr; }
storage_view tensor_view::storage() const noexcept { return storage_view(r_->storage); }
const std::byte* tensor_view::data() const noexcept {
  if (!r_->storage || !r_->storage->data || r_->numel == 0) return nullptr;
  return r_->storage->data + static_cast<std::uint64_t>(r_->offset) * itemsize(r_->type);
}

}  // namespace pthsafe
