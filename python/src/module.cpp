// pthsafe._core: the C++ library seen from Python. The public API (argument checking, the
// exception classes, mmap) is pthsafe/__init__.py; this module opens, scans and converts.
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "loaded.hpp"
#include "pthsafe/checkpoint.hpp"
#include "pthsafe/convert.hpp"
#include "pthsafe/match.hpp"
#include "pthsafe/safetensors.hpp"
#include "pthsafe/pthsafe.hpp"
#include "pthsafe/scan.hpp"
#include "pthsafe/state_dict.hpp"
#include "stack.hpp"
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
    ck = on_core_stack([&] { return checkpoint::open(path, opts); });
  } else {
    borrowed_buffer buf(source);
    {
      nb::gil_scoped_release nogil;
      ck = on_core_stack([&] { return checkpoint::open_buffer(buf.bytes(), opts); });
    }
    if (opts.mode == load_mode::mmap) keep = nb::borrow(source);
  }
  if (!ck) raise_checkpoint_error(ck.error_value());
  return std::make_shared<loaded>(std::move(ck).value(), std::move(keep));
}

// Python's cyclic collector paused while the converter builds the result: every container it
// makes (tensors, dicts, lists) counts towards the collector's thresholds, so a 100,000-tensor
// checkpoint set off passes that each walked everything built so far, none of it garbage.
class gc_paused {
 public:
  gc_paused() : was_enabled_(PyGC_Disable()) {}
  gc_paused(const gc_paused&) = delete;
  gc_paused& operator=(const gc_paused&) = delete;
  ~gc_paused() {
    if (was_enabled_) PyGC_Enable();
  }

 private:
  int was_enabled_;
};

// find_state_dict walks the value tree: on the core's stack, without the GIL.
result<state_dict> find_state_dict_released(const checkpoint& ck, const state_dict_options& so) {
  nb::gil_scoped_release nogil;
  return on_core_stack([&] { return find_state_dict(ck, so); });
}

nb::object load(nb::handle source, bool mmap, bool strict_torch, std::vector<std::string> allowed_globals,
                std::map<std::string, std::string> remap, std::string all_to, bool want_state_dict,
                std::string key, std::string strip_prefix) {
  const load_options opts = options(mmap, strict_torch, std::move(allowed_globals));
  auto l = open(source, opts);
  placement where;
  where.remap.insert(remap.begin(), remap.end());
  where.all = std::move(all_to);
  gc_paused no_gc;
  converter conv(l, std::move(where), opts.limits.max_walk_nodes);
  if (!want_state_dict) return conv.convert(l->ck.root());
  state_dict_options so;
  so.key = std::move(key);
  so.strip_prefix = std::move(strip_prefix);
  auto sd = find_state_dict_released(l->ck, so);
  if (!sd) raise_checkpoint_error(sd.error_value());
  nb::object out = nb::module_::import_("collections").attr("OrderedDict")();
  for (const auto& e : sd->entries)
    out[value_text(e.name)] = conv.tensor(e.tensor);
  return out;
}

nb::tuple scan(nb::handle source, bool strict_torch, std::vector<std::string> allowed_globals) {
  const load_options opts = options(false, strict_torch, std::move(allowed_globals));
  scan_report rep;
  if (nb::isinstance<nb::str>(source)) {
    const std::string path = nb::cast<std::string>(source);
    nb::gil_scoped_release nogil;
    rep = on_core_stack([&] { return scan_file(path, opts); });
  } else {
    borrowed_buffer buf(source);
    nb::gil_scoped_release nogil;
    rep = on_core_stack([&] { return scan_buffer(buf.bytes(), opts); });
  }
  nb::list findings;
  for (const finding& f : rep.findings)
    findings.append(nb::make_tuple(f.rule, std::string(severity_name(f.severity)), shown_text(f.record), f.offset,
                                   shown_text(f.subject), shown_text(f.message)));
  return nb::make_tuple(std::string(verdict_name(rep.verdict)), rep.format, findings);
}

// The reference a checkpoint is matched against, from entries (name, dtype name, shape) the
// package took from a model (with the GIL: they are Python objects).
reference reference_from_entries(const std::vector<nb::tuple>& entries) {
  reference ref;
  for (const nb::tuple& e : entries) {
    const std::string dt = nb::cast<std::string>(e[1]);
    auto type = dtype_from_name(dt);
    if (!type) throw nb::value_error(("pthsafe.match: unknown dtype " + dt).c_str());
    ref.entries.push_back({nb::cast<std::string>(e[0]), *type, nb::cast<std::vector<std::int64_t>>(e[2])});
  }
  return ref;
}

// ... or from a file, by extension, as `pthsafe match --against` reads it (core work: run on the
// core's stack without the GIL).
result<reference> reference_from_file(const std::string& path, const load_options& opts) {
  if (path.ends_with(".safetensors")) {
    auto st = safetensors_file::open(path, opts.limits);
    if (!st) return st.error_value();
    return reference_from_safetensors(*st);
  }
  if (path.ends_with(".json")) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(errc::io_open, "cannot open the manifest");
    std::string text;
    std::array<char, 65536> chunk{};
    while (in.read(chunk.data(), chunk.size()) || in.gcount() > 0) {
      text.append(chunk.data(), static_cast<std::size_t>(in.gcount()));
      if (text.size() > opts.limits.max_json_bytes)
        return make_error(errc::limit_exceeded, "manifest is over max_json_bytes");
    }
    return reference_from_manifest(text, opts.limits);
  }
  auto ck = checkpoint::open(path, opts);
  if (!ck) return ck.error_value();
  auto sd = find_state_dict(*ck, {});
  if (!sd) return sd.error_value();
  return reference_from_state_dict(*sd);
}

// load_state_dict's verdict without loading a tensor: the checkpoint is opened for metadata only.
nb::tuple match(nb::handle source, bool strict_torch, std::vector<std::string> allowed_globals, std::string key,
                std::string strip_prefix, const std::string& against_path, const std::vector<nb::tuple>& against_entries,
                bool strict) {
  load_options opts = options(false, strict_torch, std::move(allowed_globals));
  opts.mode = load_mode::metadata;
  auto l = open(source, opts);
  state_dict_options so;
  so.key = std::move(key);
  so.strip_prefix = std::move(strip_prefix);
  auto sd = find_state_dict_released(l->ck, so);
  if (!sd) raise_checkpoint_error(sd.error_value());
  result<reference> ref = against_path.empty() ? result<reference>(reference_from_entries(against_entries))
                                                : make_error(errc::io_open, "not read");
  match_options mo;
  mo.strict = strict;
  match_report r;
  {
    nb::gil_scoped_release nogil;
    if (!against_path.empty()) ref = on_core_stack([&] { return reference_from_file(against_path, opts); });
    if (ref) r = on_core_stack([&] { return match_state_dict(*sd, *ref, mo); });
  }
  if (!ref) raise_checkpoint_error(ref.error_value());
  nb::list missing;
  for (const auto& k : r.missing_keys) missing.append(value_text(k));
  nb::list unexpected;
  for (const auto& k : r.unexpected_keys) unexpected.append(value_text(k));
  nb::list sizes;
  for (const auto& m : r.size_mismatches) sizes.append(nb::make_tuple(value_text(m.key), m.checkpoint, m.expected));
  nb::list types;
  for (const auto& m : r.dtype_mismatches)
    types.append(nb::make_tuple(value_text(m.key), std::string(dtype_name(m.checkpoint)), std::string(dtype_name(m.expected))));
  return nb::make_tuple(missing, unexpected, sizes, types, r.ok());
}

nb::tuple convert(const std::string& in, const std::string& out, bool strict_torch,
                  std::vector<std::string> allowed_globals, bool state_dict_only, std::string key,
                  std::string strip_prefix, const std::string& to_dtype) {
  convert_options co;
  co.load.strict_torch = strict_torch;
  co.load.allowed_globals = std::move(allowed_globals);
  // As the CLI: naming a key or a prefix asks for the state_dict only.
  co.state_dict_only = state_dict_only || !key.empty() || !strip_prefix.empty();
  co.state_dict.key = std::move(key);
  co.state_dict.strip_prefix = std::move(strip_prefix);
  if (!to_dtype.empty()) {
    co.to_dtype = dtype_from_name(to_dtype);
    if (co.to_dtype != dtype::float16 && co.to_dtype != dtype::bfloat16 && co.to_dtype != dtype::float32)
      throw nb::value_error(("pthsafe.convert: dtype takes float16, bfloat16 or float32, not " + to_dtype).c_str());
  }
  result<convert_summary> r = make_error(errc::io_open, "not run");
  {
    nb::gil_scoped_release nogil;
    r = on_core_stack([&] { return convert_file(in, out, co); });
  }
  if (!r) raise_checkpoint_error(r.error_value());
  nb::list dropped;
  for (const auto& k : r->dropped_metadata) dropped.append(value_text(k));
  return nb::make_tuple(r->tensors, r->converted, value_text(r->state_dict_key), r->whole_tree, dropped);
}

}  // namespace
}  // namespace pthsafe::py

NB_MODULE(_core, m) {
  m.doc() = "pthsafe's C++ core (use the pthsafe package, not this module)";
  m.def("load", &pthsafe::py::load, "source"_a, "mmap"_a, "strict_torch"_a, "allowed_globals"_a, "remap"_a, "all_to"_a,
        "want_state_dict"_a, "key"_a, "strip_prefix"_a);
  m.def("scan", &pthsafe::py::scan, "source"_a, "strict_torch"_a, "allowed_globals"_a);
  m.def("match", &pthsafe::py::match, "source"_a, "strict_torch"_a, "allowed_globals"_a, "key"_a, "strip_prefix"_a,
        "against_path"_a, "against_entries"_a, "strict"_a);
  m.def("convert", &pthsafe::py::convert, "src"_a, "dst"_a, "strict_torch"_a, "allowed_globals"_a,
        "state_dict_only"_a, "key"_a, "strip_prefix"_a, "to_dtype"_a);
  m.def("version", [] { return std::string(pthsafe::version()); });
}
