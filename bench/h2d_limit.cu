// The pinned host-to-device limit for the GPU check (scripts/gpu-check.sh, docs/cuda.md): the
// copies pthsafe's chunk scheduler issues, without reading the file. BYTES go to one device
// block in windows of CHUNK bytes, window k from pinned buffer k % BUFFERS on stream k % STREAMS
// (the loader's defaults: 64 MiB, 3 buffers, 2 streams), then one cudaDeviceSynchronize.
// Prints the seconds of the best of REPS runs (default 2) on stdout.
// Usage: h2d_limit BYTES [CHUNK [BUFFERS [STREAMS [REPS]]]]. Exit 2: no CUDA device.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CHECK(call)                                                                      \
  do {                                                                                   \
    cudaError_t e_ = (call);                                                             \
    if (e_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "h2d_limit: %s: %s\n", #call, cudaGetErrorName(e_));          \
      return 1;                                                                          \
    }                                                                                    \
  } while (0)

int main(int argc, char** argv) {
  if (argc < 2 || argc > 6) {
    std::fprintf(stderr, "usage: %s BYTES [CHUNK [BUFFERS [STREAMS [REPS]]]]\n", argv[0]);
    return 2;
  }
  const size_t bytes = std::strtoull(argv[1], nullptr, 10);
  const size_t chunk = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : size_t{64} << 20;
  const int buffers = argc > 3 ? std::atoi(argv[3]) : 3;
  const int streams = argc > 4 ? std::atoi(argv[4]) : 2;
  const int reps = argc > 5 ? std::atoi(argv[5]) : 2;
  if (bytes == 0 || chunk == 0 || buffers < 1 || streams < 1 || streams > buffers || reps < 1) {
    std::fprintf(stderr, "h2d_limit: bad arguments\n");
    return 2;
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "h2d_limit: no CUDA device\n");
    return 2;
  }
  CHECK(cudaSetDevice(0));
  const size_t buf_bytes = std::min(chunk, bytes);
  std::vector<void*> bufs(static_cast<size_t>(buffers));
  for (auto& b : bufs) {
    CHECK(cudaHostAlloc(&b, buf_bytes, cudaHostAllocPortable));
    std::memset(b, 0x3c, buf_bytes);
  }
  std::vector<cudaStream_t> ss(static_cast<size_t>(streams));
  for (auto& s : ss) CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  char* dev = nullptr;
  CHECK(cudaMalloc(&dev, bytes));
  CHECK(cudaMemcpy(dev, bufs[0], std::min(buf_bytes, size_t{1} << 20), cudaMemcpyHostToDevice));  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    size_t k = 0;
    for (size_t off = 0; off < bytes; off += buf_bytes, ++k) {
      const size_t n = std::min(buf_bytes, bytes - off);
      CHECK(cudaMemcpyAsync(dev + off, bufs[k % bufs.size()], n, cudaMemcpyHostToDevice, ss[k % ss.size()]));
    }
    CHECK(cudaDeviceSynchronize());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("%.9f\n", best);
  CHECK(cudaFree(dev));
  for (auto& s : ss) CHECK(cudaStreamDestroy(s));
  for (auto& b : bufs) CHECK(cudaFreeHost(b));
  return 0;
}
