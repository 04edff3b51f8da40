// The state behind pthsafe::cuda::device_checkpoint, and the load with a given copy engine
// (tests pass a fake one; device_checkpoint::open passes the build's).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "device/copy_engine.hpp"
#include "device/scheduler.hpp"
#include "pthsafe/cuda.hpp"

namespace pthsafe::cuda::detail {

struct device_state {
  // Declaration order is destruction order reversed: the blocks are freed through the engine.
  std::unique_ptr<pthsafe::detail::copy_engine> engine;
  std::optional<checkpoint> host;
  std::vector<pthsafe::detail::device_block> blocks;  // one per CUDA device used
  struct placed {
    void* data = nullptr;
    device where{};
  };
  std::vector<placed> storages;                            // host().storage(i)'s place
  std::unordered_map<std::uintptr_t, std::size_t> by_id;  // storage_view::id() -> index

  /// Loads `path` and copies its storages with `engine`.
  static result<device_checkpoint> load(const std::string& path, const device_load_options& opts,
                                        std::unique_ptr<pthsafe::detail::copy_engine> engine);
  device_tensor locate(tensor_view t) const;
};

/// Alignment of each storage in a device block (cudaMalloc's, which torch's allocator keeps).
inline constexpr std::uint64_t device_alignment = 256;

}  // namespace pthsafe::cuda::detail
