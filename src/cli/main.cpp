// pthsafe: a tiny dispatcher; one file per subcommand.
#include <cstdio>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
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

namespace {

// --limit NAME=N: every field of pthsafe::limits by its C++ name (a 1,000,000-tensor state_dict
// needs max_tree_bytes raised, say). N is decimal, or hex with 0x; 0 and overflow are refused.
bool set_limit(const std::string& spec, limits& lim) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq + 1 >= spec.size()) return false;
  const std::string name = spec.substr(0, eq), num = spec.substr(eq + 1);
  if (num[0] < '0' || num[0] > '9') return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(num.c_str(), &end, 0);
  if (errno || *end || n == 0) return false;
  auto u64 = [&](std::uint64_t& f) { f = n; return true; };
  auto u32 = [&](std::uint32_t& f) { if (n > UINT32_MAX) return false; f = static_cast<std::uint32_t>(n); return true; };
  if (name == "max_pickle_bytes") return u64(lim.max_pickle_bytes);
  if (name == "max_stack_items") return u64(lim.max_stack_items);
  if (name == "max_mark_depth") return u32(lim.max_mark_depth);
  if (name == "max_memo_entries") return u64(lim.max_memo_entries);
  if (name == "max_tree_bytes") return u64(lim.max_tree_bytes);
  if (name == "max_string_bytes") return u64(lim.max_string_bytes);
  if (name == "max_int_bytes") return u32(lim.max_int_bytes);
  if (name == "max_container_items") return u64(lim.max_container_items);
  if (name == "max_nesting_depth") return u32(lim.max_nesting_depth);
  if (name == "max_tensors") return u64(lim.max_tensors);
  if (name == "max_dims") return u32(lim.max_dims);
  if (name == "max_zip_entries") return u64(lim.max_zip_entries);
  if (name == "max_inflated_bytes") return u64(lim.max_inflated_bytes);
  if (name == "max_compression_ratio") return u32(lim.max_compression_ratio);
  if (name == "max_walk_nodes") return u64(lim.max_walk_nodes);
  if (name == "max_output_bytes") return u64(lim.max_output_bytes);
  if (name == "max_key_compare_nodes") return u64(lim.max_key_compare_nodes);
  if (name == "max_json_bytes") return u64(lim.max_json_bytes);
  if (name == "max_json_values") return u64(lim.max_json_values);
  if (name == "max_json_depth") return u32(lim.max_json_depth);
  return false;
}

}  // namespace

bool common_option(const std::vector<std::string>& args, std::size_t& i, load_options& opts, bool& bad) {
  const std::string& a = args[i];
  if (a == "--limit") {
    if (i + 1 >= args.size() || !set_limit(args[i + 1], opts.limits)) {
      std::fprintf(stderr, "pthsafe: --limit needs NAME=N (a field of pthsafe::limits, N > 0)\n");
      bad = true;
      return true;
    }
    ++i;
    return true;
  }
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
    "  load FILE        load every tensor and report throughput (--mmap, --touch, --json)\n"
    "  convert IN OUT   write IN as torch.save would (OUT: .pth/.pt/.bin/.ckpt/.safetensors)\n"
    "  verify FILE...   structure and every record's CRC-32, each corrupted record named\n"
    "  diff A B         compare two state_dicts: names, dtypes, shapes, bytes, max |a - b|\n"
    "  match CKPT --against REF  check a state_dict against a model as load_state_dict does\n\n"
    "common options: --allow-global MODULE.NAME, --strict-torch, --verify-crc,\n"
    "  --limit NAME=N (a field of pthsafe::limits, e.g. --limit max_tree_bytes=2147483648)\n"
    "run 'pthsafe <command> --help' for a command's options; 'pthsafe --version' for the version.\n";
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(usage, stderr);
    return 2;
  }
  // libzip converts each entry's DOS time with mktime(); with TZ unset glibc stats /etc/localtime
  // on every call (libzip issue #84): 0.7 s for a 100,000-record checkpoint, in scan and inspect
  // as much as in load. Same zone, no stat.
  ::setenv("TZ", ":/etc/localtime", 0);
  const std::string cmd = args.front();
  args.erase(args.begin());
  if (cmd == "--help" || cmd == "-h" || cmd == "help") { std::fputs(usage, stdout); return 0; }
  if (cmd == "--version") { std::printf("pthsafe %s\n", pthsafe::version()); return 0; }
  if (cmd == "inspect") return pthsafe::cli::cmd_inspect(args);
  if (cmd == "scan") return pthsafe::cli::cmd_scan(args);
  if (cmd == "load") return pthsafe::cli::cmd_load(args);
  if (cmd == "convert") return pthsafe::cli::cmd_convert(args);
  if (cmd == "verify") return pthsafe::cli::cmd_verify(args);
  if (cmd == "diff") return pthsafe::cli::cmd_diff(args);
  if (cmd == "match") return pthsafe::cli::cmd_match(args);
  std::fprintf(stderr, "pthsafe: unknown command '%s'\n%s", pthsafe::cli::shown(cmd).c_str(), usage);
  return 2;
}
