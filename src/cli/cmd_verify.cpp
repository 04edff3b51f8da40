// pthsafe verify FILE...
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/pthsafe.hpp"

namespace pthsafe::cli {
namespace {
const char* help =
    "usage: pthsafe verify [common options] FILE...\n"
    "Checks each file's whole structure as 'scan' judges it, then the CRC-32 of every record of\n"
    "a zip checkpoint (storages included), and names each corrupted record with the offset of\n"
    "its data. One line per file ('FILE: ok, N records checked' or its verdict), then one line\n"
    "per finding.\n"
    "Exit: 0 every file intact and safe, 1 some file unsafe, 2 some file corrupted or malformed.\n";
}  // namespace

int cmd_verify(const std::vector<std::string>& args) {
  load_options opts;
  bool bad = false;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if (common_option(args, i, opts, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pthsafe verify: unknown option %s\n%s", shown(a).c_str(), help); return 2; }
    files.push_back(a);
  }
  if (files.empty()) { std::fputs(help, stderr); return 2; }
  bool unsafe = false, malformed = false;
  for (const auto& file : files) {
    const verify_report rep = verify_file(file, opts);
    const verdict v = rep.scan.verdict;
    unsafe = unsafe || v == verdict::unsafe;
    malformed = malformed || v == verdict::malformed;
    if (v == verdict::safe) {
      std::printf("%s: ok, %zu records checked\n", shown(file).c_str(), rep.records_checked);
    } else {
      std::printf("%s: %s (%zu corrupted of %zu records checked)\n", shown(file).c_str(),
                  std::string(verdict_name(v)).c_str(), rep.corrupt.size(), rep.records_checked);
    }
    for (const auto& f : rep.scan.findings) {
      if (f.severity != severity::error) continue;
      std::printf("  %s%s%s @ %llu: %s: %s\n", shown(file).c_str(), f.record.empty() ? "" : ": ", shown(f.record).c_str(),
                  static_cast<unsigned long long>(f.offset), shown(f.rule).c_str(), shown(f.message).c_str());
    }
  }
  return unsafe ? 1 : malformed ? 2 : 0;
}

}  // namespace pthsafe::cli
