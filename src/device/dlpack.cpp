// DLPack export (dmlc/dlpack's DLManagedTensor, declared in pthsafe/cuda.hpp): the tensor's
// element pointer with byte_offset 0 (consumers that ignore byte_offset read the right bytes),
// copies of shape and strides, and a share of the device state so that the memory outlives the
// device_checkpoint until the consumer calls the deleter.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "device/device_state.hpp"

namespace pthsafe::cuda {
namespace {

std::optional<dlpack::DLDataType> dl_type(dtype t) {
  using enum dtype;
  auto of = [](std::uint8_t code, std::size_t bits) {
    return dlpack::DLDataType{code, static_cast<std::uint8_t>(bits), 1};
  };
  switch (t) {
    case float64: case float32: case float16: return of(dlpack::kDLFloat, itemsize(t) * 8);
    case bfloat16: return of(dlpack::kDLBfloat, 16);
    case complex128: case complex64: case complex32: return of(dlpack::kDLComplex, itemsize(t) * 8);
    case int64: case int32: case int16: case int8: return of(dlpack::kDLInt, itemsize(t) * 8);
    case uint8: case uint16: case uint32: case uint64: return of(dlpack::kDLUInt, itemsize(t) * 8);
    case boolean: return of(dlpack::kDLBool, 8);
    default: return std::nullopt;  // float8/float4, quantized and bits types have no DLPack code here
  }
}

struct managed {
  dlpack::DLManagedTensor dl{};
  std::shared_ptr<const detail::device_state> keep;
  std::vector<std::int64_t> shape, strides;
};

void release(dlpack::DLManagedTensor* self) {
  delete static_cast<managed*>(self->manager_ctx);  // NOLINT(cppcoreguidelines-owning-memory)
}

}  // namespace

result<dlpack::DLManagedTensor*> device_checkpoint::to_dlpack(std::size_t i) const {
  const device_tensor t = state().locate(state().host->tensor(i));
  if (!t.host.has_storage() || t.host.is_sparse())
    return make_error(errc::type_mismatch, "DLPack export needs a strided tensor with storage");
  const auto type = dl_type(t.element_type);
  if (!type) return make_error(errc::dlpack_unsupported_dtype, "DLPack has no code for " + std::string(dtype_name(t.element_type)));
  auto m = std::make_unique<managed>();
  m->keep = s_;
  m->shape.assign(t.shape.begin(), t.shape.end());
  m->strides.assign(t.strides.begin(), t.strides.end());
  auto& dl = m->dl.dl_tensor;
  dl.data = t.data;
  dl.device = t.where.type == device::kind::cuda ? dlpack::DLDevice{dlpack::kDLCUDA, t.where.index}
                                                 : dlpack::DLDevice{dlpack::kDLCPU, 0};
  dl.ndim = static_cast<std::int32_t>(m->shape.size());
  dl.dtype = *type;
  dl.shape = m->shape.data();
  dl.strides = m->strides.data();
  dl.byte_offset = 0;
  m->dl.manager_ctx = m.get();
  m->dl.deleter = &release;
  return &m.release()->dl;
}

}  // namespace pthsafe::cuda
