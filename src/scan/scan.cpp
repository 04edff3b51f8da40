#include "pthsafe/scan.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "core/state.hpp"
#include "io/source.hpp"
#include "pickle/machine.hpp"
#include "pickle/opcodes.hpp"
#include "pthsafe/checkpoint.hpp"
#include "scan/opcode_walk.hpp"
#include "scan/zip_sweep.hpp"
#include "torch/rebuild.hpp"

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
constexpr unsigned char legacy_magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                          0x20, 0x6a, 0xa8, 0x50, 0x19};

// The global or opcode an error names ("GLOBAL os.system ...", "opcode INST ...").
std::string subject_of(const error& e) {
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

// Protocol 2+ pickles start with PROTO; protocol 0 and 1 pickles with one of their own opcodes.
bool starts_like_pickle(unsigned char b) {
  if (b == 0x80) return true;
  const auto& info = detail::opcode_table[b];
  return info.cls != detail::op_class::unknown && b < 0x80;
}

bool is_pickle_error(errc c) {
  const auto name = errc_name(c);
  return name.rfind("pickle_", 0) == 0 || c == errc::limit_exceeded || c == errc::bad_persistent_id ||
         c == errc::bad_storage_type || c == errc::storage_size_mismatch || c == errc::storage_dtype_conflict ||
         c == errc::bad_rebuild_args || c == errc::bad_dtype || c == errc::bad_device || c == errc::tensor_bad_geometry ||
         c == errc::tensor_out_of_bounds || c == errc::unsupported_feature || c == errc::missing_record;
}

class gate {
 public:
  gate(std::span<const std::byte> file, const load_options& opts) : file_(file), opts_(opts) {
    opts_.mode = load_mode::metadata;
    opts_.allow_torchscript = false;  // torch.jit.load runs their code: always unsafe to a gate
  }

  scan_report run() {
    scan_report rep;
    std::optional<error> main_error;
    std::string archive_name;
    bool loaded = false;
    {
      // The loaded tree is released before any further pickle runs: a scan's memory is one
      // value tree at a time, not two.
      auto ck = checkpoint::open_buffer(file_, opts_);
      if (ck) {
        loaded = true;
        archive_name = std::string(ck->archive_name());
        rep.format = std::string(container_format_name(ck->format()));
        for (const auto& w : ck->warnings()) add(warning_finding(w));
      } else {
        main_error = ck.error_value();
        add_error(*main_error, 0);
      }
    }
    const bool zip = file_.size() >= 4 && std::memcmp(file_.data(), "PK\3\4", 4) == 0;
    const std::uint64_t zip_end = detail::end_of_zip(file_);
    if (zip || zip_end) {
      scan_zip(zip, zip_end, archive_name, main_error);
    } else if (file_.size() >= sizeof legacy_magic && std::memcmp(file_.data(), legacy_magic, sizeof legacy_magic) == 0) {
      // Legacy stream: magic, protocol, sys_info, data and key-list pickles, then raw storage
      // bytes. A successful load has judged all five; otherwise judge past the failure.
      if (main_error && is_pickle_error(main_error->code)) scan_stream(file_, main_error->record, main_error, 0, 5, false);
    } else if (!file_.empty() && !starts_like_pickle(static_cast<unsigned char>(file_[0]))) {
      // Not something any pickler writes (no PROTO, no protocol 0/1 opcode first): report it as
      // no checkpoint, but still judge every global a pickle reader could meet in it.
      findings_.clear();
      seen_.clear();
      add_error(make_error(errc::not_a_checkpoint, "neither a zip archive, a pickle nor a legacy checkpoint"), 0);
      walk_globals(file_, 0, "");
    } else if (!loaded) {
      // A bare pickle that loaded has been judged whole (the load refuses bytes after STOP):
      // running it a second time here would double the time and memory a file can ask for.
      scan_stream(file_, "", main_error && is_pickle_error(main_error->code) ? main_error : std::nullopt, 0);
    }
    if (rep.format.empty()) rep.format = zip ? "zip" : "";
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
    auto root = m.run(bytes, end);
    if (!root) return std::move(root).error_value();
    for (const auto& w : st.warnings) add(warning_finding(w));
    return end;
  }

  // Every pickle in `bytes` from `start`: one after the other (bytes after STOP are a further
  // pickle to some reader); after a malformed point, a linear walk judges what follows.
  void scan_stream(std::span<const std::byte> bytes, const std::string& record, const std::optional<error>& known,
                   std::uint64_t start, int max_pickles = max_pickles_per_record, bool report_trailing = true) {
    std::uint64_t pos = start;
    for (int n = 0; n < max_pickles && pos < bytes.size(); ++n) {
      if (n > 0 && !starts_like_pickle(static_cast<unsigned char>(bytes[pos]))) {
        // Bytes after STOP that no pickler would write (a data descriptor, padding): still judge
        // every global a reader could meet in them, but not their stray opcodes.
        walk_globals(bytes, pos, record);
        break;
      }
      result<std::uint64_t> r = (n == 0 && known) ? result<std::uint64_t>(*known) : run_one(bytes.subspan(pos), record);
      if (r) {
        if (report_trailing && *r + pos < bytes.size() && n == 0 && !known) {
          error e = make_error(errc::pickle_trailing_data, std::to_string(bytes.size() - pos - *r) + " bytes follow STOP",
                               record, *r);
          add_error(e, pos);
        }
        pos += *r;
        continue;
      }
      const error& e = r.error_value();
      if (!(n == 0 && known)) add_error(e, pos);
      if (e.code == errc::pickle_trailing_data) {
        pos = e.offset + (n == 0 && known ? 0 : pos);
        continue;
      }
      const std::uint64_t failed_at = (n == 0 && known) ? e.offset : pos + e.offset;
      if (failed_at >= bytes.size()) break;
      // Judge the failing opcode and everything after it, as CPython might run them. The walk
      // starts at the pickle's first byte so that operands pushed before the failure (strings a
      // later STACK_GLOBAL takes from the memo) are known; what the machine already judged
      // before the failure yields no new findings.
      auto w = detail::walk_opcodes(bytes, pos, record, opts_);
      for (auto& f : w.findings) add(std::move(f));
      if (!w.reached_stop) break;
      pos = w.end;
    }
  }

  // The linear walk over bytes that are no pickle start: globals and call-by-name opcodes count,
  // stray refused opcodes (a 'P' that is really the "PK" of a zip signature) do not.
  void walk_globals(std::span<const std::byte> bytes, std::uint64_t from, const std::string& record) {
    auto w = detail::walk_opcodes(bytes, from, record, opts_);
    for (auto& f : w.findings)
      if (f.rule != "pickle_opcode_refused" || f.subject == "INST" || f.subject == "OBJ" || f.subject == "NEWOBJ_EX")
        add(std::move(f));
  }

  static bool known_small_record(std::string_view rel) {
    return rel == "version" || rel == ".data/version" || rel == "byteorder" || rel == ".format_version" ||
           rel == ".storage_alignment" || rel == ".data/serialization_id";
  }

  static bool looks_like_pickle(const detail::loose_record& r) {
    if (r.bytes.empty()) return false;
    const auto first = static_cast<unsigned char>(r.bytes[0]);
    const auto last = static_cast<unsigned char>(r.bytes[r.bytes.size() - 1]);
    if (r.name.size() >= 4 && r.name.compare(r.name.size() - 4, 4, ".pkl") == 0) return true;
    if (first == 0x80 && r.bytes.size() >= 2 && static_cast<unsigned char>(r.bytes[1]) <= 5) return true;
    return detail::opcode_table[first].cls != detail::op_class::unknown && last == '.';
  }

  void scan_zip(bool starts_with_zip, std::uint64_t zip_end, const std::string& root, const std::optional<error>& main_error) {
    // Strictly valid archives: the central directory is authoritative and already cross-checked;
    // otherwise every record any reader could find is examined.
    const bool strict_ok = !main_error || is_pickle_error(main_error->code) || main_error->code == errc::torchscript_archive;
    const auto records = detail::enumerate_records(file_, opts_.limits, !strict_ok);
    const std::string main_pkl = root.empty() ? std::string() : root + "/data.pkl";
    const bool main_ran = !root.empty() || (main_error && is_pickle_error(main_error->code));
    bool main_done = false;
    for (const auto& r : records) {
      const auto slash = r.name.find('/');
      const std::string rel = slash == std::string::npos ? r.name : r.name.substr(slash + 1);
      const bool is_main = !main_done && main_ran &&
                           (r.name == main_pkl || (main_error && !main_error->record.empty() && r.name == main_error->record));
      if (is_main) {
        main_done = true;
        if (main_error && main_error->record == r.name) scan_stream(r.bytes, r.name, main_error, 0);
        continue;
      }
      const bool storage = rel.rfind("data/", 0) == 0;
      const bool known = rel == "data.pkl" || storage || known_small_record(rel);
      if (!known && !r.name.empty() && r.name.back() != '/') {
        finding f;
        f.rule = "extra_record";
        f.severity = severity::note;
        f.record = r.name;
        f.offset = r.offset;
        f.message = "record torch never reads";
        add(std::move(f));
      }
      if (!looks_like_pickle(r)) continue;
      // Storage bytes are tensor data: 1 in 128 float records starts like a pickle by chance.
      // Only a complete pickle (STOP exactly at the record's end) counts as one hidden there.
      if (storage) {
        const auto w = detail::walk_opcodes(r.bytes, 0, r.name, opts_);
        if (!w.reached_stop || w.end != r.bytes.size()) continue;
      }
      scan_stream(r.bytes, r.name, std::nullopt, 0);
    }
    if (!starts_with_zip) {
      // Another format before the archive (a polyglot): judge the leading part as a pickle too.
      finding f;
      f.rule = "polyglot";
      f.severity = severity::error;
      f.message = "bytes before the zip archive: different readers see different files";
      add(std::move(f));
      scan_stream(file_, "", std::nullopt, 0, 8);
    }
    if (zip_end && zip_end < file_.size()) scan_stream(file_.subspan(zip_end), "<after archive>", std::nullopt, 0, 8);
  }

  std::span<const std::byte> file_;
  load_options opts_;
  std::vector<finding> findings_;
  std::set<std::tuple<std::string, std::string, std::uint64_t>> seen_;
};

}  // namespace

scan_report scan_buffer(std::span<const std::byte> bytes, const load_options& opts) {
  gate g(bytes, opts);
  return g.run();
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
  return scan_buffer(src->bytes(), opts);
}

}  // namespace pthsafe
