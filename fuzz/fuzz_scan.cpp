// The security gate on arbitrary bytes: must never crash, hang or call anything, and its JSON,
// SARIF and text stay printable (output_checks.hpp). Differential: libzip checked after the load
// (what scan_* do) and before it must give the same report; a difference traps.
#include <cstddef>
#include <cstdint>
#include <span>

#include "output_checks.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/scan.hpp"
#include "scan/gate.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pthsafe::load_options o;
  o.limits.max_tree_bytes = 64u << 20;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto r = pthsafe::scan_buffer(bytes, o);
  {
    const auto first = pthsafe::detail::scan_source(pthsafe::detail::source::from_buffer(bytes), o,
                                                    pthsafe::detail::zip_check::libzip_always);
    if (first.verdict != r.verdict || first.format != r.format || first.findings.size() != r.findings.size()) __builtin_trap();
    for (std::size_t i = 0; i < r.findings.size(); ++i) {
      const auto &a = r.findings[i], &b = first.findings[i];
      if (a.rule != b.rule || a.record != b.record || a.offset != b.offset || a.message != b.message || a.subject != b.subject ||
          a.severity != b.severity)
        __builtin_trap();
    }
  }
  // Every output of a report stays printable whatever the file names or quotes.
  pthsafe::fuzz::check_json(pthsafe::scan_report_json("input", r));
  pthsafe::fuzz::check_json(pthsafe::sarif_log({{"input", r}}));
  for (const auto& f : r.findings)
    for (const std::string* s : {&f.record, &f.subject, &f.message}) pthsafe::fuzz::check_text(pthsafe::detail::text_escape(*s));
  return 0;
}
