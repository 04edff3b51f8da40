// pthsafe scan [--json] [--strict-torch] [--allow-global M.N] FILE...
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/json.hpp"
#include "pthsafe/pthsafe.hpp"

namespace pthsafe::cli {
namespace {
const char* help =
    "usage: pthsafe scan [--json] [--strict-torch] [--allow-global M.N] FILE...\n"
    "Judges each file without loading tensor data: one line per file with its verdict and\n"
    "reasons (rule, record@offset, global or opcode). --json prints one JSON document.\n"
    "Exit: 1 if any file is unsafe, else 2 if any is malformed, else 0 (policy.md).\n";
}

int cmd_scan(const std::vector<std::string>& args) {
  load_options opts;
  bool json = false, bad = false;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if (a == "--version") { std::printf("pthsafe %s\n", version()); return 0; }
    if (a == "--json") { json = true; continue; }
    if (common_option(args, i, opts, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-' && a != "-") { std::fprintf(stderr, "pthsafe scan: unknown option %s\n%s", a.c_str(), help); return 2; }
    files.push_back(a);
  }
  if (files.empty()) { std::fputs(help, stderr); return 2; }
  bool any_unsafe = false, any_malformed = false;
  std::size_t counts[3] = {0, 0, 0};
  std::string doc = "{\"files\":[";
  for (std::size_t n = 0; n < files.size(); ++n) {
    const scan_report r = scan_file(files[n], opts);
    counts[static_cast<int>(r.verdict)]++;
    any_unsafe |= r.verdict == verdict::unsafe;
    any_malformed |= r.verdict == verdict::malformed;
    if (json) {
      doc += (n ? "," : "") + scan_report_json(files[n], r);
      continue;
    }
    std::printf("%s: %s", files[n].c_str(), std::string(verdict_name(r.verdict)).c_str());
    for (const auto& f : r.findings) {
      std::printf("\n  %s %s", std::string(severity_name(f.severity)).c_str(), f.rule.c_str());
      if (!f.record.empty() || f.offset) std::printf(" at %s@%llu", f.record.c_str(), static_cast<unsigned long long>(f.offset));
      if (!f.subject.empty()) std::printf(" [%s]", f.subject.c_str());
      std::printf(": %s", f.message.c_str());
    }
    std::printf("\n");
  }
  if (json) {
    doc += "],\"summary\":{\"scanned\":" + std::to_string(files.size()) + ",\"safe\":" + std::to_string(counts[0]) +
           ",\"unsafe\":" + std::to_string(counts[1]) + ",\"malformed\":" + std::to_string(counts[2]) + "}}\n";
    std::fputs(doc.c_str(), stdout);
  } else {
    std::printf("scanned %zu: %zu safe, %zu unsafe, %zu malformed\n", files.size(), counts[0], counts[1], counts[2]);
  }
  return any_unsafe ? 1 : any_malformed ? 2 : 0;
}

}  // namespace pthsafe::cli
