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
  std::uint64_t end = 0;           ///< offset after STOP, or where the walk had to stop
  bool reached_stop = false;
};

/// Walks `pickle` from `start`. `record` names it in findings.
walk_result walk_opcodes(std::span<const std::byte> pickle, std::uint64_t start, const std::string& record,
                         const load_options& opts);

}  // namespace pthsafe::detail
