// pthsafe convert IN OUT [--key PATH] [--strip-prefix P]
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <system_error>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/pthsafe.hpp"
#include "util/try.hpp"

namespace pthsafe::cli {
namespace {
const char* help =
    "usage: pthsafe convert IN OUT [--key PATH] [--strip-prefix P] [--copy] [common options]\n"
    "Reads IN without running pickle and writes OUT as torch.save writes a zip checkpoint\n"
    "(.pth, .pt, .bin, .ckpt), readable by torch.load(weights_only=True). The whole tree is\n"
    "written unless --key or --strip-prefix is given: then only the state_dict (found as\n"
    "'inspect --state-dict' finds it) is, as an OrderedDict. Values beyond torch's allowlist\n"
    "become their plain Python form (TorchVersion -> str, numpy scalar -> int/float/bool);\n"
    "values torch.save could not write the same way are refused. OUT is written to a temporary\n"
    "file beside it, read back and compared with what was meant to be written, then renamed.\n"
    "Storages stream from a read-only mapping of IN, each piece released once written and once\n"
    "compared, so memory stays bounded whatever the size (--copy reads IN into memory first).\n"
    "On a terminal, inputs over 100 MiB show a progress line on stderr.\n"
    "OUT .safetensors: the state_dict (as --key/--strip-prefix choose it) as safetensors'\n"
    "save_file writes it, with {\"format\": \"pt\"} metadata; tied weights written once (the\n"
    "other names recorded in the metadata, as save_model does), other overlaps refused.\n"
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

bool pth_extension(const std::filesystem::path& p) {
  const std::string e = p.extension().string();
  return e == ".pth" || e == ".pt" || e == ".bin" || e == ".ckpt";
}

result<save_value> state_dict_tree(const checkpoint& ck, const state_dict_options& sd_opts) {
  PTHSAFE_ASSIGN(auto sd, find_state_dict(ck, sd_opts));
  save_value out = save_value::ordered_dict();
  for (const auto& e : sd.entries) {
    PTHSAFE_ASSIGN(auto t, save_value::from(e.tensor));
    out.set(std::string(e.name), std::move(t));
  }
  return out;
}

// The state_dict as a safetensors file: tensors by name, "format": "pt" in the metadata (what
// transformers checks before loading one), tied weights written once.
int write_safetensors(const std::string& in, const checkpoint& ck, const state_dict_options& sd_opts,
                      const std::filesystem::path& out) {
  auto sd = find_state_dict(ck, sd_opts);
  if (!sd) return report(in, sd.error_value());
  std::vector<named_tensor> tensors;
  tensors.reserve(sd->entries.size());
  for (const auto& e : sd->entries) {
    auto t = save_tensor_from(e.tensor);
    if (!t) return report(in, t.error_value());
    tensors.push_back({std::string(e.name), std::move(*t)});
  }
  const std::vector<std::pair<std::string, std::string>> metadata = {{"format", "pt"}};
  save_options so;
  so.progress = progress_for(in);
  so.consumed = [&](std::span<const std::byte> b) { ck.release_pages(b); };
  if (auto w = save_safetensors(tensors, metadata, out, so); !w) return report(out.string(), w.error_value());
  std::printf("%s: written from %s (state_dict at %s, %zu tensors)\n", shown(out.string()).c_str(), shown(in).c_str(),
              sd->key.empty() ? "<root>" : ("'" + shown(sd->key) + "'").c_str(), tensors.size());
  return 0;
}

}  // namespace

int cmd_convert(const std::vector<std::string>& args) {
  load_options opts;
  opts.mode = load_mode::mmap;  // storages stream from the mapping (--copy reads them first)
  state_dict_options sd_opts;
  bool bad = false, state_dict_only = false;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if ((a == "--key" || a == "--strip-prefix") && i + 1 < args.size()) {
      (a == "--key" ? sd_opts.key : sd_opts.strip_prefix) = args[++i];
      state_dict_only = true;
      continue;
    }
    if (a == "--mmap") { opts.mode = load_mode::mmap; continue; }
    if (a == "--copy") { opts.mode = load_mode::copy; continue; }
    if (common_option(args, i, opts, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pthsafe convert: unknown option %s\n%s", shown(a).c_str(), help); return 2; }
    files.push_back(a);
  }
  if (files.size() != 2) { std::fputs(help, stderr); return 2; }
  const std::string& in = files[0];
  const std::filesystem::path out = files[1];
  const bool to_safetensors = out.extension() == ".safetensors";
  if (!pth_extension(out) && !to_safetensors) {
    std::fprintf(stderr, "pthsafe convert: %s: the output format comes from its extension (.pth, .pt, .bin, .ckpt, .safetensors)\n",
                 shown(out.string()).c_str());
    return 2;
  }
  auto ck = checkpoint::open(in, opts);
  if (!ck) return report(in, ck.error_value());
  if (to_safetensors) return write_safetensors(in, *ck, sd_opts, out);
  auto tree = state_dict_only ? state_dict_tree(*ck, sd_opts) : save_value::from(ck->root());
  if (!tree) return report(in, tree.error_value());

  save_options so;
  so.progress = progress_for(in);
  // Memory stays bounded however large the file: each piece of a mapped storage leaves memory
  // once written, and once compared on the way back.
  so.consumed = [&](std::span<const std::byte> b) { ck->release_pages(b); };
  so.verify = [&](const std::filesystem::path& written) -> result<void> {
    load_options back;
    back.mode = load_mode::mmap;
    PTHSAFE_ASSIGN(auto reread, checkpoint::open(written.string(), back));
    return verify_saved(*tree, reread.root(), [&](std::span<const std::byte> b) {
      ck->release_pages(b);
      reread.release_pages(b);
    });
  };
  if (auto w = save(*tree, out, so); !w) return report(out.string(), w.error_value());
  std::printf("%s: written from %s (%zu tensors)\n", shown(out.string()).c_str(), shown(in).c_str(), ck->tensor_count());
  return 0;
}

}  // namespace pthsafe::cli
