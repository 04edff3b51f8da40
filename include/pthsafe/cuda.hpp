// pthsafe/cuda.hpp - loading a checkpoint's tensors into CUDA device memory (torch's map_location).
//
// Usable without the CUDA headers: device memory is a plain pointer. A pthsafe built without the
// CUDA backend (PTHSAFE_CUDA=OFF) still has this API: loads whose targets are all "cpu" work,
// any CUDA target fails with errc::cuda_not_built. docs/cuda.md describes the pipeline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/options.hpp"
#include "pthsafe/tensor.hpp"

namespace pthsafe::dlpack {
// The DLPack ABI (dmlc/dlpack, the unversioned DLManagedTensor that torch.from_dlpack and
// every array library accept in a "dltensor" capsule), declared here from the specification.
enum device_type : std::int32_t { kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3 };
enum type_code : std::uint8_t { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLComplex = 5, kDLBool = 6 };
struct DLDevice {
  std::int32_t device_type;  ///< a device_type value
  std::int32_t device_id;
};
struct DLDataType {
  std::uint8_t code;  ///< a type_code value
  std::uint8_t bits;
  std::uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  std::int32_t ndim;
  DLDataType dtype;
  std::int64_t* shape;
  std::int64_t* strides;  ///< in elements
  std::uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
}  // namespace pthsafe::dlpack

namespace pthsafe::cuda {

/// A device as torch names it: "cpu" or "cuda:N" ("cuda" alone is cuda:0, torch's current
/// device in a fresh process).
struct device {
  enum class kind : std::uint8_t { cpu, cuda };
  kind type = kind::cpu;
  int index = 0;  ///< CUDA ordinal; 0 for cpu
  friend bool operator==(const device&, const device&) = default;
};
/// Parses "cpu", "cuda", "cuda:N" (N decimal without leading zeros, < 2^16).
/// Errors: cuda_bad_map_location (naming the string).
PTHSAFE_API result<device> parse_device(std::string_view text);
/// "cpu" or "cuda:N".
PTHSAFE_API std::string device_name(device d);

/// Where each storage goes, as torch.load's map_location: by default each storage's saved
/// location; a device string for everything; a table from saved location (exact string, as
/// torch's dict lookup) to target, locations not in it keeping theirs; or a callback given the
/// saved location returning the target (nullopt: keep the saved one). A target that does not
/// exist is an error naming it, never a silent fallback.
class PTHSAFE_API map_location {
 public:
  using callback_type = std::function<std::optional<std::string>(std::string_view saved)>;
  map_location() = default;  ///< each storage's saved location
  static map_location to(device d);
  static map_location table(std::vector<std::pair<std::string, device>> entries);
  static map_location callback(callback_type fn);
  /// The CLI form: "cuda:0" (one target) or "saved=target[,saved=target...]" (a table).
  /// Errors: cuda_bad_map_location.
  static result<map_location> parse(std::string_view spec);

  /// The target of a storage saved at `saved`, checked against `cuda_devices` (how many CUDA
  /// devices exist). Errors: cuda_bad_map_location (a location or callback result that is no
  /// device), cuda_no_device (a CUDA target past the count, or none at all).
  result<device> resolve(std::string_view saved, int cuda_devices) const;
  /// The target of a storage saved at `saved`, not yet checked against the devices present.
  /// Errors: cuda_bad_map_location.
  result<device> target(std::string_view saved) const;
  /// True when resolve() can only ever yield cpu for a location that is "cpu" (no CUDA query
  /// needed for such a file): the default, or a table/target that does not name CUDA.
  bool is_default() const noexcept { return form_ == form::saved; }

 private:
  enum class form : std::uint8_t { saved, single, table, callback };
  form form_ = form::saved;
  device single_{};
  std::vector<std::pair<std::string, device>> table_;
  callback_type fn_;
};

/// Options of a device load.
struct device_load_options {
  /// How the file is checked. Its mode is ignored: storages are read from the mapped file
  /// (deflated and big-endian records through a host copy first) into the staging buffers.
  load_options load{};
  cuda::map_location location{};
  /// Bytes of each pinned staging buffer (4 KiB .. 1 GiB). Default 64 MiB.
  std::size_t staging_bytes = std::size_t{64} << 20;
  /// How many staging buffers take turns (1 .. 16): 2 double-buffers, 3 triple-buffers (default).
  unsigned staging_buffers = 3;
  /// CUDA streams the copies are spread over (1 .. staging_buffers). Default 2.
  unsigned streams = 2;
  /// Threads filling a staging buffer from the file (1 .. 64; 0: min(usable CPUs, 8)).
  unsigned fill_threads = 0;
};

/// One storage after a device load: where its bytes live now.
struct device_storage {
  void* data = nullptr;       ///< device pointer (cuda) or host pointer (cpu); null when empty
  std::uint64_t nbytes = 0;
  cuda::device where{};
  storage_view host;          ///< the storage as the file holds it (key, record, dtype)
};

/// One tensor after a device load. data is element [0,...,0] (storage + offset * itemsize);
/// null for tensors without storage (meta, sparse, wrapper subclasses) or without bytes.
struct device_tensor {
  void* data = nullptr;
  dtype element_type = dtype::float32;
  std::span<const std::int64_t> shape{}, strides{};  ///< strides in elements, as saved
  std::int64_t storage_offset = 0;
  cuda::device where{};
  tensor_view host;  ///< every other property (requires_grad, layout, saved location, ...)
};

namespace detail { struct device_state; }

/// A checkpoint whose storages were copied to their target devices. Owns the device memory
/// (freed with the last of this object and the DLPack tensors exported from it) and the host
/// checkpoint (the value tree is the same as a CPU load's; shared storages are copied once).
class PTHSAFE_API device_checkpoint {
 public:
  /// Opens, checks and loads `path`; returns after the final synchronize.
  /// Errors: those of checkpoint::open, cuda_bad_map_location, cuda_no_device, cuda_not_built,
  /// cuda_error, limit_exceeded (staging options out of range).
  static result<device_checkpoint> open(const std::string& path, const device_load_options& opts = {});

  device_checkpoint(device_checkpoint&&) noexcept;
  device_checkpoint& operator=(device_checkpoint&&) noexcept;
  ~device_checkpoint();

  // Every member below throws precondition_error on a moved-from object.
  /// The host checkpoint: root(), find(), metadata. Its storage bytes are the file's.
  const checkpoint& host() const&;
  const checkpoint& host() const&& = delete;
  std::size_t tensor_count() const;
  /// Requires i < tensor_count().
  device_tensor tensor(std::size_t i) const&;
  device_tensor tensor(std::size_t i) const&& = delete;
  std::size_t storage_count() const;
  /// Requires i < storage_count(); same order as host().storage(i).
  device_storage storage(std::size_t i) const&;
  device_storage storage(std::size_t i) const&& = delete;
  /// The device form of a tensor of host() (find_tensor, sparse components, ...).
  result<device_tensor> locate(tensor_view t) const&;
  result<device_tensor> locate(tensor_view t) const&& = delete;
  /// A DLPack tensor for tensor(i); it keeps the device memory alive until its deleter runs.
  /// Errors: dlpack_unsupported_dtype, type_mismatch (no storage).
  result<dlpack::DLManagedTensor*> to_dlpack(std::size_t i) const;

 private:
  device_checkpoint() = default;
  std::shared_ptr<const detail::device_state> s_;
  const detail::device_state& state() const;
  friend struct detail::device_state;
};

/// True when this pthsafe was built with the CUDA backend.
PTHSAFE_API bool built_with_cuda() noexcept;
/// CUDA devices present (0 when none or no driver). Errors: cuda_not_built, cuda_error.
PTHSAFE_API result<int> device_count();

}  // namespace pthsafe::cuda
