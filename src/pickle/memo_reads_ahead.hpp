// memo_reads::of, started on a second thread before the machine runs: a zip's data.pkl is
// located as soon as the central directory is read, and the walk over its opcodes (~8 % of a
// 100,000-tensor load) then runs beside the checks of every local header and name instead of
// before the machine (bench/NOTES.md 50).
//
// The walk is a pure function of the pickle's bytes and the memo bound. The machine takes the
// answer only for exactly the span and bound it was started with (same address, same size),
// so a wrong guess of where the pickle lies costs a wasted walk, never a different load.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <thread>

#include "pickle/memo_uses.hpp"

namespace pthsafe::detail {

class memo_reads_ahead {
 public:
  memo_reads_ahead() = default;
  memo_reads_ahead(const memo_reads_ahead&) = delete;
  memo_reads_ahead& operator=(const memo_reads_ahead&) = delete;
  /// Stops a walk still running (within 64 KiB of the pickle) and waits for it: a load refused
  /// before its pickle pays for no walk over it.
  ~memo_reads_ahead();

  /// Starts the walk over `pickle` (bytes that stay readable and unchanged until take() or
  /// destruction) when it is at least walk_ahead_min_bytes() long and a second CPU is usable;
  /// otherwise, or when no thread can be started, does nothing. At most one walk per object.
  void start(std::span<const std::byte> pickle, std::uint64_t max_index);

  /// Waits for the walk. True, with `out` set to memo_reads::of(pickle, max_index), when the
  /// walk ran over exactly `pickle` with `max_index` and finished; false otherwise (nothing was
  /// started, the span or bound differ, or the walk ran out of memory): the caller walks itself.
  bool take(std::span<const std::byte> pickle, std::uint64_t max_index, std::optional<memo_reads>& out);

 private:
  std::thread worker_;
  std::span<const std::byte> pickle_;
  std::uint64_t max_index_ = 0;
  std::atomic<bool> stop_{false};
  std::optional<memo_reads> answer_;  // written by the worker, read after join()
  bool failed_ = false;               // the same
  bool taken_ = false;
};

/// Pickles shorter than this are walked in line: starting a thread costs ~0.1-0.4 ms on the
/// machines measured, the walk ~1.5 ms a MiB (bench/NOTES.md 50).
std::uint64_t walk_ahead_min_bytes() noexcept;
/// Test and fuzzing hook: the threshold above (0: every pickle located early is walked ahead;
/// UINT64_MAX: none). Process-wide.
void set_walk_ahead_min_bytes(std::uint64_t n) noexcept;
/// Walks whose answer a machine took since the process started (tests show that a comparison
/// exercised the thread).
std::uint64_t memo_reads_ahead_uses() noexcept;

}  // namespace pthsafe::detail
