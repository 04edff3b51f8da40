// pthsafe inspect [--json] [--mmap] [--state-dict [--key PATH] [--strip-prefix P]] FILE
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/pthsafe.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/state_dict.hpp"
#include "util/json.hpp"

namespace pthsafe::cli {
namespace {

const char* help =
    "usage: pthsafe inspect [--json] [--mmap [--refuse-copy]] [--torchscript] [--allow-global M.N]\n"
    "                       [--strict-torch] [--state-dict [--key PATH] [--strip-prefix P]] FILE\n"
    "Prints the checkpoint's object tree: one line per value, tensors with dtype, shape, device\n"
    "and bytes, totals at the end. --json prints the canonical document (docs/inspect-json.md) on\n"
    "stdout. --mmap loads zero-copy (same output); --refuse-copy fails instead of copying a\n"
    "storage that cannot be mapped (deflated, big-endian, misaligned legacy). --torchscript reads\n"
    "the tensors of a TorchScript archive (never its code). --state-dict lists only the state_dict:\n"
    "the root when it maps names to tensors, else the first of model, state_dict, model_state_dict,\n"
    "module, net, ema, model_ema that does, or the dict at --key PATH ('a/b'); --strip-prefix P\n"
    "removes P from the names that start with it ('module.'). Exit: 0 ok, 1 refused by policy,\n"
    "2 malformed or no state_dict.\n";

// --state-dict: the key chosen on stderr-free stdout, then one line per tensor; --json: an object.
int print_state_dict(const std::string& file, const checkpoint& ck, const state_dict_options& sd_opts, bool json) {
  auto sd = find_state_dict(ck, sd_opts);
  if (!sd) return report(file, sd.error_value());
  if (json) {
    detail::json_writer w;
    w.begin_object().key("key").str(sd->key).key("stripped").num(std::uint64_t{sd->stripped}).key("tensors").begin_array();
    for (const auto& e : sd->entries) {
      w.begin_array().str(e.name).begin_object().key("dtype").str(dtype_name(e.tensor.element_type())).key("shape").begin_array();
      for (auto d : e.tensor.shape()) w.num(d);
      w.end_array().end_object().end_array();
    }
    w.end_array().end_object();
    std::fwrite(w.text().data(), 1, w.text().size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  std::printf("%s: state_dict at %s: %zu tensors", shown(file).c_str(), sd->key.empty() ? "<root>" : ("'" + shown(sd->key) + "'").c_str(),
              sd->entries.size());
  if (!sd_opts.strip_prefix.empty()) std::printf(", '%s' stripped from %zu names", shown(sd_opts.strip_prefix).c_str(), sd->stripped);
  std::printf("\n");
  std::uint64_t bytes = 0;
  for (const auto& e : sd->entries) {
    std::string shape = "[";
    for (std::size_t d = 0; d < e.tensor.shape().size(); ++d) shape += (d ? ", " : "") + std::to_string(e.tensor.shape()[d]);
    std::printf("  %s: %s %s]\n", shown(e.name).c_str(), std::string(dtype_name(e.tensor.element_type())).c_str(), shape.c_str());
    bytes += e.tensor.nbytes();
  }
  std::printf("total: %zu tensors, %llu bytes\n", sd->entries.size(), static_cast<unsigned long long>(bytes));
  return 0;
}

}  // namespace

int cmd_inspect(const std::vector<std::string>& args) {
  load_options opts;
  bool json = false, bad = false, state_dict_only = false;
  state_dict_options sd_opts;
  std::string file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if (a == "--version") { std::printf("pthsafe %s\n", version()); return 0; }
    if (a == "--json") { json = true; continue; }
    if (a == "--state-dict") { state_dict_only = true; continue; }
    if ((a == "--key" || a == "--strip-prefix") && i + 1 < args.size()) {
      (a == "--key" ? sd_opts.key : sd_opts.strip_prefix) = args[++i];
      continue;
    }
    if (load_option(a, opts)) continue;
    if (common_option(args, i, opts, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pthsafe inspect: unknown option %s\n%s", shown(a).c_str(), help); return 2; }
    if (!file.empty()) { std::fprintf(stderr, "pthsafe inspect: one FILE only\n"); return 2; }
    file = a;
  }
  if (file.empty()) { std::fputs(help, stderr); return 2; }
  if (!state_dict_only && (!sd_opts.key.empty() || !sd_opts.strip_prefix.empty())) {
    std::fprintf(stderr, "pthsafe inspect: --key and --strip-prefix need --state-dict\n");
    return 2;
  }
  if (!json) opts.mode = load_mode::metadata;  // the tree needs no tensor bytes
  auto ck = checkpoint::open(file, opts);
  if (!ck) return report(file, ck.error_value());
  for (const auto& w : ck->warnings()) std::fprintf(stderr, "pthsafe: %s: warning: %s\n", shown(file).c_str(), shown(w).c_str());
  if (state_dict_only) return print_state_dict(file, *ck, sd_opts, json);
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
  if (const auto training = summarize_training(*ck); training.is_training()) std::fputs(training_text(training).c_str(), stdout);
  auto tree = inspect_text(*ck, [](std::string_view line) { std::fwrite(line.data(), 1, line.size(), stdout); });
  if (!tree) {
    std::fflush(stdout);
    return report(file, tree.error_value());
  }
  return 0;
}

}  // namespace pthsafe::cli
