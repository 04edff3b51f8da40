// The copy engine on the CUDA runtime (linked statically: a program needs only the driver).
// Every call is checked; a failure becomes errc::cuda_error naming the call and the CUDA error
// (cudaGetErrorName), e.g. "cudaMalloc: cudaErrorMemoryAllocation (out of memory)".
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "device/copy_engine.hpp"
#include "pthsafe/cuda.hpp"

namespace pthsafe::detail {
namespace {

error cuda_failure(const char* call, cudaError_t rc) {
  (void)cudaGetLastError();  // clear the sticky-free error state for the next call
  return make_error(errc::cuda_error, std::string(call) + ": " + cudaGetErrorName(rc) + " (" + cudaGetErrorString(rc) + ")");
}

#define PTHSAFE_CUDA_CHECK(call)                                       \
  do {                                                                 \
    const cudaError_t pthsafe_rc_ = (call);                            \
    if (pthsafe_rc_ != cudaSuccess) return cuda_failure(#call, pthsafe_rc_); \
  } while (0)

class cuda_engine final : public copy_engine {
 public:
  ~cuda_engine() override { close_lanes(); }

  result<int> device_count() override {
    int n = 0;
    const cudaError_t rc = cudaGetDeviceCount(&n);
    // No device, or no driver at all (a machine with the toolkit but no GPU): zero devices.
    if (rc == cudaErrorNoDevice || rc == cudaErrorInsufficientDriver) {
      (void)cudaGetLastError();
      return 0;
    }
    if (rc != cudaSuccess) return cuda_failure("cudaGetDeviceCount", rc);
    return n;
  }
  result<void*> alloc_device(int device, std::uint64_t n) override {
    PTHSAFE_CUDA_CHECK(cudaSetDevice(device));
    void* p = nullptr;
    PTHSAFE_CUDA_CHECK(cudaMalloc(&p, static_cast<std::size_t>(n)));
    return p;
  }
  void free_device(int device, void* p) noexcept override {
    if (cudaSetDevice(device) == cudaSuccess) (void)cudaFree(p);
    (void)cudaGetLastError();
  }
  result<std::byte*> alloc_pinned(std::size_t n) override {
    void* p = nullptr;
    PTHSAFE_CUDA_CHECK(cudaHostAlloc(&p, n, cudaHostAllocPortable));
    return static_cast<std::byte*>(p);
  }
  void free_pinned(std::byte* p) noexcept override {
    (void)cudaFreeHost(p);
    (void)cudaGetLastError();
  }
  result<void> open_lanes(int device, unsigned streams, unsigned buffers) override {
    close_lanes();
    PTHSAFE_CUDA_CHECK(cudaSetDevice(device));
    for (unsigned i = 0; i < streams; ++i) {
      cudaStream_t s = nullptr;
      PTHSAFE_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      streams_.push_back(s);
    }
    for (unsigned i = 0; i < buffers; ++i) {
      cudaEvent_t ev = nullptr;
      PTHSAFE_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
      events_.push_back(ev);
    }
    return {};
  }
  void close_lanes() noexcept override {
    for (auto ev : events_) (void)cudaEventDestroy(ev);
    for (auto s : streams_) (void)cudaStreamDestroy(s);
    events_.clear();
    streams_.clear();
  }
  result<void> copy_async(void* dst, const std::byte* src, std::size_t n, unsigned stream) override {
    PTHSAFE_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, streams_.at(stream)));
    return {};
  }
  result<void> record(unsigned buffer, unsigned stream) override {
    PTHSAFE_CUDA_CHECK(cudaEventRecord(events_.at(buffer), streams_.at(stream)));
    return {};
  }
  result<void> wait(unsigned buffer) override {
    PTHSAFE_CUDA_CHECK(cudaEventSynchronize(events_.at(buffer)));
    return {};
  }
  result<void> synchronize() override {
    for (auto s : streams_) PTHSAFE_CUDA_CHECK(cudaStreamSynchronize(s));
    return {};
  }
  result<void> read_back(std::byte* dst, const void* src, std::size_t n) override {
    PTHSAFE_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
    return {};
  }

 private:
  std::vector<cudaStream_t> streams_;
  std::vector<cudaEvent_t> events_;
};

}  // namespace

std::unique_ptr<copy_engine> make_copy_engine() { return std::make_unique<cuda_engine>(); }

}  // namespace pthsafe::detail

namespace pthsafe::cuda {
bool built_with_cuda() noexcept { return true; }
result<int> device_count() { return pthsafe::detail::make_copy_engine()->device_count(); }
}  // namespace pthsafe::cuda
