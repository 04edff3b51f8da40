// pthsafe inspect [--json] [--mmap] FILE
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "pthsafe/json.hpp"
#include "pthsafe/pthsafe.hpp"

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

std::string shape_text(const tensor_view& t) {
  std::string s = "[";
  for (std::size_t i = 0; i < t.shape().size(); ++i) s += (i ? ", " : "") + std::to_string(t.shape()[i]);
  return s + "]";
}

// Long text is cut to 80 characters (whole UTF-8 sequences) in the tree: a name printed on
// every visit of a shared subtree would otherwise repeat all of its bytes each time.
std::string clipped(std::string_view s) {
  const std::size_t cut = detail::utf8_prefix(s, 80);
  return std::string(s.substr(0, cut)) + (cut < s.size() ? "..." : "");
}

std::string scalar_text(const value& v) {
  switch (v.kind()) {
    case value_kind::none: return "None";
    case value_kind::boolean: return v.as_bool() ? "True" : "False";
    case value_kind::integer: return v.int_decimal();
    case value_kind::floating: { std::string s; detail::append_double(s, v.as_double()); return s; }
    case value_kind::complex: {
      std::string s = "(";
      detail::append_double(s, v.as_complex().real());
      const double im = v.as_complex().imag();
      if (!std::signbit(im) || std::isnan(im)) s += '+';
      detail::append_double(s, im);
      return s + "j)";
    }
    case value_kind::string: return "'" + clipped(v.text()) + "'";
    case value_kind::bytes: return "bytes[" + std::to_string(v.text().size()) + "]";
    default: return std::string(v.text());
  }
}

// The tree is bounded like the JSON document: a memo-shared subtree is printed once per path
// that reaches it, so a small file could otherwise ask for gigabytes of lines (1 Mi lines of
// 2 KiB indentation). Past the limit the printer stops and the command fails.
struct printer {
  std::uint64_t tensors = 0, lines_left = 1u << 20, bytes_left = 0;
  bool stopped = false;

  template <class... A>
  void emit(const char* fmt, A... a) {
    const int n = std::snprintf(nullptr, 0, fmt, a...);
    if (n < 0 || static_cast<std::uint64_t>(n) > bytes_left || lines_left == 0) { stopped = true; return; }
    bytes_left -= static_cast<std::uint64_t>(n);
    --lines_left;
    std::printf(fmt, a...);
  }

  void line(const std::string& path, const value& v, int depth) {
    if (stopped) return;
    const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
    const std::string label = path.empty() ? "<root>" : shown(path);
    switch (v.kind()) {
      case value_kind::tensor: {
        const tensor_view t = v.as_tensor();
        ++tensors;
        emit("%s%s: %s%s %s %s %llu bytes%s\n", indent.c_str(), label.c_str(), t.is_parameter() ? "Parameter " : "",
             std::string(dtype_name(t.element_type())).c_str(), shape_text(t).c_str(), shown(t.device()).c_str(),
             static_cast<unsigned long long>(t.nbytes()), t.requires_grad() ? " requires_grad" : "");
        return;
      }
      case value_kind::dict: case value_kind::ordered_dict: {
        emit("%s%s: %s (%zu items)\n", indent.c_str(), label.c_str(), std::string(value_kind_name(v.kind())).c_str(), v.size());
        const auto items = v.items();
        for (std::size_t i = 0; i + 1 < items.size() && !stopped; i += 2) line(scalar_text(*items[i]), *items[i + 1], depth + 1);
        for (const auto& [name, a] : v.attrs()) {
          if (stopped) break;
          line("." + clipped(name), *a, depth + 1);
        }
        return;
      }
      case value_kind::tuple: case value_kind::list: case value_kind::set: case value_kind::frozenset: case value_kind::size: {
        emit("%s%s: %s (%zu items)\n", indent.c_str(), label.c_str(), std::string(value_kind_name(v.kind())).c_str(), v.size());
        for (std::size_t i = 0; i < v.items().size() && !stopped; ++i) line("[" + std::to_string(i) + "]", *v.items()[i], depth + 1);
        return;
      }
      default:
        emit("%s%s: %s %s\n", indent.c_str(), label.c_str(), std::string(value_kind_name(v.kind())).c_str(), shown(scalar_text(v)).c_str());
    }
  }
};

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
  printer p;
  p.bytes_left = ck->output_budget();
  p.line("", ck->root(), 0);
  if (p.stopped) {
    std::fflush(stdout);
    return report(file, make_error(errc::limit_exceeded, "limit max_output_bytes (" + std::to_string(ck->output_budget()) +
                                                             " bytes) or 1 Mi lines: the tree expands past it through shared references"));
  }
  std::printf("total: %zu tensors, %zu storages, %llu bytes\n", ck->tensor_count(), ck->storage_count(),
              static_cast<unsigned long long>(ck->storage_bytes()));
  return 0;
}

}  // namespace pthsafe::cli
