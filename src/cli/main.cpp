// pthsafe: a tiny dispatcher; one file per subcommand.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/pthsafe.hpp"

namespace pthsafe::cli {

int exit_code(const error& e) { return classify(e.code) == error_class::refused ? 1 : 2; }

int report(const std::string& file, const error& e) {
  std::fprintf(stderr, "pthsafe: %s: %s\n", shown(file).c_str(), e.to_string().c_str());
  return exit_code(e);
}

bool common_option(const std::vector<std::string>& args, std::size_t& i, load_options& opts, bool& bad) {
  const std::string& a = args[i];
  if (a == "--strict-torch") { opts.strict_torch = true; return true; }
  if (a == "--verify-crc") { opts.verify_crc = true; return true; }
  if (a == "--allow-global") {
    if (i + 1 >= args.size()) { std::fprintf(stderr, "pthsafe: --allow-global needs MODULE.NAME\n"); bad = true; return true; }
    opts.allowed_globals.push_back(args[++i]);
    return true;
  }
  return false;
}

bool load_option(const std::string& a, load_options& opts) {
  if (a == "--mmap") { opts.mode = load_mode::mmap; return true; }
  if (a == "--torchscript") { opts.allow_torchscript = true; return true; }
  if (a == "--refuse-copy") { opts.refuse_copy_in_mmap = true; return true; }
  return false;
}

}  // namespace pthsafe::cli

namespace {
const char* usage =
    "usage: pthsafe <command> [options] FILE...\n"
    "Loads PyTorch checkpoints (.pth/.pt/.bin/.ckpt) without running pickle.\n\n"
    "commands:\n"
    "  inspect FILE     print the object tree (--json: the canonical JSON document)\n"
    "  scan FILE...     judge files: exit 0 safe, 1 unsafe, 2 malformed\n"
    "  load FILE        load every tensor and report throughput (--mmap, --touch, --json)\n\n"
    "common options: --allow-global MODULE.NAME, --strict-torch, --verify-crc\n"
    "run 'pthsafe <command> --help' for a command's options; 'pthsafe --version' for the version.\n";
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(usage, stderr);
    return 2;
  }
  const std::string cmd = args.front();
  args.erase(args.begin());
  if (cmd == "--help" || cmd == "-h" || cmd == "help") { std::fputs(usage, stdout); return 0; }
  if (cmd == "--version") { std::printf("pthsafe %s\n", pthsafe::version()); return 0; }
  if (cmd == "inspect") return pthsafe::cli::cmd_inspect(args);
  if (cmd == "scan") return pthsafe::cli::cmd_scan(args);
  if (cmd == "load") return pthsafe::cli::cmd_load(args);
  std::fprintf(stderr, "pthsafe: unknown command '%s'\n%s", pthsafe::cli::shown(cmd).c_str(), usage);
  return 2;
}
