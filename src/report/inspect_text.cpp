// The `pthsafe inspect` tree: one line per value, indented by depth, bounded like the JSON
// document (a memo-shared subtree is printed once per path that reaches it, so a small file
// could otherwise ask for gigabytes of lines: 1 Mi lines of 2 KiB indentation).
#include <cmath>
#include <cstdio>
#include <string>

#include "pthsafe/report.hpp"
#include "util/escape.hpp"
#include "util/try.hpp"

namespace pthsafe {
namespace {

constexpr std::uint64_t max_lines = 1u << 20;

std::string shown(std::string_view s) { return detail::text_escape(s); }

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

// Past the line or byte budget the printer stops; inspect_text then fails.
struct printer {
  const std::function<void(std::string_view)>& write;
  std::uint64_t lines_left = max_lines, bytes_left = 0;
  bool stopped = false;

  template <class... A>
  void emit(const char* fmt, A... a) {
    const int n = std::snprintf(nullptr, 0, fmt, a...);
    if (n < 0 || static_cast<std::uint64_t>(n) > bytes_left || lines_left == 0) { stopped = true; return; }
    bytes_left -= static_cast<std::uint64_t>(n);
    --lines_left;
    std::string out(static_cast<std::size_t>(n) + 1, '\0');
    std::snprintf(out.data(), out.size(), fmt, a...);
    out.pop_back();
    write(out);
  }

  void line(const std::string& path, const value& v, int depth) {
    if (stopped) return;
    const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
    const std::string label = path.empty() ? "<root>" : shown(path);
    switch (v.kind()) {
      case value_kind::tensor: {
        const tensor_view t = v.as_tensor();
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
      case value_kind::ndarray: {
        std::string shape = "[";
        for (std::size_t i = 0; i < v.items().size(); ++i) shape += (i ? ", " : "") + std::to_string(v.items()[i]->as_int64());
        emit("%s%s: numpy.ndarray %s %s %zu bytes\n", indent.c_str(), label.c_str(), std::string(dtype_name(*v.numpy_dtype())).c_str(),
             (shape + "]").c_str(), v.text().size());
        return;
      }
      default: {
        // Classes beyond torch's allowlist are named: "str (TorchVersion)", "float (numpy.float32)".
        std::string kind(value_kind_name(v.kind()));
        if (v.is_torch_version()) kind += " (TorchVersion)";
        else if (const auto np = v.numpy_dtype()) kind += " (numpy." + std::string(dtype_name(*np)) + ")";
        emit("%s%s: %s %s\n", indent.c_str(), label.c_str(), kind.c_str(), shown(scalar_text(v)).c_str());
      }
    }
  }
};

}  // namespace

result<void> inspect_text(const checkpoint& ck, const std::function<void(std::string_view)>& write) {
  printer p{write};
  p.bytes_left = ck.output_budget();
  p.line("", ck.root(), 0);
  if (p.stopped)
    return make_error(errc::limit_exceeded, "limit max_output_bytes (" + std::to_string(ck.output_budget()) +
                                                " bytes) or 1 Mi lines: the tree expands past it through shared references");
  write("total: " + std::to_string(ck.tensor_count()) + " tensors, " + std::to_string(ck.storage_count()) + " storages, " +
        std::to_string(ck.storage_bytes()) + " bytes\n");
  return {};
}

result<std::string> inspect_text(const checkpoint& ck) {
  std::string out;
  PTHSAFE_TRY(inspect_text(ck, [&out](std::string_view s) { out += s; }));
  return out;
}

}  // namespace pthsafe
