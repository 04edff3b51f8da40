// pthsafe inspect [--json] [--mmap] FILE
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/pthsafe.hpp"
#include "pthsafe/report.hpp"

namespace pthsafe::cli {
namespace {

const char* help =
    "usage: pthsafe inspect [--json] [--mmap [--refuse-copy]] [--torchscript] [--allow-global M.N]\n"
    "                       [--strict-torch] FILE\n"
    "Prints the checkpoint's object tree: one line per value, tensors with dtype, shape, device\n"
    "and bytes, totals at the end. --json prints the canonical document (docs/inspect-json.md) on\n"
    "stdout. --mmap loads zero-copy (same output); --refuse-copy fails instead of copying a\n"
    "storage that cannot be mapped (deflated, big-endian, misaligned legacy). --torchscript reads\n"
    "the tensors of a TorchScript archive (never its code). Exit: 0 ok, 1 refused by policy,\n"
    "2 malformed.\n";

}  // namespace

int cmd_inspect(const std::vector<std::string>& args) {
  load_options opts;
  bool json = false, bad = false;
  std::string file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if (a == "--version") { std::printf("pthsafe %s\n", version()); return 0; }
    if (a == "--json") { json = true; continue; }
    if (load_option(a, opts)) continue;
    if (common_option(args, i, opts, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pthsafe inspect: unknown option %s\n%s", shown(a).c_str(), help); return 2; }
    if (!file.empty()) { std::fprintf(stderr, "pthsafe inspect: one FILE only\n"); return 2; }
    file = a;
  }
  if (file.empty()) { std::fputs(help, stderr); return 2; }
  if (!json) opts.mode = load_mode::metadata;  // the tree needs no tensor bytes
  auto ck = checkpoint::open(file, opts);
  if (!ck) return report(file, ck.error_value());
  for (const auto& w : ck->warnings()) std::fprintf(stderr, "pthsafe: %s: warning: %s\n", shown(file).c_str(), shown(w).c_str());
  if (json) {
    auto doc = inspect_json(*ck);
    if (!doc) return report(file, doc.error_value());
    std::fwrite(doc->data(), 1, doc->size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  std::printf("%s: %s checkpoint, top folder '%s', byteorder %s\n", shown(file).c_str(),
              std::string(container_format_name(ck->format())).c_str(), shown(ck->archive_name()).c_str(),
              ck->big_endian() ? "big" : "little");
  auto tree = inspect_text(*ck, [](std::string_view line) { std::fwrite(line.data(), 1, line.size(), stdout); });
  if (!tree) {
    std::fflush(stdout);
    return report(file, tree.error_value());
  }
  return 0;
}

}  // namespace pthsafe::cli
