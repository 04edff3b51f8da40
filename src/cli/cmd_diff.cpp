// pthsafe diff A B [--json] [--atol X] [--key PATH] [--strip-prefix P]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/pthsafe.hpp"
#include "util/json.hpp"

namespace pthsafe::cli {
namespace {
const char* help =
    "usage: pthsafe diff A B [--json] [--atol X] [--key PATH] [--strip-prefix P] [common options]\n"
    "Compares the state_dicts of two checkpoints (found as 'inspect --state-dict' finds them) or\n"
    "safetensors files or sharded checkpoints (*.index.json), in any combination:\n"
    "names only in A or only in B, dtype and shape changes, and for each common tensor whether\n"
    "its bytes are identical and the largest absolute difference between elements. --atol X:\n"
    "tensors whose elements differ by at most X count as the same. --json prints\n"
    "{\"only_in_a\":[...],\"only_in_b\":[...],\"changed\":[{\"key\":K,\"a\":{\"dtype\":D,\"shape\":[...]},\n"
    "\"b\":{...}}],\"tensors\":[{\"key\":K,\"identical\":B,\"max_abs_diff\":X|null}],\"same\":B}.\n"
    "Exit: 0 the same, 1 different, 2 unreadable input or bad usage.\n";

// The state_dict of a loaded checkpoint as tensor_refs (views into `ck`).
result<std::vector<tensor_ref>> refs_of(const checkpoint& ck, const state_dict_options& sd_opts) {
  auto sd = find_state_dict(ck, sd_opts);
  if (!sd) return sd.error_value();
  std::vector<tensor_ref> out;
  out.reserve(sd->entries.size());
  for (const auto& e : sd->entries) {
    const tensor_view& t = e.tensor;
    if (t.is_sparse() || !t.has_storage() || (t.numel() != 0 && t.data() == nullptr)) {
      return make_error(errc::save_unsupported, "'" + std::string(e.name) + "' has no dense elements to compare");
    }
    out.push_back({std::string(e.name), t.element_type(), {t.shape().begin(), t.shape().end()},
                   {t.strides().begin(), t.strides().end()}, t.data()});
  }
  return out;
}

// One side of the comparison: a checkpoint's state_dict or a safetensors file's tensors.
struct side {
  std::optional<checkpoint> ck;
  std::optional<safetensors_file> st;
  std::optional<sharded_state_dict> sharded;
  std::vector<tensor_ref> refs;

  result<void> open(const std::string& path, const load_options& opts, const state_dict_options& sd_opts) {
    if (path.size() > 11 && path.compare(path.size() - 11, 11, ".index.json") == 0) {
      auto s = sharded_state_dict::open(path, opts);
      if (!s) return s.error_value();
      sharded.emplace(std::move(*s));
      refs = sharded->tensors();
      return {};
    }
    if (std::filesystem::path(path).extension() == ".safetensors") {
      auto f = safetensors_file::open(path, opts.limits);
      if (!f) return f.error_value();
      st.emplace(std::move(*f));
      for (const auto& t : st->tensors()) refs.push_back({t.name, t.type, t.shape, {}, t.bytes.data()});
      return {};
    }
    auto c = checkpoint::open(path, opts);
    if (!c) return c.error_value();
    ck.emplace(std::move(*c));
    auto r = refs_of(*ck, sd_opts);
    if (!r) return r.error_value();
    refs = std::move(*r);
    return {};
  }
};

void shape_json(detail::json_writer& w, const std::vector<std::int64_t>& s) {
  w.begin_array();
  for (const auto d : s) w.num(d);
  w.end_array();
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

int cmd_diff(const std::vector<std::string>& args) {
  load_options opts;
  opts.mode = load_mode::mmap;
  state_dict_options sd_opts;
  bool json = false, bad = false;
  double atol = 0;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") { std::fputs(help, stdout); return 0; }
    if (a == "--json") { json = true; continue; }
    if (a == "--atol" && i + 1 < args.size()) {
      char* end = nullptr;
      atol = std::strtod(args[++i].c_str(), &end);
      if (end == args[i].c_str() || *end != '\0' || !(atol >= 0) || std::isinf(atol)) {
        std::fprintf(stderr, "pthsafe diff: --atol takes a finite number >= 0\n");
        return 2;
      }
      continue;
    }
    if (a == "--key" && i + 1 < args.size()) { sd_opts.key = args[++i]; continue; }
    if (a == "--strip-prefix" && i + 1 < args.size()) { sd_opts.strip_prefix = args[++i]; continue; }
    if (common_option(args, i, opts, bad)) { if (bad) return 2; continue; }
    if (!a.empty() && a[0] == '-') { std::fprintf(stderr, "pthsafe diff: unknown option %s\n%s", shown(a).c_str(), help); return 2; }
    files.push_back(a);
  }
  if (files.size() != 2) { std::fputs(help, stderr); return 2; }
  side a, b;
  if (auto r = a.open(files[0], opts, sd_opts); !r) return report(files[0], r.error_value());
  if (auto r = b.open(files[1], opts, sd_opts); !r) return report(files[1], r.error_value());
  auto d = diff_tensors(a.refs, b.refs, atol);
  if (!d) return report(files[0], d.error_value());

  if (json) {
    detail::json_writer w;
    w.begin_object().key("only_in_a").begin_array();
    for (const auto& k : d->only_in_a) w.str(k);
    w.end_array().key("only_in_b").begin_array();
    for (const auto& k : d->only_in_b) w.str(k);
    w.end_array().key("changed").begin_array();
    for (const auto& c : d->changed) {
      w.begin_object().key("key").str(c.key).key("a").begin_object().key("dtype").str(dtype_name(c.dtype_a)).key("shape");
      shape_json(w, c.shape_a);
      w.end_object().key("b").begin_object().key("dtype").str(dtype_name(c.dtype_b)).key("shape");
      shape_json(w, c.shape_b);
      w.end_object().end_object();
    }
    w.end_array().key("tensors").begin_array();
    for (const auto& c : d->compared) {
      w.begin_object().key("key").str(c.key).key("identical").boolean(c.identical).key("max_abs_diff");
      if (c.max_abs_diff) w.real(*c.max_abs_diff); else w.null();
      w.end_object();
    }
    w.end_array().key("same").boolean(d->same).end_object();
    std::printf("%s\n", w.text().c_str());
    return d->same ? 0 : 1;
  }
  for (const auto& k : d->only_in_a) std::printf("only in A: %s\n", shown(k).c_str());
  for (const auto& k : d->only_in_b) std::printf("only in B: %s\n", shown(k).c_str());
  for (const auto& c : d->changed) {
    std::printf("changed: %s: %s %s -> %s %s\n", shown(c.key).c_str(), std::string(dtype_name(c.dtype_a)).c_str(),
                shape_text(c.shape_a).c_str(), std::string(dtype_name(c.dtype_b)).c_str(), shape_text(c.shape_b).c_str());
  }
  std::size_t identical = 0, close = 0, different = 0;
  for (const auto& c : d->compared) {
    if (c.identical) { ++identical; continue; }
    const bool within = atol > 0 && c.max_abs_diff && !std::isnan(*c.max_abs_diff) && *c.max_abs_diff <= atol;
    within ? ++close : ++different;
    if (c.max_abs_diff) {
      std::printf("%s: %s: max |a - b| = %.9g\n", within ? "close" : "different", shown(c.key).c_str(), *c.max_abs_diff);
    } else {
      std::printf("different: %s: bytes differ\n", shown(c.key).c_str());
    }
  }
  std::printf("%s: %zu tensors compared: %zu identical, %zu within atol, %zu different; %zu only in A, %zu only in B, %zu changed\n",
              d->same ? "same" : "different", d->compared.size(), identical, close, different, d->only_in_a.size(),
              d->only_in_b.size(), d->changed.size());
  return d->same ? 0 : 1;
}

}  // namespace pthsafe::cli
