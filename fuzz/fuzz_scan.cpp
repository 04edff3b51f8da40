// The security gate on arbitrary bytes: must never crash, hang or call anything, and its JSON,
// SARIF and text stay printable (output_checks.hpp).
#include <cstddef>
#include <cstdint>
#include <span>

#include "output_checks.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/scan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pthsafe::load_options o;
  o.limits.max_tree_bytes = 64u << 20;
  auto r = pthsafe::scan_buffer(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), o);
  // Every output of a report stays printable whatever the file names or quotes.
  pthsafe::fuzz::check_json(pthsafe::scan_report_json("input", r));
  pthsafe::fuzz::check_json(pthsafe::sarif_log({{"input", r}}));
  for (const auto& f : r.findings)
    for (const std::string* s : {&f.record, &f.subject, &f.message}) pthsafe::fuzz::check_text(pthsafe::detail::text_escape(*s));
  return 0;
}
