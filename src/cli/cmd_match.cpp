// pthsafe match CKPT --against REF [--key PATH] [--strip-prefix P] [--strict|--no-strict] [--json]
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/match.hpp"
#include "pthsafe/pthsafe.hpp"
#include "pthsafe/safetensors.hpp"
#include "pthsafe/state_dict.hpp"
#include "util/json.hpp"

namespace pthsafe::cli {
namespace {

const char* help =
    "usage: pthsafe match CKPT --against REF [--key PATH] [--strip-prefix P] [--strict|--no-strict]\n"
    "                     [--against-key PATH] [--against-strip-prefix P] [--json]\n"
    "Checks CKPT's state_dict against a model the way torch's model.load_state_dict(sd, strict)\n"
    "does. REF describes the model: a .safetensors file, a .json manifest ({\"name\": {\"dtype\":\n"
    "\"float32\", \"shape\": [64, 32]}, ...}), or any other file a checkpoint whose state_dict is\n"
    "the model's. --key and --strip-prefix choose CKPT's state_dict as in 'inspect --state-dict';\n"
    "--against-key and --against-strip-prefix do the same for a checkpoint REF. Prints torch's\n"
    "missing and unexpected keys and size mismatches, plus dtype differences (torch casts them:\n"
    "warnings). --json prints {\"missing_keys\", \"unexpected_keys\", \"size_mismatch\",\n"
    "\"dtype_mismatch\", \"ok\"}. Exit: 0 torch would accept (--strict, the default: no missing or\n"
    "unexpected key and no size mismatch; --no-strict: no size mismatch), 1 it would not,\n"
    "2 an input cannot be read (malformed, refused by policy, no state_dict) or bad usage.\n";

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "torch.Size([";
  for (std::size_t d = 0; d < shape.size(); ++d) s += (d ? ", " : "") + std::to_string(shape[d]);
  return s + "])";
}

std::string key_list(const std::vector<std::string>& keys) {
  std::string s;
  for (std::size_t i = 0; i < keys.size(); ++i) s += (i ? ", \"" : "\"") + shown(keys[i]) + "\"";
  return s;
}

result<std::string> read_text(const std::string& path, std::uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return make_error(errc::io_open, "cannot open the manifest");
  const auto size = static_cast<std::uint64_t>(in.tellg());
  if (size > max_bytes)
    return make_error(errc::limit_exceeded, "manifest of " + std::to_string(size) + " bytes is over max_json_bytes");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) return make_error(errc::io_read, "cannot read the manifest");
  return text;
}

bool ends_with(const std::string& s, std::string_view tail) { return s.size() >= tail.size() && s.ends_with(tail); }

// The reference REF describes: by extension, as the help says.
result<reference> load_reference(const std::string& path, const load_options& opts, const state_dict_options& sd_opts) {
  if (ends_with(path, ".safetensors")) {
    auto st = safetensors_file::open(path, opts.limits);
    if (!st) return st.error_value();
    return reference_from_safetensors(*st);
  }
  if (ends_with(path, ".json")) {
    auto text = read_text(path, opts.limits.max_json_bytes);
    if (!text) return text.error_value();
    return reference_from_manifest(*text, opts.limits);
  }
  auto ck = checkpoint::open(path, opts);
  if (!ck) return ck.error_value();
  auto sd = find_state_dict(*ck, sd_opts);
  if (!sd) return sd.error_value();
  return reference_from_state_dict(*sd);
}

void print_json(const match_report& r) {
  detail::json_writer w;
  w.begin_object().key("missing_keys").begin_array();
  for (const auto& k : r.missing_keys) w.str(k);
  w.end_array().key("unexpected_keys").begin_array();
  for (const auto& k : r.unexpected_keys) w.str(k);
  w.end_array().key("size_mismatch").begin_array();
  for (const auto& m : r.size_mismatches) {
    w.begin_object().key("key").str(m.key).key("checkpoint").begin_array();
    for (auto d : m.checkpoint) w.num(d);
    w.end_array().key("expected").begin_array();
    for (auto d : m.expected) w.num(d);
    w.end_array().end_object();
  }
  w.end_array().key("dtype_mismatch").begin_array();
  for (const auto& m : r.dtype_mismatches)
    w.begin_object().key("key").str(m.key).key("checkpoint").str(dtype_name(m.checkpoint)).key("expected").str(dtype_name(m.expected)).end_object();
  w.end_array().key("ok").boolean(r.ok()).end_object();
  std::fwrite(w.text().data(), 1, w.text().size(), stdout);
  std::fputc('\n', stdout);
}

// torch's RuntimeError text, one message per line, then the dtype warnings and a verdict.
void print_text(const std::string& file, const match_report& r, std::size_t tensors) {
  if (!r.missing_keys.empty()) std::printf("Missing key(s) in state_dict: %s.\n", key_list(r.missing_keys).c_str());
  if (!r.unexpected_keys.empty()) std::printf("Unexpected key(s) in state_dict: %s.\n", key_list(r.unexpected_keys).c_str());
  for (const auto& m : r.size_mismatches)
    std::printf("size mismatch for %s: copying a param with shape %s from checkpoint, the shape in current model is %s.\n",
                shown(m.key).c_str(), shape_text(m.checkpoint).c_str(), shape_text(m.expected).c_str());
  for (const auto& m : r.dtype_mismatches)
    std::printf("warning: dtype mismatch for %s: %s in checkpoint, %s in current model (load_state_dict casts it).\n",
                shown(m.key).c_str(), std::string(dtype_name(m.checkpoint)).c_str(), std::string(dtype_name(m.expected)).c_str());
  std::printf("%s: %zu tensors, %s (%s)\n", shown(file).c_str(), tensors,
              r.ok() ? "load_state_dict would accept it" : "load_state_dict would fail", r.strict ? "strict" : "non-strict");
}

}  // namespace

int cmd_match(const std::vector<std::string>& args) {
  load_options opts;
  opts.mode = load_mode::metadata;  // names, dtypes and shapes only
  bool json = false, bad = false;
  match_options mopts;
  state_dict_options sd_opts, ref_opts;
  std::string file, against;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if (a == "--json") { json = true; continue; }
    if (a == "--strict") { mopts.strict = true; continue; }
    if (a == "--no-strict") { mopts.strict = false; continue; }
    if (i + 1 < args.size()) {
      std::string* slot = a == "--against" ? &against
                          : a == "--key" ? &sd_opts.key
                          : a == "--strip-prefix" ? &sd_opts.strip_prefix
                          : a == "--against-key" ? &ref_opts.key
                          : a == "--against-strip-prefix" ? &ref_opts.strip_prefix
                                                           : nullptr;
      if (slot) { *slot = args[++i]; continue; }
    }
    if (common_option(args, i, opts, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pthsafe match: unknown option %s\n%s", shown(a).c_str(), help); return 2; }
    if (!file.empty()) { std::fprintf(stderr, "pthsafe match: one CKPT only\n"); return 2; }
    file = a;
  }
  if (file.empty() || against.empty()) { std::fputs(help, stderr); return 2; }

  auto ref = load_reference(against, opts, ref_opts);
  if (!ref) { report(against, ref.error_value()); return 2; }
  auto ck = checkpoint::open(file, opts);
  if (!ck) { report(file, ck.error_value()); return 2; }
  for (const auto& w : ck->warnings()) std::fprintf(stderr, "pthsafe: %s: warning: %s\n", shown(file).c_str(), shown(w).c_str());
  auto sd = find_state_dict(*ck, sd_opts);
  if (!sd) { report(file, sd.error_value()); return 2; }
  const match_report r = match_state_dict(*sd, *ref, mopts);
  if (json) print_json(r);
  else print_text(file, r, sd->entries.size());
  return r.ok() ? 0 : 1;
}

}  // namespace pthsafe::cli
