// A copy engine without a GPU: "device" memory is host memory, and copies really are
// asynchronous: copy_async only queues a copy, which reads its pinned source when the buffer's
// event is waited for (or at synchronize). A scheduler that refilled a buffer before waiting
// would copy the new bytes, and the byte checks of the tests would see it.
#pragma once

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "device/copy_engine.hpp"

namespace pthsafe::test {

struct fake_ledger {
  struct copy {
    std::byte* dst;
    const std::byte* src;
    std::size_t n;
    unsigned stream;
    bool executed = false;
    std::size_t pending_at_issue = 0;  // copies issued earlier and not yet executed
  };
  int devices = 1;
  std::vector<copy> copies;                      // in issue order
  std::map<void*, std::uint64_t> device_memory;  // live allocations
  std::set<std::byte*> pinned;                   // live pinned buffers
  std::vector<std::byte*> pinned_ever;
  int fail_copy_at = -1;       // copy_async number (0-based) that fails
  int fail_alloc_device = 0;   // 1: alloc_device fails
  bool lanes_open = false;
  int synchronizes = 0;
  bool freed_pinned_while_pending = false;
  std::size_t pending() const {
    std::size_t n = 0;
    for (const auto& c : copies) n += c.executed ? 0 : 1;
    return n;
  }
};

class fake_engine final : public detail::copy_engine {
 public:
  explicit fake_engine(std::shared_ptr<fake_ledger> l) : l_(std::move(l)) {}
  result<int> device_count() override { return l_->devices; }
  result<void*> alloc_device(int device, std::uint64_t n) override {
    if (l_->fail_alloc_device || device >= l_->devices) return make_error(errc::cuda_error, "cudaMalloc: cudaErrorMemoryAllocation (fake)");
    void* p = std::malloc(static_cast<std::size_t>(n));
    std::memset(p, 0xEE, static_cast<std::size_t>(n));
    l_->device_memory[p] = n;
    return p;
  }
  void free_device(int, void* p) noexcept override {
    l_->device_memory.erase(p);
    std::free(p);
  }
  result<std::byte*> alloc_pinned(std::size_t n) override {
    auto* p = static_cast<std::byte*>(std::malloc(n));
    l_->pinned.insert(p);
    l_->pinned_ever.push_back(p);
    return p;
  }
  void free_pinned(std::byte* p) noexcept override {
    if (l_->pending()) l_->freed_pinned_while_pending = true;
    l_->pinned.erase(p);
    std::free(p);
  }
  result<void> open_lanes(int, unsigned streams, unsigned buffers) override {
    l_->lanes_open = true;
    marks_.assign(buffers, 0);
    streams_ = streams;
    return {};
  }
  void close_lanes() noexcept override { l_->lanes_open = false; }
  result<void> copy_async(void* dst, const std::byte* src, std::size_t n, unsigned stream) override {
    if (static_cast<int>(l_->copies.size()) == l_->fail_copy_at)
      return make_error(errc::cuda_error, "cudaMemcpyAsync: cudaErrorLaunchFailure (fake)");
    l_->copies.push_back({static_cast<std::byte*>(dst), src, n, stream, false, l_->pending()});
    return {};
  }
  result<void> record(unsigned buffer, unsigned) override {
    marks_.at(buffer) = l_->copies.size();
    return {};
  }
  result<void> wait(unsigned buffer) override {
    run_until(marks_.at(buffer));
    return {};
  }
  result<void> synchronize() override {
    ++l_->synchronizes;
    run_until(l_->copies.size());
    return {};
  }
  result<void> read_back(std::byte* dst, const void* src, std::size_t n) override {
    std::memcpy(dst, src, n);
    return {};
  }

 private:
  // In-order per engine (streams complete in issue order here; the scheduler may not rely on
  // more than its events, which this honours).
  void run_until(std::size_t end) {
    for (std::size_t i = 0; i < end; ++i) {
      auto& c = l_->copies[i];
      if (c.executed) continue;
      std::memcpy(c.dst, c.src, c.n);
      c.executed = true;
    }
  }
  std::shared_ptr<fake_ledger> l_;
  std::vector<std::size_t> marks_;
  unsigned streams_ = 1;
};

}  // namespace pthsafe::test
