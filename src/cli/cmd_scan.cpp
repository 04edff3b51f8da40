// pthsafe scan [-r] [--json|--sarif] [--strict-torch] [--allow-global M.N] PATH...
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include <sys/stat.h>

#include "cli/commands.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/pthsafe.hpp"

namespace pthsafe::cli {
namespace {
const char* help =
    "usage: pthsafe scan [-r] [--json | --sarif] [--strict-torch] [--allow-global M.N] [--] PATH...\n"
    "Judges each file without loading tensor data: one line per file with its verdict and\n"
    "reasons (rule, record@offset, global or opcode), then a summary line.\n"
    "  -r, --recursive  scan directories; files are chosen by content (zip, pickle, legacy or tar\n"
    "                   magic, or a text pickle), never by extension\n"
    "  --json           one JSON document on stdout\n"
    "  --sarif          a SARIF 2.1.0 log on stdout (GitHub code scanning)\n"
    "  --strict-torch   refuse what torch.load(weights_only=True) refuses (protocol 4/5 opcodes)\n"
    "Exit: 1 if any file is unsafe, else 2 if any is malformed or unreadable, else 0.\n";

// Content sniffing for directory walks: what some reader would take for a checkpoint.
bool looks_scannable(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::array<char, 264> head{};
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const auto n = in.gcount();
  if (n <= 0) return false;
  if (n >= 4 && std::memcmp(head.data(), "PK\3\4", 4) == 0) return true;
  if (n >= 9 && head[8] == '{' && std::all_of(head.begin() + 5, head.begin() + 8, [](char c) { return c == 0; })) return true;  // safetensors
  if (static_cast<unsigned char>(head[0]) == 0x80) return true;  // PROTO: binary pickles, legacy magic
  if (n >= 262 && std::memcmp(head.data() + 257, "ustar", 5) == 0) return true;
  // Protocol 0/1 pickles start with an opcode and end with STOP.
  const std::string_view opens = "(}]cdlI)NSVFGJKLMUXTabhjqprstu";
  if (opens.find(head[0]) == std::string_view::npos) return false;
  in.clear();
  in.seekg(-1, std::ios::end);
  char last = 0;
  in.get(last);
  return last == '.';
}
}  // namespace

int cmd_scan(const std::vector<std::string>& args) {
  load_options opts;
  bool json = false, sarif = false, recursive = false, bad = false;
  std::vector<std::string> paths;
  bool options_done = false;  // after "--" every argument is a file (pre-commit passes any name)
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done) { paths.push_back(a); continue; }
    if (a == "--") { options_done = true; continue; }
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if (a == "--version") { std::printf("pthsafe %s\n", version()); return 0; }
    if (a == "--json") { json = true; continue; }
    if (a == "--sarif") { sarif = true; continue; }
    if (a == "-r" || a == "--recursive") { recursive = true; continue; }
    if (common_option(args, i, opts, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pthsafe scan: unknown option %s\n%s", shown(a).c_str(), help); return 2; }
    paths.push_back(a);
  }
  if (paths.empty() || (json && sarif)) { std::fputs(help, stderr); return 2; }
  std::vector<std::string> files;
  for (const auto& p : paths) {
    // stat, not std::filesystem::is_directory: scanning one file then runs none of libstdc++'s
    // filesystem code, whose pages would count in the scan's peak RSS (bench/NOTES.md 51).
    struct stat info {};
    if (::stat(p.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
      std::error_code ec;
      if (!recursive) { std::fprintf(stderr, "pthsafe scan: %s is a directory (use -r)\n", shown(p).c_str()); return 2; }
      for (auto it = std::filesystem::recursive_directory_iterator(p, std::filesystem::directory_options::skip_permission_denied, ec);
           it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it->is_regular_file(ec) && looks_scannable(it->path())) files.push_back(it->path().string());
      }
    } else {
      files.push_back(p);
    }
  }
  std::vector<scanned_file> results;
  std::size_t counts[3] = {0, 0, 0};
  for (const auto& f : files) {
    scanned_file s{f, scan_file(f, opts)};
    counts[static_cast<int>(s.report.verdict)]++;
    if (!json && !sarif) {
      std::printf("%s: %s", shown(f).c_str(), std::string(verdict_name(s.report.verdict)).c_str());
      for (const auto& x : s.report.findings) {
        std::printf("\n  %s %s", std::string(severity_name(x.severity)).c_str(), shown(x.rule).c_str());
        if (!x.record.empty() || x.offset) std::printf(" at %s@%llu", shown(x.record).c_str(), static_cast<unsigned long long>(x.offset));
        if (!x.subject.empty()) std::printf(" [%s]", shown(x.subject).c_str());
        std::printf(": %s", shown(x.message).c_str());
      }
      std::printf("\n");
    }
    results.push_back(std::move(s));
  }
  if (json) {
    std::string doc = "{\"files\":[";
    for (std::size_t n = 0; n < results.size(); ++n) doc += (n ? "," : "") + scan_report_json(results[n].path, results[n].report);
    doc += "],\"summary\":{\"scanned\":" + std::to_string(results.size()) + ",\"safe\":" + std::to_string(counts[0]) +
           ",\"unsafe\":" + std::to_string(counts[1]) + ",\"malformed\":" + std::to_string(counts[2]) + "}}\n";
    std::fputs(doc.c_str(), stdout);
  } else if (sarif) {
    std::puts(sarif_log(results).c_str());
  } else {
    std::printf("scanned %zu: %zu safe, %zu unsafe, %zu malformed\n", results.size(), counts[0], counts[1], counts[2]);
  }
  return counts[1] ? 1 : counts[2] ? 2 : 0;
}

}  // namespace pthsafe::cli
