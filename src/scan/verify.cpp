// verify_file(): the scan, then every record's CRC-32, each corrupted record reported.
#include <algorithm>
#include <cstring>

#include "io/source.hpp"
#include "pthsafe/verify.hpp"
#include "zip/archive.hpp"

namespace pthsafe {

verify_report verify_file(const std::string& path, const load_options& opts) {
  verify_report out;
  out.scan = scan_file(path, opts);
  auto src = detail::source::map_file(path);
  if (!src) return out;  // the scan has reported it
  const auto bytes = src->bytes();
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "PK\3\4", 4) != 0) return out;
  auto zip = detail::archive::open(bytes, opts.limits);
  if (!zip) return out;  // a broken directory: the scan's finding names it
  const auto& entries = (*zip)->entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    ++out.records_checked;
    auto r = (*zip)->verify_crc(i, opts.limits);
    // Each record leaves memory once checked: verifying a large file stays small.
    if (const auto stored = (*zip)->stored_bytes(i)) src->release_pages(*stored);
    if (!r) {
      const error& e = r.error_value();
      out.corrupt.push_back({e.code, std::string(entries[i].name()), entries[i].data_offset(), e.message});
    }
  }
  if (out.corrupt.empty()) return out;
  // Each corrupted record is a finding of its own (the scan may have named data.pkl already).
  auto& findings = out.scan.findings;
  for (const auto& c : out.corrupt) {
    const bool known = std::any_of(findings.begin(), findings.end(), [&](const finding& f) {
      return f.rule == errc_name(c.code) && f.record == c.record;
    });
    if (known) continue;
    finding f;
    f.rule = std::string(errc_name(c.code));
    f.record = c.record;
    f.offset = c.offset;
    f.message = c.message;
    findings.insert(std::find_if(findings.begin(), findings.end(), [](const finding& x) { return x.severity != severity::error; }), f);
  }
  if (out.scan.verdict == verdict::safe) out.scan.verdict = verdict::malformed;
  return out;
}

}  // namespace pthsafe
