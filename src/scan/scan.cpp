#include "load/tar_probe.hpp"
#include "pthsafe/safetensors.hpp"
#include "scan/gate.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "load/container.hpp"
#include "model/state.hpp"
#include "io/release_behind.hpp"
#include "io/source.hpp"
#include "pickle/machine.hpp"
#include "pickle/opcodes.hpp"
#include "pthsafe/checkpoint.hpp"
#include "pthsafe/scan.hpp"
#include "scan/opcode_walk.hpp"
#include "scan/zip_sweep.hpp"
#include "torch/rebuild.hpp"
#include "model/expansion.hpp"
#include "util/try.hpp"
#include "zip/archive.hpp"

namespace pthsafe {

std::string_view verdict_name(verdict v) noexcept {
  switch (v) {
    case verdict::safe: return "safe";
    case verdict::unsafe: return "unsafe";
    case verdict::malformed: return "malformed";
  }
  return "malformed";
}

std::string_view severity_name(severity s) noexcept {
  switch (s) {
    case severity::note: return "note";
    case severity::warning: return "warning";
    case severity::error: return "error";
  }
  return "error";
}

namespace {

// Most pickles one file may contain before the gate gives up on it (as malformed).
constexpr int max_pickles_per_record = 64;

// The global or opcode an error names ("GLOBAL os.system ...", "opcode INST ...").
std::string subject_of(const error& e) {
  // Only codes whose message names a global, an opcode or a call target have a subject ("ends
  // inside an opcode or before STOP" names none).
  switch (e.code) {
    case errc::pickle_global_refused: case errc::pickle_global_blocked: case errc::pickle_opcode_refused:
    case errc::pickle_opcode_not_torch: case errc::pickle_unknown_opcode: case errc::pickle_call_refused: break;
    default: return {};
  }
  for (const char* lead : {"GLOBAL ", "opcode ", "REDUCE on ", "NEWOBJ on "}) {
    const auto at = e.message.find(lead);
    if (at == std::string::npos) continue;
    const auto start = at + std::char_traits<char>::length(lead);
    const auto end = e.message.find_first_of(" :(", start);
    return e.message.substr(start, end == std::string::npos ? std::string::npos : end - start);
  }
  return {};
}

finding warning_finding(const std::string& w) {
  // Warnings are "record@offset: text".
  finding f;
  f.severity = severity::warning;
  const auto at = w.find('@');
  const auto colon = w.find(": ", at == std::string::npos ? 0 : at);
  if (at != std::string::npos && colon != std::string::npos) {
    f.record = w.substr(0, at);
    f.offset = std::strtoull(w.c_str() + at + 1, nullptr, 10);
    f.message = w.substr(colon + 2);
  } else {
    f.message = w;
  }
  if (f.message.rfind("opcode ", 0) == 0) {
    f.rule = "torch_refuses_opcode";
    f.subject = f.message.substr(7, f.message.find(':') - 7);
  } else if (f.message.rfind("global ", 0) == 0) {
    f.rule = "beyond_torch_allowlist";
    f.subject = f.message.substr(7, f.message.find(':') - 7);
  } else if (f.message.rfind("byteorder ", 0) == 0) {
    f.rule = "byteorder_version_dependent";
  } else if (f.message.rfind("tensor state applied by ", 0) == 0) {
    f.rule = "tensor_state_version_dependent";
  } else if (f.message.rfind("deflated storage record", 0) == 0) {
    // Loadable (the load inflates, as torch.load does), but torch's two read modes read two
    // sets of weights: the gate's verdict is malformed.
    f.rule = std::string(errc_name(errc::storage_deflated));
    f.severity = severity::error;
  } else {
    f.rule = "stack_not_empty_at_stop";
  }
  return f;
}

bool is_refusal_rule(const std::string& rule) {
  for (int i = 0; i < 256; ++i) {
    const auto code = static_cast<errc>(i);
    if (errc_name(code) == rule) return classify(code) == error_class::refused;
    if (errc_name(code) == "unknown_error") break;
  }
  return false;
}

bool starts_like_pickle(unsigned char b) { return detail::pickler_writes_first(b); }

bool is_pickle_error(errc c) {
  const auto name = errc_name(c);
  return name.rfind("pickle_", 0) == 0 || c == errc::limit_exceeded || c == errc::bad_persistent_id ||
         c == errc::bad_storage_type || c == errc::storage_size_mismatch || c == errc::storage_dtype_conflict ||
         c == errc::bad_rebuild_args || c == errc::bad_dtype || c == errc::bad_device || c == errc::tensor_bad_geometry ||
         c == errc::tensor_out_of_bounds || c == errc::unsupported_feature || c == errc::missing_record;
}

// How the load's error relates to the pickle stream it was reading.
enum class stop_kind {
  inside,    // the machine failed inside the pickle that holds the offset
  complete,  // the pickle starting at the offset ran to STOP; its value was refused (legacy header)
  boundary,  // the offset is the end of a complete pickle (bytes follow STOP)
  after,     // every pickle before the offset ran cleanly (storage data checks and the like)
};

stop_kind stop_kind_of(errc c) {
  if (c == errc::pickle_trailing_data) return stop_kind::boundary;
  if (c == errc::legacy_bad_header) return stop_kind::complete;
  return is_pickle_error(c) ? stop_kind::inside : stop_kind::after;
}

class gate {
 public:
  /// `src` (a buffer, or a mapped file whose pages the zip walks hand back) outlives the gate.
  /// `check`: libzip_after_load, unless libzip refused an archive the first pass deferred.
  gate(const detail::source& src, const load_options& opts, detail::zip_check check = detail::zip_check::libzip_after_load)
      : src_(src), file_(src.bytes()), opts_(opts), check_(check) {
    opts_.mode = load_mode::metadata;
    opts_.allow_torchscript = false;  // torch.jit.load runs their code: always unsafe to a gate
  }

  scan_report run() {
    scan_report rep;
    // The load classifies the file (core/container: the one detection both use) and judges
    // everything it reads; the gate then judges what the load did not reach.
    std::optional<error> main_error;
    {
      // The loaded tree is released before any further pickle runs: a scan's memory is one
      // value tree at a time, not two.
      facts_.want_storage_records = true;
      auto ck = detail::open_with_facts(detail::source::borrow(src_), opts_, facts_, check_);
      if (ck) {
        rep.format = std::string(container_format_name(ck->format()));
        for (const auto& w : ck->warnings()) add(warning_finding(w));
        // A memo "billion laughs" loads (shared references, as CPython builds them) but no
        // description of it can be written: malformed, where the load's own JSON walk stops.
        if (auto r = detail::check_expansion(*ck); !r) add_error(r.error_value(), 0);
      } else {
        main_error = ck.error_value();
        add_error(*main_error, 0);
      }
    }
    if (facts_.libzip_deferred) {
      // libzip, the parser of record, checks an all-stored archive now that the tree is gone:
      // its per-entry structures and the tree are never held together (bench/NOTES.md 28).
      const detail::page_release release = [this](std::span<const std::byte> b) { src_.release_pages(b); };
      if (!detail::archive::libzip_agrees(file_, opts_.limits, release)) {
        // It refuses what the strict walk accepted: the report is the one a refusal at open
        // gives (the same codes as when libzip ran first), so judge the file again that way.
        gate at_open(src_, opts_, detail::zip_check::libzip_always);
        return at_open.run();
      }
    }
    using detail::container_kind;
    const std::uint64_t zip_end = facts_.kind == container_kind::zip || facts_.kind == container_kind::pickle ||
                                          facts_.kind == container_kind::none
                                      ? detail::end_of_zip(file_)
                                      : 0;
    switch (facts_.kind) {
      case container_kind::tar:
        // torch.load reads it as a tar checkpoint (its members are pickles torch runs):
        // unsafe whatever else the bytes also parse as; nothing else is judged.
        rep.format = "tar";
        break;
      case container_kind::preview: break;
      case container_kind::mobile:
        // torch.jit.load reads it as a flatbuffer module and runs its methods: unsafe whatever
        // else the bytes parse as (a pickle, say); nothing else is judged.
        rep.format = "torchscript";
        break;
      case container_kind::zip: scan_zip(true, zip_end, main_error); break;
      case container_kind::pickle:
        if (zip_end) scan_zip(false, zip_end, main_error);
        else if (main_error) scan_top_stream(*main_error);
        break;
      case container_kind::none:
        if (zip_end) {
          scan_zip(false, zip_end, main_error);
        } else {
          // No pickler wrote this, but a pickle.load loop would still read it pickle after
          // pickle: judge every global and call-by-name opcode in each (stray refused opcodes
          // of a binary file are no payload).
          walk_rest(file_, 0, "");
        }
        break;
    }
    if (rep.format.empty()) rep.format = facts_.kind == container_kind::zip ? "zip" : facts_.legacy ? "legacy" : "";
    rep.findings = std::move(findings_);
    bool unsafe = false, malformed = false;
    for (const auto& f : rep.findings) {
      if (f.severity != severity::error) continue;
      (is_refusal_rule(f.rule) ? unsafe : malformed) = true;
    }
    rep.verdict = unsafe ? verdict::unsafe : malformed ? verdict::malformed : verdict::safe;
    // Errors first, then warnings and notes; stable within each.
    std::stable_sort(rep.findings.begin(), rep.findings.end(),
                     [](const finding& a, const finding& b) { return a.severity > b.severity; });
    return rep;
  }

 private:
  void add(finding f) {
    if (!seen_.insert({f.rule, f.record, f.offset}).second) return;
    findings_.push_back(std::move(f));
  }
  void add_error(const error& e, std::uint64_t base) {
    finding f;
    f.rule = std::string(errc_name(e.code));
    f.severity = severity::error;
    f.record = e.record;
    f.offset = e.offset + base;
    f.subject = subject_of(e);
    f.message = e.message;
    add(std::move(f));
  }

  // The file itself as a pickle stream the load could not finish: a legacy stream is five
  // pickles and then storage bytes (never pickles); any other stream is pickle after pickle
  // to its end, as a pickle.load loop reads it. A bare pickle that ran to STOP without error
  // consumed the whole file, so nothing is left to judge.
  void scan_top_stream(const error& e) {
    if (!facts_.legacy && facts_.main_pickle_ran && e.code != errc::pickle_trailing_data) return;
    scan_stream(file_, "", e, facts_.legacy ? 5 : max_pickles_per_record, !facts_.legacy);
  }

  // Runs one pickle in the machine (metadata mode, no archive: storages are not this pickle's
  // concern here). Returns the end offset after STOP, or the error.
  result<std::uint64_t> run_one(std::span<const std::byte> bytes, const std::string& record) {
    detail::checkpoint_state st;
    st.lim = opts_.limits;
    st.mode = load_mode::metadata;
    detail::torch_rebuilder rb(st, nullptr, opts_);
    rb.use_placeholder_storages();
    detail::machine m(st, rb, opts_, record);
    rb.attach(&m);
    std::uint64_t end = 0;
    PTHSAFE_TRY(m.run(bytes, end));
    for (const auto& w : st.warnings) add(warning_finding(w));
    return end;
  }

  // Judges the failing pickle at `pos` (the machine stopped inside it): the failing opcode and
  // everything after it, as CPython might run them. The walk starts at the pickle's first byte
  // so that operands pushed before the failure (strings a later STACK_GLOBAL takes from the
  // memo) are known; what the machine already judged yields no new findings. Returns the
  // offset after its STOP, or nothing when no STOP follows.
  std::optional<std::uint64_t> judge_failed(std::span<const std::byte> bytes, std::uint64_t pos, const std::string& record) {
    auto w = detail::walk_opcodes(bytes, pos, record, opts_);
    for (auto& f : w.findings) add(std::move(f));
    if (!w.reached_stop) return std::nullopt;
    walk_frame_tail(bytes, w, record);
    return w.end;
  }

  // Every pickle in `bytes`, one after the other from offset 0 (bytes after STOP are a further
  // pickle to some reader), each run once. `known`: the load already read this stream and
  // stopped with that error (offset within `bytes`); the pickles it finished are not run again.
  void scan_stream(std::span<const std::byte> bytes, const std::string& record, const std::optional<error>& known,
                   int max_pickles = max_pickles_per_record, bool report_trailing = true) {
    std::uint64_t pos = 0;
    int n = 0;
    if (known) {
      const std::uint64_t at = known->offset;
      // Pickles that end at or before the error ran cleanly in the load. Their bounds come from
      // the linear walk, whose findings are not wanted here: the machine judged them.
      while (n < max_pickles && pos < bytes.size()) {
        const auto w = detail::walk_opcodes(bytes, pos, record, opts_);
        if (!w.reached_stop || w.end > at) break;
        pos = w.end;
        ++n;
      }
      if (n < max_pickles && pos < bytes.size()) {
        switch (stop_kind_of(known->code)) {
          case stop_kind::inside: {
            const auto end = judge_failed(bytes, pos, record);
            if (!end) return;
            pos = *end;
            ++n;
            break;
          }
          case stop_kind::complete: {
            const auto w = detail::walk_opcodes(bytes, pos, record, opts_);
            if (!w.reached_stop) return;
            pos = w.end;
            ++n;
            break;
          }
          case stop_kind::boundary:
          case stop_kind::after: break;
        }
      }
    }
    for (; pos < bytes.size(); ++n) {
      if (n >= max_pickles) {
        if (report_trailing) {
          add_error(make_error(errc::limit_exceeded,
                               "more than " + std::to_string(max_pickles) + " pickles one after another: the rest is "
                                   "only walked for globals",
                               record, pos),
                    0);
          walk_rest(bytes, pos, record);
        }
        return;
      }
      if (n > 0 && !starts_like_pickle(static_cast<unsigned char>(bytes[pos]))) {
        // Bytes after STOP that no pickler would write (a data descriptor, padding): still judge
        // every global a reader could meet in them, pickle after pickle, but not their stray
        // opcodes.
        walk_rest(bytes, pos, record);
        return;
      }
      auto r = run_one(bytes.subspan(static_cast<std::size_t>(pos)), record);
      if (r) {
        if (report_trailing && n == 0 && !known && pos + *r < bytes.size())
          add_error(make_error(errc::pickle_trailing_data, std::to_string(bytes.size() - pos - *r) + " bytes follow STOP",
                               record, *r),
                    pos);
        pos += *r;
        continue;
      }
      add_error(r.error_value(), pos);
      const auto end = judge_failed(bytes, pos, record);
      if (!end) return;
      pos = *end;
    }
  }

  // The linear walk, pickle after pickle to the end, over bytes that no pickler wrote or that
  // lie past the pickle budget (no machine): globals and call-by-name opcodes count, stray
  // refused opcodes (a 'P' that is really the "PK" of a zip signature) do not.
  // A FRAME open at STOP makes two next pickles: the one at the frame's end (the stream
  // continues there) and the one right after STOP (what _pickle reads when it peek()ed the
  // frame). The ranges are disjoint from the rest of the walk, so every byte is walked once.
  void walk_rest(std::span<const std::byte> bytes, std::uint64_t pos, const std::string& record) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> pending{{pos, bytes.size()}};
    while (!pending.empty()) {
      auto [at, hi] = pending.back();
      pending.pop_back();
      const auto part = bytes.first(static_cast<std::size_t>(hi));
      while (at < hi) {
        auto w = detail::walk_opcodes(part, at, record, opts_);
        for (auto& f : w.findings)
          if (f.rule != "pickle_opcode_refused" || f.subject == "INST" || f.subject == "OBJ" || f.subject == "NEWOBJ_EX")
            add(std::move(f));
        if (!w.reached_stop || w.end <= at) break;
        if (w.after_stop < w.end) pending.emplace_back(w.after_stop, w.end);
        at = w.end;
      }
    }
  }

  // The bytes after STOP inside the FRAME open at STOP (the machine refused the pickle as
  // pickle_stop_inside_frame): walked as the pickle stream a peek()ing _pickle reads there.
  void walk_frame_tail(std::span<const std::byte> bytes, const detail::walk_result& w, const std::string& record) {
    if (w.after_stop < w.end) walk_rest(bytes.first(static_cast<std::size_t>(w.end)), w.after_stop, record);
  }

  // Record names as torch's miniz compares them: ASCII case folded.
  // s equals `lower` (already folded) once ASCII letters of s are folded: no copy per record.
  static bool equal_to_folded(std::string_view s, std::string_view lower) {
    if (s.size() != lower.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] - 'A' + 'a') : s[i];
      if (c != lower[i]) return false;
    }
    return true;
  }
  static std::string folded(std::string_view s) {
    std::string out(s);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  }

  static bool starts_with_folded(std::string_view s, std::string_view lower) {
    return s.size() >= lower.size() && equal_to_folded(s.substr(0, lower.size()), lower);
  }
  // `rel` as written: compared folded.
  static bool known_small_record(std::string_view rel) {
    for (const std::string_view known : {"version", ".data/version", "byteorder", ".format_version", ".storage_alignment",
                                         ".data/serialization_id"})
      if (equal_to_folded(rel, known)) return true;
    return false;
  }

  static bool looks_like_pickle(const detail::loose_record& r) {
    if (r.bytes.empty()) return false;
    const auto first = static_cast<unsigned char>(r.bytes[0]);
    const auto last = static_cast<unsigned char>(r.bytes[r.bytes.size() - 1]);
    if (r.name.size() >= 4 && r.name.compare(r.name.size() - 4, 4, ".pkl") == 0) return true;
    if (first == 0x80 && r.bytes.size() >= 2 && static_cast<unsigned char>(r.bytes[1]) <= 5) return true;
    return detail::opcode_table[first].cls != detail::op_class::unknown && last == '.';
  }

  // A record the checkpoint's pickle read as a storage: raw tensor bytes to torch (persistent_load
  // never unpickles them), so never judged as a pickle, whatever its bytes look like. Known by
  // its directory index: the load and enumerate_records parse the same directory alike, and a
  // record found only by the sweep (not listed) is never a storage the load read.
  bool referenced_storage(const detail::loose_record& r) const {
    return r.from_directory && r.entry < facts_.storage_entries.size() && facts_.storage_entries[r.entry];
  }

  void scan_zip(bool starts_with_zip, std::uint64_t zip_end, const std::optional<error>& main_error) {
    // Strictly valid archives: the central directory is authoritative and already cross-checked;
    // otherwise every record any reader could find is examined.
    const bool strict_ok = !main_error || is_pickle_error(main_error->code) || main_error->code == errc::torchscript_archive ||
                           main_error->code == errc::torchscript_code;
    const detail::page_release release = [this](std::span<const std::byte> b) { src_.release_pages(b); };
    const auto records = detail::enumerate_records(file_, opts_.limits, !strict_ok, release);
    // data.pkl as the load judged it: wholly (success), or up to an error the stream resumes from.
    const bool loaded = starts_with_zip && !main_error;
    const std::string main_pkl = facts_.root.empty() ? std::string() : folded(facts_.root + "/data.pkl");
    const bool resume_main = starts_with_zip && main_error && is_pickle_error(main_error->code) && !main_error->record.empty();
    bool main_done = false;
    for (const auto& r : records) {
      const auto slash = r.name.find('/');
      const std::string_view rel = slash == std::string_view::npos ? r.name : r.name.substr(slash + 1);
      if (!main_done && ((loaded && equal_to_folded(r.name, main_pkl)) || (resume_main && r.name == main_error->record))) {
        main_done = true;
        if (resume_main) scan_stream(r.bytes, std::string(r.name), main_error);
        continue;
      }
      // Storage folder: after a complete data.pkl, the records it referenced are data and any
      // other data/<key> is an extra record like any other; before that (data.pkl refused or
      // never reached) only a complete pickle there is judged as one.
      if (starts_with_folded(rel, "code/")) {
        // TorchScript source (any case: miniz folds it): some reader compiles and runs it, in a
        // well-formed archive or not, so it is judged wherever a record is found.
        finding f;
        f.rule = std::string(errc_name(errc::torchscript_code));
        f.severity = severity::error;
        f.record = std::string(r.name);
        f.offset = r.offset;
        f.message = "TorchScript code record: torch.jit.load compiles and runs it";
        add(std::move(f));
      }
      const bool in_storage_folder = starts_with_folded(rel, "data/");
      if (starts_with_zip && facts_.main_pickle_ran && referenced_storage(r)) continue;
      const bool storage_by_structure = in_storage_folder && !(starts_with_zip && facts_.main_pickle_ran);
      const bool known = equal_to_folded(rel, "data.pkl") || storage_by_structure || known_small_record(rel);
      if (!known && !r.name.empty() && r.name.back() != '/') {
        finding f;
        f.rule = "extra_record";
        f.severity = severity::note;
        f.record = std::string(r.name);
        f.offset = r.offset;
        f.message = in_storage_folder ? "storage-folder record the pickle never references: torch never reads it"
                                      : "record torch never reads";
        add(std::move(f));
      }
      if (!looks_like_pickle(r)) continue;
      const std::string name(r.name);
      if (storage_by_structure) {
        const auto w = detail::walk_opcodes(r.bytes, 0, name, opts_);
        if (!w.reached_stop || w.end != r.bytes.size()) continue;
      }
      scan_stream(r.bytes, name, std::nullopt);
    }
    if (!starts_with_zip) {
      // Another format before the archive (a polyglot): judge the leading part as a pickle
      // stream too, resuming after what the load already judged of it.
      finding f;
      f.rule = "polyglot";
      f.severity = severity::error;
      f.message = "bytes before the zip archive: different readers see different files";
      add(std::move(f));
      if (facts_.kind != detail::container_kind::pickle) scan_stream(file_, "", std::nullopt, 8);
      else if (main_error) scan_top_stream(*main_error);  // else the load read every byte of it
    }
    if (zip_end && zip_end < file_.size()) scan_stream(file_.subspan(zip_end), "<after archive>", std::nullopt, 8);
  }

  const detail::source& src_;
  std::span<const std::byte> file_;
  load_options opts_;
  detail::zip_check check_;
  detail::load_facts facts_;
  std::vector<finding> findings_;
  std::set<std::tuple<std::string, std::string, std::uint64_t>> seen_;
};

}  // namespace

namespace {

// A safetensors file: an 8-byte little-endian header length that fits the file, then '{'. It
// holds no code, only tensors: safe when the safetensors reader accepts its header and layout
// (every rule of the safetensors crate), malformed otherwise. torch.load reads such bytes as a
// tar (excluded here) or a pickle: the pickle would have to STOP within the 8 length bytes ('{'
// is no opcode), too short to name and call anything.
bool looks_like_safetensors(std::span<const std::byte> b) {
  if (b.size() < 10) return false;
  // A file torch.load would open as a tar (its first choice for anything not a zip) is judged
  // as one by the gate below, whatever else it also parses as.
  if (detail::tarfile_would_open(b) || detail::has_ustar_magic(b)) return false;
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(b[static_cast<std::size_t>(i)]);
  return n >= 2 && n <= b.size() - 8 && static_cast<char>(b[8]) == '{';
}

scan_report scan_safetensors(std::span<const std::byte> bytes, const load_options& opts) {
  scan_report rep;
  rep.format = "safetensors";
  auto st = safetensors_file::open_buffer(bytes, opts.limits);
  if (!st) {
    rep.verdict = verdict::malformed;
    const error& e = st.error_value();
    finding f;
    f.rule = std::string(errc_name(e.code));
    f.offset = e.offset;
    f.message = e.message;
    rep.findings.push_back(std::move(f));
  }
  return rep;
}

}  // namespace

scan_report detail::scan_source(const source& src, const load_options& opts, zip_check check) {
  if (looks_like_safetensors(src.bytes())) return scan_safetensors(src.bytes(), opts);
  gate g(src, opts, check);
  return g.run();
}

scan_report scan_buffer(std::span<const std::byte> bytes, const load_options& opts) {
  return detail::scan_source(detail::source::from_buffer(bytes), opts);
}

scan_report scan_file(const std::string& path, const load_options& opts) {
  auto src = detail::source::map_file(path);
  if (!src) {
    scan_report rep;
    rep.verdict = verdict::malformed;
    finding f;
    f.rule = std::string(errc_name(src.error_value().code));
    f.message = src.error_value().message;
    rep.findings.push_back(std::move(f));
    return rep;
  }
  return detail::scan_source(*src, opts);
}

}  // namespace pthsafe
