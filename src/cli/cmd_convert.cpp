// pthsafe convert IN OUT [--key PATH] [--strip-prefix P] [--dtype D] [--copy]
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/pthsafe.hpp"

namespace pthsafe::cli {
namespace {
const char* help =
    "usage: pthsafe convert IN OUT [--key PATH] [--strip-prefix P] [--dtype float16|bfloat16|float32]\n"
    "                       [--copy] [common options]\n"
    "Reads IN (.pth/.pt/.bin/.ckpt, zip or legacy, or .safetensors) without running pickle and\n"
    "writes OUT; the format comes from OUT's extension:\n"
    "  .pth .pt .bin .ckpt  as torch.save writes it (readable by torch.load(weights_only=True));\n"
    "                       the whole tree, or only the state_dict with --key/--strip-prefix/--dtype\n"
    "  .safetensors         the state_dict as safetensors' save_file writes it, {\"format\": \"pt\"}\n"
    "                       metadata, tied weights written once (the other names recorded in the\n"
    "                       metadata, as save_model does), other overlapping tensors refused\n"
    "--dtype converts float32/float16/bfloat16 tensors as torch's .to(dtype) does, bit for bit.\n"
    "Values beyond torch's allowlist become their plain Python form (TorchVersion -> str, numpy\n"
    "scalar -> int/float/bool); values torch.save could not write the same way are refused.\n"
    "OUT is written to a temporary file beside it, read back and compared with what was meant to\n"
    "be written, then renamed. Storages stream from a read-only mapping of IN, each piece released\n"
    "once written and once compared, so memory stays bounded whatever the size (--copy reads IN\n"
    "into memory first). On a terminal, inputs over 100 MiB show a progress line on stderr.\n"
    "Exit: 0 written, 1 refused, 2 malformed input, unwritable output or bad usage.\n";

// A progress line on a terminal for inputs over 100 MiB: redrawn when the percentage changes.
std::function<void(std::uint64_t, std::uint64_t)> progress_for(const std::string& in) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(in, ec);
  if (ec || size <= (std::uint64_t{100} << 20) || ::isatty(STDERR_FILENO) == 0) return {};
  auto last = std::make_shared<int>(-1);
  return [last](std::uint64_t done, std::uint64_t total) {
    const int pct = total == 0 ? 100 : static_cast<int>(done * 100 / total);
    if (pct == *last) return;
    *last = pct;
    std::fprintf(stderr, "\rpthsafe convert: %3d%% (%.1f of %.1f MiB)%s", pct, static_cast<double>(done) / (1 << 20),
                 static_cast<double>(total) / (1 << 20), done == total ? "\n" : "");
  };
}

}  // namespace

int cmd_convert(const std::vector<std::string>& args) {
  convert_options co;
  bool bad = false;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if ((a == "--key" || a == "--strip-prefix") && i + 1 < args.size()) {
      (a == "--key" ? co.state_dict.key : co.state_dict.strip_prefix) = args[++i];
      co.state_dict_only = true;
      continue;
    }
    if (a == "--dtype" && i + 1 < args.size()) {
      const auto t = dtype_from_name(args[++i]);
      if (!t || (*t != dtype::float16 && *t != dtype::bfloat16 && *t != dtype::float32)) {
        std::fprintf(stderr, "pthsafe convert: --dtype takes float16, bfloat16 or float32\n");
        return 2;
      }
      co.to_dtype = *t;
      continue;
    }
    if (a == "--mmap") { co.load.mode = load_mode::mmap; continue; }
    if (a == "--copy") { co.load.mode = load_mode::copy; continue; }
    if (common_option(args, i, co.load, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pthsafe convert: unknown option %s\n%s", shown(a).c_str(), help); return 2; }
    files.push_back(a);
  }
  if (files.size() != 2) { std::fputs(help, stderr); return 2; }
  co.progress = progress_for(files[0]);
  auto r = convert_file(files[0], files[1], co);
  if (!r) return report(r.error_value().record == files[1] ? files[1] : files[0], r.error_value());
  std::string what = r->whole_tree ? "the whole tree"
                                   : "state_dict at " + (r->state_dict_key.empty() ? std::string("<root>") : "'" + shown(r->state_dict_key) + "'");
  std::printf("%s: written from %s (%s, %zu tensors", shown(files[1]).c_str(), shown(files[0]).c_str(), what.c_str(), r->tensors);
  if (co.to_dtype) std::printf(", %zu converted to %s", r->converted, std::string(dtype_name(*co.to_dtype)).c_str());
  std::printf(")\n");
  for (const auto& k : r->dropped_metadata) {
    std::fprintf(stderr, "pthsafe convert: safetensors metadata '%s' has no place in a .pth: not written\n", shown(k).c_str());
  }
  return 0;
}

}  // namespace pthsafe::cli
