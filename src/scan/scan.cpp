#include "pthsafe/scan.hpp"

#include <string>

#include "pthsafe/checkpoint.hpp"

namespace pthsafe {

std::string_view verdict_name(verdict v) noexcept {
  switch (v) {
    case verdict::safe: return "safe";
    case verdict::unsafe: return "unsafe";
    case verdict::malformed: return "malformed";
  }
  return "malformed";
}

std::string_view severity_name(severity s) noexcept {
  switch (s) {
    case severity::note: return "note";
    case severity::warning: return "warning";
    case severity::error: return "error";
  }
  return "error";
}

namespace {

// The global or opcode an error names ("GLOBAL os.system ...", "opcode INST ...").
std::string subject_of(const error& e) {
  for (const char* lead : {"GLOBAL ", "opcode ", "REDUCE on ", "NEWOBJ on "}) {
    const auto at = e.message.find(lead);
    if (at == std::string::npos) continue;
    const auto start = at + std::char_traits<char>::length(lead);
    const auto end = e.message.find_first_of(" :(", start);
    return e.message.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return {};
}

finding warning_finding(const std::string& w) {
  // Warnings are "record@offset: text".
  finding f;
  f.severity = severity::warning;
  const auto at = w.find('@');
  const auto colon = w.find(": ", at == std::string::npos ? 0 : at);
  if (at != std::string::npos && colon != std::string::npos) {
    f.record = w.substr(0, at);
    f.offset = std::strtoull(w.c_str() + at + 1, nullptr, 10);
    f.message = w.substr(colon + 2);
  } else {
    f.message = w;
  }
  if (f.message.rfind("opcode ", 0) == 0) {
    f.rule = "torch_refuses_opcode";
    f.subject = f.message.substr(7, f.message.find(':') - 7);
  } else {
    f.rule = "stack_not_empty_at_stop";
  }
  return f;
}

scan_report judge(result<checkpoint> r) {
  scan_report rep;
  if (r) {
    rep.verdict = verdict::safe;
    rep.format = std::string(container_format_name(r->format()));
    for (const auto& w : r->warnings()) rep.findings.push_back(warning_finding(w));
    return rep;
  }
  const error& e = r.error_value();
  finding f;
  f.rule = std::string(errc_name(e.code));
  f.severity = severity::error;
  f.record = e.record;
  f.offset = e.offset;
  f.subject = subject_of(e);
  f.message = e.message;
  rep.findings.push_back(std::move(f));
  // A file that cannot be read is never safe; anything outside the policy is unsafe.
  rep.verdict = classify(e.code) == error_class::refused ? verdict::unsafe : verdict::malformed;
  return rep;
}

load_options metadata_only(load_options o) {
  o.mode = load_mode::metadata;
  return o;
}

}  // namespace

scan_report scan_file(const std::string& path, const load_options& opts) {
  return judge(checkpoint::open(path, metadata_only(opts)));
}

scan_report scan_buffer(std::span<const std::byte> bytes, const load_options& opts) {
  return judge(checkpoint::open_buffer(bytes, metadata_only(opts)));
}

}  // namespace pthsafe
