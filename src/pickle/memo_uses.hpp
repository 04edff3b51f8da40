// Which memo indices a pickle ever reads back (BINGET, LONG_BINGET), found by one walk over its
// opcodes before the machine runs. torch's pickler memoises every tuple and string it writes
// (8 per tensor) and reads back only the shared ones ('storage', the storage class, 'cpu', the
// rebuild function): knowing that the rest are never read lets the machine reuse the nodes of a
// tensor's persistent id and rebuild arguments once they are consumed (pickle/machine.cpp,
// bench/NOTES.md 20), instead of keeping ~500 bytes per tensor alive to the end of the load.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace pthsafe::detail {

class memo_reads {
 public:
  /// Walks `pickle` from its first opcode to STOP. nullopt (treat every index as read) when the
  /// walk cannot be exact: an opcode it does not know, an operand past the end, a text GET, or
  /// an index at or past `max_index` (the machine refuses those anyway). `stop`, when given, is
  /// read every 64 KiB of the walk: once it is true the walk gives up (nullopt), so that a walk
  /// started ahead of a load that has since been refused does not run on (memo_reads_ahead).
  static std::optional<memo_reads> of(std::span<const std::byte> pickle, std::uint64_t max_index,
                                      const std::atomic<bool>* stop = nullptr);
  [[gnu::always_inline]] bool read(std::uint64_t index) const noexcept {
    if (index >= bit_limit_) return std::binary_search(far_.begin(), far_.end(), index);
    return index / 64 < bits_.size() && ((bits_[index / 64] >> (index % 64)) & 1) != 0;
  }

 private:
  // Indices below 8 per pickle byte in a bit set, the rest (no pickler writes them: a read
  // costs at least 2 bytes) in a sorted list: memory stays proportional to the pickle, whatever
  // index a file names and however far max_memo_entries was raised.
  std::uint64_t bit_limit_ = 0;
  std::vector<std::uint64_t> bits_;
  std::vector<std::uint64_t> far_;
};

}  // namespace pthsafe::detail
