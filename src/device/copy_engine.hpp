// The copy engine: everything the device loader asks of a GPU runtime, behind one interface so
// that the chunk scheduler is tested on machines without a GPU (tests/device: a fake engine that
// records every call). cuda_engine.cpp implements it with the CUDA runtime; no_cuda_engine.cpp
// is what a build without the CUDA backend links.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "pthsafe/error.hpp"

namespace pthsafe::detail {

class copy_engine {
 public:
  copy_engine() = default;
  copy_engine(const copy_engine&) = delete;
  copy_engine& operator=(const copy_engine&) = delete;
  virtual ~copy_engine() = default;

  /// CUDA devices present; 0 when there is none or no driver.
  virtual result<int> device_count() = 0;
  /// n > 0 bytes of device memory on `device` (256-byte aligned). Errors: cuda_error.
  virtual result<void*> alloc_device(int device, std::uint64_t n) = 0;
  virtual void free_device(int device, void* p) noexcept = 0;
  /// n > 0 bytes of page-locked host memory usable with every device. Errors: cuda_error.
  virtual result<std::byte*> alloc_pinned(std::size_t n) = 0;
  virtual void free_pinned(std::byte* p) noexcept = 0;
  /// Makes `device` current and creates `streams` streams and `buffers` events on it.
  virtual result<void> open_lanes(int device, unsigned streams, unsigned buffers) = 0;
  /// Destroys the streams and events of open_lanes (after synchronize, or after a failure).
  virtual void close_lanes() noexcept = 0;
  /// Queues a host-to-device copy of n bytes from pinned `src` on stream `stream`.
  virtual result<void> copy_async(void* dst, const std::byte* src, std::size_t n, unsigned stream) = 0;
  /// Records buffer's event on `stream`: it completes when the copies queued so far have.
  virtual result<void> record(unsigned buffer, unsigned stream) = 0;
  /// Blocks until buffer's recorded event has completed (the buffer may be refilled).
  virtual result<void> wait(unsigned buffer) = 0;
  /// Blocks until every queued copy on the current device has completed.
  virtual result<void> synchronize() = 0;
  /// Copies n bytes of device memory back to the host, synchronously (checks and tests).
  virtual result<void> read_back(std::byte* dst, const void* src, std::size_t n) = 0;
};

/// The engine of this build: the CUDA runtime, or (PTHSAFE_CUDA=OFF) one whose every device
/// call fails with cuda_not_built.
std::unique_ptr<copy_engine> make_copy_engine();

}  // namespace pthsafe::detail
