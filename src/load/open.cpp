#include "pthsafe/checkpoint.hpp"
#include "pthsafe/pthsafe.hpp"  // version(): its PTHSAFE_API declaration

#include <algorithm>
#include <charconv>
#include <string>
#include <cstring>

#include "io/file_pread.hpp"
#include "load/container.hpp"
#include "model/state.hpp"
#include "pickle/machine.hpp"
#include "pickle/memo_reads_ahead.hpp"
#include "pickle/opcodes.hpp"
#include "place/placement.hpp"
#include "torch/legacy.hpp"
#include "torch/rebuild.hpp"
#include "torch/small_records.hpp"
#include "torch/sparse.hpp"
#include "util/open_table.hpp"
#include "util/try.hpp"

namespace pthsafe {

const char* version() noexcept { return PTHSAFE_VERSION; }

namespace detail {

namespace {

// A record's bytes: zero-copy for stored records, inflated (with limits) for deflated ones.
result<std::span<const std::byte>> record_bytes(const archive& zip, std::size_t entry, std::vector<std::byte>& scratch,
                                                const limits& lim) {
  if (auto stored = zip.stored_bytes(entry)) return *stored;
  const auto& e = zip.entries()[entry];
  if (e.uncomp_size > lim.max_pickle_bytes)
    return make_error(errc::limit_exceeded, "limit max_pickle_bytes (" + std::to_string(lim.max_pickle_bytes) + ") exceeded",
                      std::string(e.name()));
  scratch.resize(static_cast<std::size_t>(e.uncomp_size));
  PTHSAFE_TRY(zip.extract(entry, scratch.data(), lim));
  return std::span<const std::byte>(scratch);
}

// Runs one pickle to STOP and refuses bytes after it. `torchscript_prefix` (e.g. "data/",
// "constants/") switches the rebuilder to TorchScript's naming of storages and classes.
// `ran_to_stop` (when given) is set once the machine reached STOP, trailing bytes or not.
result<value*> run_pickle(checkpoint_state& st, const archive* zip, std::span<const std::byte> bytes,
                          const std::string& record, const load_options& opts, const std::string& torchscript_prefix = {},
                          bool* ran_to_stop = nullptr, memo_reads_ahead* ahead = nullptr) {
  torch_rebuilder rebuilder(st, zip, opts);
  if (!torchscript_prefix.empty()) rebuilder.use_torchscript(torchscript_prefix);
  machine m(st, rebuilder, opts, record);
  const page_release release = [&st](std::span<const std::byte> b) { st.src.release_pages(b); };
  m.release_behind(release);
  m.walk_ahead(ahead);
  rebuilder.attach(&m);
  std::uint64_t end = 0;
  PTHSAFE_ASSIGN(value* root, m.run(bytes, end));
  if (ran_to_stop) *ran_to_stop = true;
  if (end != bytes.size())
    return make_error(errc::pickle_trailing_data, std::to_string(bytes.size() - end) + " bytes follow STOP", record, end);
  return root;
}

result<void> read_zip(checkpoint_state& st, const load_options& opts, load_facts& facts) {
  // Header pages go back as the walk passes them: in mmap mode nothing else reads the record
  // area before the user does (bench/NOTES.md 24).
  const page_release release = [&st](std::span<const std::byte> b) { st.src.release_pages(b); };
  // Far-apart headers are read by pread, not faulted in (zip/local_reads.hpp).
  file_pread pread;
  if (st.src.has_descriptor())
    pread = [&st](std::uint64_t off, std::span<std::byte> dst) { return st.src.read_into(off, dst.data(), dst.size()).has_value(); };
  // data.pkl's memo walk (pickle/memo_uses.hpp) starts on a second thread as soon as the
  // directory says where torch's writer put the record, and runs beside the checks of every
  // local header and name. The guess is the record named <first entry's folder>/data.pkl, read
  // through its unchecked local header; the machine takes the walk's answer only if the record
  // the checked archive hands it is exactly those bytes (pickle/memo_reads_ahead.hpp).
  memo_reads_ahead ahead;
  const auto walk_pickle_ahead = [&](const zip_directory& dir) {
    const std::string_view first = dir.entries.empty() ? std::string_view() : dir.entries.front().name();
    const auto slash = first.find('/');
    if (slash == std::string_view::npos) return;
    const std::string_view folder = first.substr(0, slash + 1);
    for (const auto& e : dir.entries) {
      const std::string_view n = e.name();
      if (n.size() != folder.size() + 8 || n.substr(folder.size()) != "data.pkl" || n.substr(0, folder.size()) != folder)
        continue;
      // Sizes first: a pickle the walk would not start for costs no read of its local header.
      if (e.comp_size < walk_ahead_min_bytes() || e.comp_size > opts.limits.max_pickle_bytes) return;
      if (const auto b = unchecked_stored_bytes(st.src.bytes(), dir, e)) ahead.start(*b, opts.limits.max_memo_entries);
      return;
    }
  };
  PTHSAFE_ASSIGN(auto zip, archive::open(st.src.bytes(), opts.limits, st.zip_checked_by, release, pread, walk_pickle_ahead));
  st.zip = std::move(zip);
  const archive& a = *st.zip;
  const std::string root(a.root());
  // Every name below is looked up as torch's miniz looks it up (archive::find folds ASCII case),
  // so `ARCHIVE/CONSTANTS.PKL` is as much a TorchScript archive to torch.jit.load as the lower-case
  // spelling (torch.load's own check, `"constants.pkl" in get_all_records()`, is exact, but a
  // file that torch.jit.load runs is TorchScript to a gate).
  const bool torchscript = a.find("constants.pkl").has_value();
  if (torchscript && !opts.allow_torchscript)
    return make_error(errc::torchscript_archive,
                      "TorchScript archive (constants.pkl): torch.jit.load would run its code; torch >= 2.6 refuses it "
                      "under weights_only",
                      std::string(a.name(*a.find("constants.pkl"))));
  // TorchScript source: torch.jit.load compiles and runs code/ (classes named by data.pkl's
  // globals resolve to it), so a code/ record in any case is refused even without constants.pkl.
  if (!opts.allow_torchscript && a.has_folder("code/"))
    return make_error(errc::torchscript_code, "record under code/: TorchScript source that torch.jit.load compiles and runs",
                      root + "/code/");
  auto ver = a.find(".data/version");
  if (!ver) ver = a.find("version");
  if (!ver) return make_error(errc::missing_record, "no version record", root + "/version");
  {
    std::vector<std::byte> scratch;
    PTHSAFE_ASSIGN(auto b, record_bytes(a, *ver, scratch, opts.limits));
    const std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
    // torch 1.13 and 2.x: std::stoull, then 1 <= version <= kMaxSupportedFileFormatVersion (10).
    const auto v = torch_stoull(text);
    if (!v || *v < 1 || *v > 10)
      return make_error(errc::bad_version_record, "version record is not what torch's std::stoull reads as 1..10",
                        std::string(a.name(*ver)));
  }
  if (const auto bo = a.find("byteorder")) {
    std::vector<std::byte> scratch;
    PTHSAFE_ASSIGN(auto b, record_bytes(a, *bo, scratch, opts.limits));
    const std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
    if (text == "big") {
      st.big_endian = true;
      // torch >= 2.1 swaps every storage; torch 1.13-2.0 never read the record and return the
      // stored bytes: two readers, two sets of weights.
      st.warnings.push_back(std::string(a.name(*bo)) +
                            "@0: byteorder 'big': torch >= 2.1 byte-swaps the storages, torch < 2.1 ignores the record "
                            "and reads other values");
    } else if (text != "little") {
      return make_error(errc::bad_byteorder_record, "byteorder record is neither 'little' nor 'big'", std::string(a.name(*bo)));
    }
  }
  if (const auto al = a.find(".storage_alignment")) {
    std::vector<std::byte> scratch;
    PTHSAFE_ASSIGN(auto b, record_bytes(a, *al, scratch, opts.limits));
    const std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
    if (!python_int_accepts(text))
      return make_error(errc::bad_storage_alignment_record,
                        ".storage_alignment is not an int() literal: every torch >= 2.7 load raises ValueError",
                        std::string(a.name(*al)));
  }
  const auto pkl = a.find("data.pkl");
  if (!pkl) return make_error(errc::missing_record, "no data.pkl record", root + "/data.pkl");
  // docs/policy.md: a pickle record whose CRC does not match is refused (other readers would reject it).
  PTHSAFE_TRY(a.verify_crc(*pkl, opts.limits));
  std::vector<std::byte> scratch;
  PTHSAFE_ASSIGN(auto bytes, record_bytes(a, *pkl, scratch, opts.limits));
  // The load reads no name in the central directory from here on (persistent ids find their
  // records by position), so a large directory's pages go back before the tree grows; whatever
  // reads a name later refaults its page (bench/NOTES.md 30).
  if (const auto dir = a.directory_bytes(); dir.size() >= (std::size_t{1} << 20)) release(dir);
  PTHSAFE_ASSIGN(auto rootv, run_pickle(st, &a, bytes, root + "/data.pkl", opts, torchscript ? "data/" : "", &facts.main_pickle_ran,
                                        &ahead));
  st.root = rootv;
  st.format = container_format::zip;
  if (torchscript) {  // load_options::allow_torchscript: constants.pkl too, never code/
    const auto cpkl = *a.find("constants.pkl");
    PTHSAFE_TRY(a.verify_crc(cpkl, opts.limits));
    std::vector<std::byte> cscratch;
    PTHSAFE_ASSIGN(auto cbytes, record_bytes(a, cpkl, cscratch, opts.limits));
    PTHSAFE_ASSIGN(auto consts, run_pickle(st, &a, cbytes, root + "/constants.pkl", opts, "constants/"));
    st.constants = consts;
    st.format = container_format::torchscript;
  }
  // torch.load inflates a deflated storage record; torch.load(mmap=True) slices the file at the
  // record's data offset for nbytes and reads the compressed stream (and what follows it) as the
  // tensor. The load inflates, as the default torch.load does; the gate calls it malformed.
  for (const auto& s : st.storages) {
    if (!s.entry) continue;
    const auto& e = a.entries()[*s.entry];
    if (e.method == 8)
      st.warnings.push_back(std::string(e.name()) + "@" + std::to_string(e.data_offset()) +
                            ": deflated storage record: torch.load inflates it, torch.load(mmap=True) reads its "
                            "compressed bytes as the tensor");
  }
  return {};
}

// A set of non-null pointers: open addressing, linear probing, no allocation per insert (the
// reachability walk inserts one pointer per tensor and per storage: 100,000s for big state_dicts).
class pointer_set {
 public:
  explicit pointer_set(std::size_t expected) : table_(expected) { items_.reserve(expected); }
  /// True when p was not in the set yet.
  bool insert(const void* p) {
    const std::uint64_t h = hash(p);
    if (table_.find(h, [&](std::uint32_t i) { return items_[i] == p; })) return false;
    table_.insert(h, static_cast<std::uint32_t>(items_.size()));
    items_.push_back(p);
    return true;
  }
  bool contains(const void* p) const {
    return table_.find(hash(p), [&](std::uint32_t i) { return items_[i] == p; }).has_value();
  }

 private:
  // Addresses are not file content: the table's own spreading of the raw value suffices.
  static std::uint64_t hash(const void* p) { return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p)); }
  open_table table_;
  std::vector<const void*> items_;
};

// Keeps only the tensors and storages reachable from the root, in first-reach order, so that
// counts and placement ignore intermediate objects (e.g. the tensor a Parameter wraps).
void collect_reachable(checkpoint_state& st, std::vector<const tensor_record*>& tensors,
                       std::vector<storage_record*>& storages) {
  // Tensors and storages carry their own mark (each tensor value has a record of its own, made
  // when it was rebuilt); only containers need a set (bench/NOTES.md 19).
  pointer_set seen(64);
  const auto first_reach = [](storage_record* s) {
    if (s->reached) return false;
    s->reached = true;
    return true;
  };
  // Exact bounds up front: growing these by doubling held the old and the new array at once,
  // the load's peak on a file of many tensors (bench/NOTES.md 37).
  tensors.reserve(st.tensor_count);
  storages.reserve(st.storages.size());
  std::vector<const tensor_record*> parts;
  // Visits v (pre-order); true when its children are to be walked.
  const auto visit = [&](const value* v) {
    const bool has_children = !v->attrs().empty() || !v->items().empty();
    // A childless value other than a tensor yields nothing new on a second visit (a storage is
    // deduplicated by first_reach), so only tensors and containers need the seen set.
    if (v->kind() == value_kind::tensor) {
      if (std::exchange(const_cast<tensor_record*>(value_access::tensor(*v))->reached, true)) return false;
    } else if (has_children && !seen.insert(v)) {
      return false;
    }
    storage_record* s = nullptr;
    if (v->kind() == value_kind::tensor) {
      const tensor_record* t = value_access::tensor(*v);
      tensors.push_back(t);
      s = t->storage;
    } else if (v->kind() == value_kind::storage) {
      s = value_access::storage(*v);
    }
    if (s && first_reach(s)) storages.push_back(s);
    const auto has_parts = [](const tensor_record* t) {
      for (const tensor_record* p : t->extra->parts)
        if (p) return true;
      return false;
    };
    if (v->kind() == value_kind::tensor && has_parts(value_access::tensor(*v))) {
      // Sparse components and per-channel quantizer tensors are read with their tensor.
      parts.assign(1, value_access::tensor(*v));
      while (!parts.empty()) {
        const tensor_record* t = parts.back();
        parts.pop_back();
        for (const tensor_record* p : t->extra->parts) {
          if (!p) continue;
          parts.push_back(p);
          if (p->storage && !p->storage->synthetic && first_reach(p->storage)) storages.push_back(p->storage);
        }
      }
    }
    return has_children;
  };
  // Depth-first, items then attributes, each in order. The stack holds one frame per level (the
  // node and the next child to look at), not every pending child: a root dict of 100,000 tensors
  // costs one frame, not 200,000 slots.
  struct frame {
    const value* v;
    std::size_t next;
  };
  std::vector<frame> stack;
  for (const value* top : {st.constants, st.root}) {  // constants first, as before
    if (!top || !visit(top)) continue;
    stack.push_back({top, 0});
    while (!stack.empty()) {
      frame& f = stack.back();
      const auto items = f.v->items();
      const auto attrs = f.v->attrs();
      if (f.next == items.size() + attrs.size()) {
        stack.pop_back();
        continue;
      }
      const std::size_t i = f.next++;
      const value* child = i < items.size() ? items[i] : attrs[i - items.size()].second;
      if (visit(child)) stack.push_back({child, 0});
    }
  }
}

// Reads the container `facts.kind` names (detect_container). Leaves the root in st.
result<void> read_container(checkpoint_state& st, const load_options& opts, load_facts& facts) {
  const auto b = st.src.bytes();
  switch (facts.kind) {
    case container_kind::zip: return read_zip(st, opts, facts);
    case container_kind::tar:
      return make_error(errc::tar_format,
                        "tar archive (CPython's tarfile opens it, so torch.load reads it as a <= 0.1.9 tar checkpoint "
                        "and unpickles its members): refused, torch >= 2.6 refuses it under weights_only too");
    case container_kind::preview:
      return make_error(errc::preview_archive, "pre-1.0 preview archive (PYTORCH1): refused, as torch refuses it");
    case container_kind::mobile:
      return make_error(errc::torchscript_archive,
                        "TorchScript flatbuffer module ('PTMF' at offset 4): torch.jit.load runs its code; refused");
    case container_kind::pickle:
      if (facts.legacy) return read_legacy(st, opts);
      {
        PTHSAFE_ASSIGN(auto rootv, run_pickle(st, nullptr, b, "", opts, {}, &facts.main_pickle_ran));
        st.root = rootv;
        st.format = container_format::pickle;
      }
      return {};
    case container_kind::none: break;
  }
  return make_error(errc::not_a_checkpoint,
                    "not a zip archive, tar archive, legacy stream or pickle (no pickler starts with this byte)");
}

result<checkpoint> open_impl(std::unique_ptr<checkpoint_state> st, const load_options& opts, load_facts& facts) {
  st->mode = opts.mode;
  st->lim = opts.limits;
  const bool want_records = facts.want_storage_records;
  facts = load_facts{};
  facts.want_storage_records = want_records;
  const auto id = detect_container(st->src.bytes(), opts);
  facts.kind = id.kind;
  facts.legacy = id.legacy;
  auto read = read_container(*st, opts, facts);
  if (st->zip) {
    facts.root = std::string(st->zip->root());
    facts.libzip_deferred = st->zip->libzip_deferred();
  }
  if (facts.want_storage_records && st->zip) {
    facts.storage_entries.assign(st->zip->entries().size(), false);
    for (const auto& s : st->storages)
      if (s.entry && *s.entry < facts.storage_entries.size()) facts.storage_entries[*s.entry] = true;
  }
  PTHSAFE_TRY(std::move(read));  // after the facts above, which a failed read reports too
  // Keep the tensor table in tree order and place only what the tree reaches.
  std::vector<const tensor_record*> reach_t;
  std::vector<storage_record*> reach_s;
  collect_reachable(*st, reach_t, reach_s);
  {
    // Storages keep their addresses (tensor records point at them); unreachable ones are never
    // placed because place_storages skips records without an entry.
    for (const auto* s : reach_s)
      if (s->alias) s->alias->of->reached = true;  // a legacy view needs its root's bytes
    for (auto& s : st->storages)
      if (!s.reached) {
        s.entry.reset();
        s.file_offset.reset();
      }
  }
  st->reach_tensors = std::move(reach_t);
  st->reach_storages = std::move(reach_s);
  PTHSAFE_TRY(place_storages(*st, opts));
  // Sparse index invariants need the index bytes (read on demand in metadata mode).
  PTHSAFE_TRY(validate_sparse_tensors(*st, opts.limits));
  auto ck = checkpoint_state::make_checkpoint(std::move(st));
  return ck;
}

}  // namespace
}  // namespace detail

result<checkpoint> checkpoint::open(const std::string& path, const load_options& opts) {
  PTHSAFE_ASSIGN(auto src, detail::source::map_file(path));
  auto st = std::make_unique<detail::checkpoint_state>();
  st->src = std::move(src);
  detail::load_facts facts;
  return detail::open_impl(std::move(st), opts, facts);
}

result<checkpoint> checkpoint::open_buffer(std::span<const std::byte> bytes, const load_options& opts) {
  detail::load_facts facts;
  return detail::open_with_facts(detail::source::from_buffer(bytes), opts, facts);
}

result<checkpoint> detail::open_with_facts(source bytes, const load_options& opts, load_facts& facts,
                                           zip_check zip_checked_by) {
  auto st = std::make_unique<checkpoint_state>();
  st->src = std::move(bytes);
  st->zip_checked_by = zip_checked_by;
  return open_impl(std::move(st), opts, facts);
}

}  // namespace pthsafe
