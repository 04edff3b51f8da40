// A linear opcode walk (no machine): decodes each opcode and its operand from a starting offset
// and reports every global, call-by-name opcode or unresolvable dynamic global it meets, up to
// STOP. The gate runs it after the machine stopped on a malformed point, because CPython might
// keep going where pthsafe refused (exception-oriented evasion): whatever follows must be judged.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pthsafe/options.hpp"
#include "pthsafe/scan.hpp"

namespace pthsafe::detail {

struct walk_result {
  std::vector<finding> findings;   ///< refusals only (unsafe)
  /// where the next pickle starts: after STOP, or the end of the FRAME open at STOP (CPython's
  /// pickle.py, and _pickle for frames it read() whole); where the walk had to stop otherwise
  std::uint64_t end = 0;
  /// offset after STOP (equal to `end` unless a FRAME runs past STOP: then [after_stop, end) is
  /// what _pickle, peek()ing a small frame of a buffered file, reads as the next pickle)
  std::uint64_t after_stop = 0;
  bool reached_stop = false;
};

/// Walks `pickle` from `start`. `record` names it in findings.
walk_result walk_opcodes(std::span<const std::byte> pickle, std::uint64_t start, const std::string& record,
                         const load_options& opts);

}  // namespace pthsafe::detail
