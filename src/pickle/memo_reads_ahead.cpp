#include "pickle/memo_reads_ahead.hpp"

#include <atomic>
#include <system_error>

#include "util/cpus.hpp"

namespace pthsafe::detail {
namespace {

std::atomic<std::uint64_t> min_bytes{std::uint64_t{1} << 20};
std::atomic<std::uint64_t> uses{0};

}  // namespace

memo_reads_ahead::~memo_reads_ahead() {
  if (!worker_.joinable()) return;
  stop_.store(true, std::memory_order_relaxed);
  worker_.join();
}

void memo_reads_ahead::start(std::span<const std::byte> pickle, std::uint64_t max_index) {
  if (worker_.joinable() || taken_ || pickle.size() < walk_ahead_min_bytes() || usable_cpus() < 2) return;
  pickle_ = pickle;
  max_index_ = max_index;
  try {
    worker_ = std::thread([this] {
      // memo_reads::of only allocates: out of memory here means the machine walks itself (and
      // meets the same shortage where the load always met it).
      try {
        answer_ = memo_reads::of(pickle_, max_index_, &stop_);
      } catch (...) {
        failed_ = true;
      }
    });
  } catch (const std::system_error&) {
    // No thread to be had: the machine walks in line, as without this class.
  }
}

bool memo_reads_ahead::take(std::span<const std::byte> pickle, std::uint64_t max_index, std::optional<memo_reads>& out) {
  if (!worker_.joinable() || taken_) return false;
  worker_.join();  // the worker's writes happen-before this return
  taken_ = true;
  if (failed_ || pickle.data() != pickle_.data() || pickle.size() != pickle_.size() || max_index != max_index_) return false;
  out = std::move(answer_);
  uses.fetch_add(1, std::memory_order_relaxed);
  return true;
}

std::uint64_t walk_ahead_min_bytes() noexcept { return min_bytes.load(std::memory_order_relaxed); }
void set_walk_ahead_min_bytes(std::uint64_t n) noexcept { min_bytes.store(n, std::memory_order_relaxed); }
std::uint64_t memo_reads_ahead_uses() noexcept { return uses.load(std::memory_order_relaxed); }

}  // namespace pthsafe::detail
