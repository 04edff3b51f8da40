// pthsafe/scan.hpp - the security gate: judge a file without materialising any tensor data.
//
// A scan runs the same zip layer and pickle machine as a load (in load_mode::metadata), so the
// gate and the loader can never disagree about what a file means.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe {

/// docs/policy.md: safe -> exit 0, unsafe -> exit 1, malformed -> exit 2.
enum class verdict : std::uint8_t { safe, unsafe, malformed };
PTHSAFE_API std::string_view verdict_name(verdict v) noexcept;  ///< "safe", "unsafe", "malformed"

enum class severity : std::uint8_t { note, warning, error };
PTHSAFE_API std::string_view severity_name(severity s) noexcept;

/// One reason behind a verdict.
struct finding {
  std::string rule;        ///< stable id: an errc name ("pickle_global_refused") or a warning id
  pthsafe::severity severity = severity::error;
  std::string record;      ///< archive record, "" for the file itself
  std::uint64_t offset = 0;///< byte offset within the record (or file)
  std::string subject;     ///< the global or opcode involved, when there is one
  std::string message;     ///< one line
};

struct scan_report {
  pthsafe::verdict verdict = verdict::safe;
  std::string format;              ///< "zip", "legacy", "torchscript", "pickle", "tar", or "" if unknown
  std::vector<finding> findings;   ///< errors first, then warnings
};

/// Scans a file. Never fails: an unreadable file is reported malformed, never safe.
PTHSAFE_API scan_report scan_file(const std::string& path, const load_options& opts = {});
/// Scans a caller's buffer (not retained after the call).
PTHSAFE_API scan_report scan_buffer(std::span<const std::byte> bytes, const load_options& opts = {});

}  // namespace pthsafe
