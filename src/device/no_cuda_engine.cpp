// The copy engine of a build without the CUDA backend (PTHSAFE_CUDA=OFF or no toolkit found):
// every device call fails with cuda_not_built, so loads whose targets are all "cpu" still work.
#include "device/copy_engine.hpp"
#include "pthsafe/cuda.hpp"

namespace pthsafe::detail {
namespace {

error not_built() { return make_error(errc::cuda_not_built, "this pthsafe was built without the CUDA backend (PTHSAFE_CUDA=OFF)"); }

class no_cuda_engine final : public copy_engine {
 public:
  result<int> device_count() override { return not_built(); }
  result<void*> alloc_device(int, std::uint64_t) override { return not_built(); }
  void free_device(int, void*) noexcept override {}
  result<std::byte*> alloc_pinned(std::size_t) override { return not_built(); }
  void free_pinned(std::byte*) noexcept override {}
  result<void> open_lanes(int, unsigned, unsigned) override { return not_built(); }
  void close_lanes() noexcept override {}
  result<void> copy_async(void*, const std::byte*, std::size_t, unsigned) override { return not_built(); }
  result<void> record(unsigned, unsigned) override { return not_built(); }
  result<void> wait(unsigned) override { return not_built(); }
  result<void> synchronize() override { return not_built(); }
  result<void> read_back(std::byte*, const void*, std::size_t) override { return not_built(); }
};

}  // namespace

std::unique_ptr<copy_engine> make_copy_engine() { return std::make_unique<no_cuda_engine>(); }

}  // namespace pthsafe::detail

namespace pthsafe::cuda {
bool built_with_cuda() noexcept { return false; }
result<int> device_count() { return pthsafe::detail::make_copy_engine()->device_count(); }
}  // namespace pthsafe::cuda
