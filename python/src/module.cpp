// pthsafe._core: the C++ library seen from Python. The public API (argument checking, the
// exception classes, mmap) is pthsafe/__init__.py; this module opens, scans and converts.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "loaded.hpp"
#include "pthsafe/checkpoint.hpp"
#include "pthsafe/pthsafe.hpp"
#include "pthsafe/scan.hpp"
#include "pthsafe/state_dict.hpp"
#include "to_python.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace pthsafe::py {
namespace {

// A Python object's bytes for the duration of one call (bytes, bytearray, mmap, memoryview).
class borrowed_buffer {
 public:
  explicit borrowed_buffer(nb::handle obj) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_SIMPLE) != 0) throw nb::python_error();
  }
  borrowed_buffer(const borrowed_buffer&) = delete;
  borrowed_buffer& operator=(const borrowed_buffer&) = delete;
  ~borrowed_buffer() { PyBuffer_Release(&view_); }
  std::span<const std::byte> bytes() const {
    return {static_cast<const std::byte*>(view_.buf), static_cast<std::size_t>(view_.len)};
  }

 private:
  Py_buffer view_{};
};

[[noreturn]] void raise(const error& e) {
  nb::object exc = nb::module_::import_("pthsafe._errors").attr("from_core")(
      std::string(errc_name(e.code)), static_cast<int>(classify(e.code)), e.record, e.offset, e.message);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw nb::python_error();
}

load_options options(bool mmap, bool strict_torch, std::vector<std::string> allowed_globals) {
  load_options o;
  o.mode = mmap ? load_mode::mmap : load_mode::copy;
  o.strict_torch = strict_torch;
  o.allowed_globals = std::move(allowed_globals);
  return o;
}

// source: a str path (read by the library), or an object with the buffer protocol. In mmap mode
// the buffer object is kept alive by every tensor that views it.
std::shared_ptr<loaded> open(nb::handle source, const load_options& opts) {
  result<checkpoint> ck = make_error(errc::io_open, "no source");
  nb::object keep = nb::none();
  if (nb::isinstance<nb::str>(source)) {
    const std::string path = nb::cast<std::string>(source);
    nb::gil_scoped_release nogil;
    ck = checkpoint::open(path, opts);
  } else {
    borrowed_buffer buf(source);
    {
      nb::gil_scoped_release nogil;
      ck = checkpoint::open_buffer(buf.bytes(), opts);
    }
    if (opts.mode == load_mode::mmap) keep = nb::borrow(source);
  }
  if (!ck) raise(ck.error_value());
  return std::make_shared<loaded>(std::move(ck).value(), std::move(keep));
}

nb::object load(nb::handle source, bool mmap, bool strict_torch, std::vector<std::string> allowed_globals,
                bool to_cpu, bool want_state_dict, std::string key, std::string strip_prefix) {
  auto l = open(source, options(mmap, strict_torch, std::move(allowed_globals)));
  converter conv(l, placement{to_cpu});
  if (!want_state_dict) return conv.convert(l->ck.root());
  state_dict_options so;
  so.key = std::move(key);
  so.strip_prefix = std::move(strip_prefix);
  auto sd = find_state_dict(l->ck, so);
  if (!sd) raise(sd.error_value());
  nb::object out = nb::module_::import_("collections").attr("OrderedDict")();
  for (const auto& e : sd->entries)
    out[nb::str(e.name.data(), e.name.size())] = conv.tensor(e.tensor);
  return out;
}

nb::tuple scan(nb::handle source, bool strict_torch, std::vector<std::string> allowed_globals) {
  const load_options opts = options(false, strict_torch, std::move(allowed_globals));
  scan_report rep;
  if (nb::isinstance<nb::str>(source)) {
    const std::string path = nb::cast<std::string>(source);
    nb::gil_scoped_release nogil;
    rep = scan_file(path, opts);
  } else {
    borrowed_buffer buf(source);
    nb::gil_scoped_release nogil;
    rep = scan_buffer(buf.bytes(), opts);
  }
  nb::list findings;
  for (const finding& f : rep.findings)
    findings.append(nb::make_tuple(f.rule, std::string(severity_name(f.severity)), f.record, f.offset, f.subject,
                                   f.message));
  return nb::make_tuple(std::string(verdict_name(rep.verdict)), rep.format, findings);
}

}  // namespace
}  // namespace pthsafe::py

NB_MODULE(_core, m) {
  m.doc() = "pthsafe's C++ core (use the pthsafe package, not this module)";
  m.def("load", &pthsafe::py::load, "source"_a, "mmap"_a, "strict_torch"_a, "allowed_globals"_a, "to_cpu"_a,
        "want_state_dict"_a, "key"_a, "strip_prefix"_a);
  m.def("scan", &pthsafe::py::scan, "source"_a, "strict_torch"_a, "allowed_globals"_a);
  m.def("version", [] { return std::string(pthsafe::version()); });
}
