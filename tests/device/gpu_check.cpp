// Device loads on a real GPU: every torch-made fixture loaded to cuda:0 and read back equals the
// CPU load byte for byte (storages and each tensor's first element address). Exits 77 (ctest's
// SKIP_RETURN_CODE) with a message where there is no CUDA device or no CUDA backend.
// Usage: pthsafe_gpu_check [FIXTURES_DIR] (default: this source tree's tests/fixtures; the GPU
// check script passes the carried tree's, which may lie elsewhere).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "device/copy_engine.hpp"
#include "pthsafe/cuda.hpp"
#include "pthsafe/pthsafe.hpp"

int main(int argc, char** argv) {
  using namespace pthsafe;
  const std::span<char*> args(argv, static_cast<std::size_t>(argc));
  const std::filesystem::path fixtures = args.size() > 1 ? args[1] : PTHSAFE_FIXTURES;
  if (!cuda::built_with_cuda()) {
    std::puts("SKIP: pthsafe was built without the CUDA backend (PTHSAFE_CUDA=OFF)");
    return 77;
  }
  auto count = cuda::device_count();
  if (!count) {
    std::printf("SKIP: %s\n", count.error_value().to_string().c_str());
    return 77;
  }
  if (*count == 0) {
    std::puts("SKIP: no CUDA device on this machine");
    return 77;
  }
  auto engine = detail::make_copy_engine();
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(fixtures)) {
    const auto ext = e.path().extension();
    if (ext == ".pt" || ext == ".pth") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  int loaded = 0, failed = 0;
  for (const auto& f : files) {
    load_options lo;
    lo.allow_torchscript = true;
    auto cpu = checkpoint::open(f.string(), lo);
    if (!cpu) continue;  // refused on the CPU too (python_values_unsafe): nothing to compare
    cuda::device_load_options o;
    o.load = lo;
    o.location = cuda::map_location::to({cuda::device::kind::cuda, 0});
    o.staging_bytes = 1 << 16;  // several windows per fixture
    auto d = cuda::device_checkpoint::open(f.string(), o);
    if (!d) {
      std::printf("FAIL %s: %s\n", f.filename().c_str(), d.error_value().to_string().c_str());
      ++failed;
      continue;
    }
    bool same = d->storage_count() == cpu->storage_count() && d->tensor_count() == cpu->tensor_count();
    for (std::size_t i = 0; same && i < cpu->storage_count(); ++i) {
      const auto want = cpu->storage(i).bytes();
      const auto got = d->storage(i);
      if (got.nbytes != want.size() || got.where != cuda::device{cuda::device::kind::cuda, 0}) same = false;
      if (!same || want.empty()) continue;
      std::vector<std::byte> back(want.size());
      if (!engine->read_back(back.data(), got.data, back.size()) || std::memcmp(back.data(), want.data(), want.size()) != 0) same = false;
    }
    for (std::size_t i = 0; same && i < cpu->tensor_count(); ++i) {
      const auto c = cpu->tensor(i);
      const auto t = d->tensor(i);
      if (!c.data() || c.numel() == 0 || !t.data || t.where.type != cuda::device::kind::cuda) continue;
      std::vector<std::byte> first(itemsize(c.element_type()));
      if (!engine->read_back(first.data(), t.data, first.size()) || std::memcmp(first.data(), c.data(), first.size()) != 0) same = false;
    }
    std::printf("%s %s: %zu storages, %llu bytes\n", same ? "ok  " : "FAIL", f.filename().c_str(), cpu->storage_count(),
                static_cast<unsigned long long>(cpu->storage_bytes()));
    same ? ++loaded : ++failed;
  }
  std::printf("%d fixtures bit-exact on cuda:0, %d failed\n", loaded, failed);
  return failed == 0 && loaded > 0 ? 0 : 1;
}
