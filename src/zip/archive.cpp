#include "zip/archive.hpp"

#include <array>
#include <atomic>
#include <zip.h>
#include <zlib.h>

#include <algorithm>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cstring>
#include <exception>
#include <optional>
#include <system_error>
#include <thread>
#include <string>
#include <vector>

#include "io/checked.hpp"
#include "util/keyed_hash.hpp"
#include "util/try.hpp"
#include "zip/libzip_parity.hpp"
#include "zip/libzip_source.hpp"
#include "zip/local_reads.hpp"
#include "util/ascii.hpp"
#include "util/cpus.hpp"
#include "util/crc32.hpp"

namespace pthsafe::detail {

struct archive::libzip_handle {
  explicit libzip_handle(std::span<const std::byte> file, const page_release& release) : reader(file, release) {}
  libzip_reader reader;  // outlives z: libzip reads through it until zip_discard
  zip_t* z = nullptr;
  ~libzip_handle() {
    if (z) zip_discard(z);
  }
};

archive::~archive() = default;

namespace {
std::atomic<std::size_t> parallel_min_entries{4096};
}  // namespace

std::size_t parallel_local_check_min_entries() noexcept { return parallel_min_entries.load(std::memory_order_relaxed); }
void set_parallel_local_check_min_entries(std::size_t n) noexcept { parallel_min_entries.store(n, std::memory_order_relaxed); }

namespace {

// docs/policy.md "Containers": a gate must see what torch sees, so names that different readers or
// extractors would resolve differently are refused. torch (miniz) and CPython's zipfile look
// records up by their stored bytes and never resolve a path; extractors do (zipfile.extract,
// unzip, hand-written loops), so a name must stay inside the folder it is extracted to on POSIX
// and on Windows: no leading '/', no '..' or '.', no backslash (zipfile turns it into '/' on
// Windows), no NUL (zipfile cuts the name there), no empty component, and no first component
// that is a bare drive ("C:", which makes "C:/x" drive-absolute on Windows). A colon elsewhere is
// an ordinary byte: torch.save("s:42.pth") writes the top folder "s:42" and torch loads it;
// zipfile.extract on Windows strips the drive-relative "s:" and keeps the rest inside the
// target folder, and on POSIX "s:42" is a plain folder name.
bool name_is_clean(std::string_view n) {
  if (n.empty() || n.front() == '/') return false;
  const bool ascii_letter = (n[0] | 0x20) >= 'a' && (n[0] | 0x20) <= 'z';
  if (n.size() >= 2 && ascii_letter && n[1] == ':' && (n.size() == 2 || n[2] == '/')) return false;  // "C:/..."
  // One pass over the bytes (a 100,000-record directory is checked name by name): no backslash
  // or NUL anywhere, and no component "." or "..", nor an empty one before a '/' ("a//b"; the
  // last may be empty: "a/" is a directory).
  std::size_t start = 0;
  for (std::size_t i = 0; i <= n.size(); ++i) {
    if (i < n.size()) {
      const char ch = n[i];
      if (ch == '\\' || ch == '\0') return false;
      if (ch != '/') continue;
    }
    const std::size_t len = i - start;
    if (len == 0 && i < n.size()) return false;
    if (len <= 2 && len >= 1 && n[start] == '.' && (len == 1 || n[start + 1] == '.')) return false;
    start = i + 1;
  }
  return true;
}

// miniz's MZ_TOLOWER: ASCII A-Z only, byte by byte, whatever the locale ('/' and '\\' are not
// equated: that happens only with MZ_ZIP_FLAG_IGNORE_PATH, which torch never passes).
char fold(char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch; }

// Keyed SipHash over the bytes of a name, optionally case-folded; fed piece by piece so that
// find() can hash "root" + "/" + rel without building the string. Names are file content: an
// unkeyed hash (FNV) lets a directory of colliding names make the index quadratic.
struct name_hash {
  siphash13 h{0x6e616d65};
  void add(std::string_view s, bool folded) {
    if (!folded) {
      h.add(s);
      return;
    }
    std::array<char, 64> buf{};
    for (std::size_t at = 0; at < s.size(); at += buf.size()) {
      const std::size_t n = std::min(buf.size(), s.size() - at);
      for (std::size_t i = 0; i < n; ++i) buf[i] = fold(s[at + i]);
      h.add(std::string_view(buf.data(), n));
    }
  }
  std::uint64_t value() const { return h.finish(); }
};

// miniz's mz_zip_reader_is_file_a_directory: a name ending in '/' or the DOS directory bit in
// the external attributes, whatever the "made by" system. Extracting such an entry copies
// nothing and still succeeds, so torch would hand out its unfilled (uninitialised) buffer.
bool miniz_directory(const zip_entry& e) {
  return (!e.name().empty() && e.name().back() == '/') || e.dos_directory;
}


bool equal_folded(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a == b) return true;  // the usual answer (same spelling), at memcmp's speed
  for (std::size_t i = 0; i < a.size(); ++i)
    if (fold(a[i]) != fold(b[i])) return false;
  return true;
}

result<void> check_inflate_limits(const zip_entry& e, const limits& lim) {
  if (e.uncomp_size > lim.max_inflated_bytes)
    return make_error(errc::zip_inflate_limit,
                      "limit max_inflated_bytes (" + std::to_string(lim.max_inflated_bytes) + ") exceeded: record inflates to " +
                          std::to_string(e.uncomp_size) + " bytes", std::string(e.name()), 0);
  // Ratio check in division form so that a zero compressed size cannot divide or overflow.
  if (e.uncomp_size > 4096 && e.uncomp_size / std::max<std::uint64_t>(e.comp_size, 1) > lim.max_compression_ratio)
    return make_error(errc::zip_inflate_limit,
                      "limit max_compression_ratio (" + std::to_string(lim.max_compression_ratio) + ") exceeded: " +
                          std::to_string(e.comp_size) + " bytes inflate to " + std::to_string(e.uncomp_size),
                      std::string(e.name()), 0);
  return {};
}

// libzip keeps ~430-480 bytes of structures per entry while it is open (bench/NOTES.md 36),
// which no other limit sees: 600,000 empty entries in 56 MiB held 349 MB. They are charged to
// max_tree_bytes, the budget of what a file makes pthsafe build, before libzip opens.
constexpr std::uint64_t libzip_entry_bytes = 512;

result<void> libzip_memory_fits(std::uint64_t entries, const limits& lim) {
  if (entries <= lim.max_tree_bytes / libzip_entry_bytes) return {};
  return make_error(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(lim.max_tree_bytes) +
                                              ") exceeded: libzip would hold about " + std::to_string(libzip_entry_bytes) +
                                              " bytes for each of " + std::to_string(entries) + " entries");
}

}  // namespace

result<void> archive::check_names() {
  const auto& ents = dir_.entries;
  if (ents.empty()) return make_error(errc::zip_no_root_folder, "archive has no entries");
  // The name checks below take two passes over the entries (a 100,000-record directory is
  // ~5 MB of entries and ~10 MB of names, streamed once per pass: five passes were 11 ms of a
  // 0.19 s load, bench/NOTES.md 49). Each check still reports its first failing entry, and the
  // checks report in the order they are listed: a later check's failure is kept aside until the
  // earlier ones have passed every entry.
  const std::string_view first_name = ents.front().name();
  const std::size_t root_len = first_name.find('/') == std::string_view::npos ? 0 : first_name.find('/');
  const auto data_record = [&](std::string_view n) -> std::optional<std::size_t> {
    if (root_len == 0 || n.size() <= root_len + 6 || !equal_folded(n.substr(0, root_len), first_name.substr(0, root_len)) ||
        !equal_folded(n.substr(root_len, 6), "/data/"))
      return std::nullopt;
    return small_decimal(n.substr(root_len + 6), ents.size());
  };
  std::vector<bool> is_data;                // entry i is a storage record (indexed in data_records_)
  const zip_entry* repeated_data = nullptr;  // the first storage record whose number an earlier one has
  {
    // CPython's zipfile decodes a name as UTF-8 when flag bit 11 is set and as cp437 otherwise;
    // both decodings are one-to-one, but mixing them lets two different byte strings decode to
    // the same name (an unflagged "\xc3\x87" is cp437 "\u251c\u00e7", the UTF-8 of a flagged
    // "\u251c\u00e7"), and zipfile then reads one record where torch reads the other.
    int utf8_names = 0, cp437_names = 0;
    const zip_entry* mixed = nullptr;
    const zip_entry* filled_directory = nullptr;
    std::size_t hashed = 0;
    // The storage records are filed here, in the same pass (the second one reads is_data), and
    // the first that repeats an earlier number is kept for the second pass to report in turn.
    data_records_ = dense_ids(ents.size());
    is_data.assign(ents.size(), false);
    for (std::size_t i = 0; i < ents.size(); ++i) {
      const auto& e = ents[i];
      if (!mixed && !is_ascii(e.name())) {
        ((e.flags & 0x0800) ? utf8_names : cp437_names) = 1;
        if (utf8_names && cp437_names) mixed = &e;
      }
      if (!filled_directory && miniz_directory(e) && (e.comp_size != 0 || e.uncomp_size != 0)) filled_directory = &e;
      if (const auto n = data_record(e.name())) {
        is_data[i] = true;
        if (!data_records_.get(*n)) data_records_.set(*n, static_cast<std::uint32_t>(i));
        else if (!repeated_data) repeated_data = &e;
      } else {
        ++hashed;
      }
    }
    if (mixed)
      return make_error(errc::zip_duplicate_name,
                        "non-ASCII entry names both with and without the UTF-8 flag: zipfile decodes them two ways, "
                        "so different names can read as one",
                        std::string(mixed->name()), mixed->central_offset(file_));
    if (filled_directory)
      return make_error(errc::zip_bad_name,
                        "directory entry (name ends in '/' or DOS directory attribute) that holds data: torch's miniz "
                        "extracts nothing from it and reads uninitialised memory",
                        std::string(filled_directory->name()), filled_directory->central_offset(file_));
    by_name_ = open_table(hashed);  // sized from the directory: never grows
  }
  // One index over case-folded names: miniz finds records case-insensitively, so two names equal
  // after folding are one name to torch (and which of them it returns depends on its sort).
  // Names that fold to root/data/<n> (n a small decimal below the entry count: the storage
  // records torch writes) are indexed by n in data_records_ (in the pass above), the rest by hash
  // in by_name_; which one is decided by the folded name alone, so names equal after folding
  // meet in the same one.
  // root is the first entry's folder as torch finds it (checked after this loop, which reports
  // bad names first); without one, every name goes to by_name_. The same pass notes the first
  // entry outside that folder (torch: the archive name is the first entry's name up to its
  // first '/'), reported only when every name is clean and unique.
  const auto slash = first_name.find('/');
  const bool has_root = slash != std::string_view::npos && slash != 0;
  const std::string_view root_prefix = has_root ? first_name.substr(0, slash + 1) : std::string_view();
  const zip_entry* outside = nullptr;
  for (std::size_t i = 0; i < ents.size(); ++i) {
    const auto& e = ents[i];
    if (!name_is_clean(e.name()))
      return make_error(errc::zip_bad_name, "unsafe entry name", std::string(e.name()), e.central_offset(file_));
    if (has_root && !outside && (e.name().size() <= slash || e.name().substr(0, slash + 1) != root_prefix)) outside = &e;
    if (is_data[i]) {
      if (&e == repeated_data) {
        const auto other = data_records_.get(*data_record(e.name()));  // the earlier record filed there
        if (ents[*other].name() == e.name())
          return make_error(errc::zip_duplicate_name, "duplicate entry name", std::string(e.name()), e.central_offset(file_));
        return make_error(errc::zip_duplicate_name, "entry names differ only in case", std::string(e.name()), e.central_offset(file_));
      }
      continue;
    }
    name_hash h;
    h.add(e.name(), true);
    // Names equal after folding hash alike, so the one earlier name that folds to this one is
    // found here (there is at most one: a second would have been refused).
    if (const auto other = by_name_.find(h.value(), [&](std::uint32_t j) { return equal_folded(ents[j].name(), e.name()); })) {
      if (ents[*other].name() == e.name())
        return make_error(errc::zip_duplicate_name, "duplicate entry name", std::string(e.name()), e.central_offset(file_));
      return make_error(errc::zip_duplicate_name, "entry names differ only in case", std::string(e.name()), e.central_offset(file_));
    }
    by_name_.insert(h.value(), static_cast<std::uint32_t>(i));
  }
  if (!has_root)
    return make_error(errc::zip_no_root_folder, "first entry is not inside a folder", std::string(first_name), ents.front().central_offset(file_));
  root_ = std::string(first_name.substr(0, slash));
  if (outside)
    return make_error(errc::zip_multiple_roots, "entry outside the top folder '" + root_ + "/'", std::string(outside->name()),
                      outside->central_offset(file_));
  return {};
}

result<std::unique_ptr<archive>> archive::open(std::span<const std::byte> file, const limits& lim, zip_check check,
                                               const page_release& release, const file_pread& pread,
                                               const std::function<void(const zip_directory&)>& directory_read) {
  std::unique_ptr<archive> a(new archive());
  a->file_ = file;
  auto dir = read_directory(file, lim);
  if (!dir) return std::move(dir).error_value();
  a->dir_ = std::move(*dir);
  const auto& ents = a->dir_.entries;
  // Deflate bombs are refused from the directory alone, before any byte is inflated (and before
  // the local headers and descriptors, which a bomb's declared sizes contradict), so that a scan
  // (which inflates nothing) sees them too.
  for (const auto& e : ents)
    if (e.method == 8)
      if (auto r = check_inflate_limits(e, lim); !r) return std::move(r).error_value();
  if (directory_read) directory_read(a->dir_);
  // One reader for the strict walk, its descriptor walk and the parity walk: for far-apart
  // records each header is read once, by pread (zip/local_reads.hpp).
  local_reads reads(file, reads_by_pread(pread, a->dir_) ? &pread : nullptr);
  // A load (strict_when_stored) asks afterwards whether the strict walk decides the archive as
  // libzip would (decided_without_libzip); its per-entry part runs here, in the same walk, and
  // its answer waits for the checks between (bench/NOTES.md 49). Same entries, same order, same
  // first refusal: the answer is the one the separate walk gave.
  struct plain_walk {
    bool open = false;  // every entry so far plain: still asking
    std::optional<error> refused;
  } plain_so_far;
  std::function<void(const zip_entry&)> also;
  if (check == zip_check::strict_when_stored) {
    plain_so_far.open = libzip_plain_ends(file);
    also = [&](const zip_entry& e) {
      if (!plain_so_far.open) return;
      auto p = libzip_plain_entry(file, e, reads);
      if (!p) {
        plain_so_far.refused = std::move(p).error_value();
        plain_so_far.open = false;
        return;
      }
      plain_so_far.open = *p;
    };
  }
  // On a directory of many records the local headers are checked on a second thread while
  // this one checks the names: the two read disjoint fields of the entries (the walk writes only
  // data_skip, which nothing here reads) and neither's answer depends on the other's. The
  // verdict is the sequential one: the walk's refusal comes first, then the names', whichever
  // finished first (bench/NOTES.md 50).
  std::optional<result<void>> local;
  std::exception_ptr local_threw;
  const auto walk_local = [&] {
    try {
      local = check_local_headers(file, a->dir_, release, &reads, also);
    } catch (...) {
      local_threw = std::current_exception();
    }
  };
  std::jthread beside;  // declared after what the walk uses: a thrown name check joins it first
  if (ents.size() >= parallel_local_check_min_entries() && usable_cpus() >= 2) {
    try {
      beside = std::jthread(walk_local);
    } catch (const std::system_error&) {
      // No thread to be had: the walk runs in line below.
    }
  }
  if (!beside.joinable()) {
    walk_local();
    if (local_threw) std::rethrow_exception(local_threw);
    if (!*local) return std::move(*local).error_value();
  }
  auto names = a->check_names();
  if (beside.joinable()) {
    beside.join();
    if (local_threw) std::rethrow_exception(local_threw);
    if (!*local) return std::move(*local).error_value();
  }
  if (!names) return std::move(names).error_value();
  // libzip is the parser of record: it must open the same bytes and see the same entries, unless
  // every record is stored and the strict walk decides the archive exactly as libzip would.
  if (check == zip_check::strict_when_stored) {
    if (plain_so_far.refused) return std::move(*plain_so_far.refused);
    if (plain_so_far.open) return a;  // decided without libzip
  }
  const bool all_stored = std::all_of(ents.begin(), ents.end(), [](const zip_entry& e) { return e.method == 0; });
  if (check == zip_check::libzip_after_load && all_stored) {
    a->libzip_deferred_ = true;
    return a;
  }
  PTHSAFE_TRY(libzip_memory_fits(ents.size(), lim));
  // ZIP_CHECKCONS compares modification times after mktime, whose answer for a clock time the
  // zone repeats or skips changes from run to run (libzip_times_stable). An archive with such a
  // time opens without it where the strict walk decides as libzip would (a plain archive: its
  // checks are the strict walk's), and is refused otherwise: the same verdict on every run.
  bool check_local = true;
  if (auto unstable = first_unstable_time(file, a->dir_, release, reads)) {
    bool plain = false;
    if (check != zip_check::strict_when_stored) {
      PTHSAFE_ASSIGN(plain, decided_without_libzip(file, a->dir_, release, &reads));
    }
    if (!plain) return std::move(*unstable);
    check_local = false;
  }
  PTHSAFE_ASSIGN(a->zip_, open_libzip(file, &ents, release, check_local));
  a->libzip_checked_ = true;
  a->libzip_checkcons_ = check_local;
  // libzip agreed; it is needed again only to inflate. An all-stored archive lets it go now, so
  // that its per-entry structures (~400 bytes an entry) are not held while the pickle runs: the
  // gate's peak is the larger of the two, not their sum (bench/NOTES.md 21).
  if (all_stored) a->zip_.reset();
  return a;
}

result<std::unique_ptr<archive::libzip_handle>> archive::open_libzip(std::span<const std::byte> file,
                                                                    const std::vector<zip_entry>* ents,
                                                                    const page_release& release, bool check_local) {
  zip_error_t zerr;
  zip_error_init(&zerr);
  // libzip's ZIP_CHECKCONS reads every local header again; its reader hands back the pages it
  // passes, as the strict walk does (bench/NOTES.md 27).
  auto h = std::make_unique<libzip_handle>(file, release);
  zip_source_t* src = h->reader.make_source(&zerr);
  if (!src) {
    zip_error_fini(&zerr);
    return make_error(errc::zip_libzip_rejected, "libzip could not create a source");
  }
  h->z = zip_open_from_source(src, check_local ? ZIP_RDONLY | ZIP_CHECKCONS : ZIP_RDONLY, &zerr);
  h->reader.stop_releasing();
  if (!h->z) {
    std::string msg = std::string("libzip: ") + zip_error_strerror(&zerr);
    zip_source_free(src);
    zip_error_fini(&zerr);
    return make_error(errc::zip_libzip_rejected, msg);
  }
  zip_error_fini(&zerr);
  if (!ents) return h;
  const zip_int64_t n = zip_get_num_entries(h->z, 0);
  if (n < 0 || static_cast<std::uint64_t>(n) != ents->size())
    return make_error(errc::zip_parser_disagree, "libzip counts " + std::to_string(n) + " entries, the directory " +
                                                     std::to_string(ents->size()));
  for (std::size_t i = 0; i < ents->size(); ++i) PTHSAFE_TRY(libzip_entry_agrees(file, *h, i, (*ents)[i]));
  return h;
}

result<void> archive::libzip_entry_agrees(std::span<const std::byte> file, const libzip_handle& h, std::size_t i,
                                          const zip_entry& e) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(h.z, i, ZIP_FL_ENC_RAW, &st) != 0)
    return make_error(errc::zip_parser_disagree, "libzip cannot stat entry " + std::to_string(i), std::string(e.name()));
  if (!st.name || std::string_view(st.name) != e.name() || st.size != e.uncomp_size ||
      st.comp_size != e.comp_size || st.crc != e.crc || st.comp_method != static_cast<zip_int32_t>(e.method))
    return make_error(errc::zip_parser_disagree, "libzip and the directory walk disagree about entry " + std::to_string(i),
                      std::string(e.name()), e.central_offset(file));
  return {};
}

result<bool> archive::libzip_agrees(std::span<const std::byte> file, const limits& lim, const page_release& release) {
  auto agreed = compare_with_libzip(file, lim, release);
  // libzip's per-entry structures (~400 bytes an entry, in small blocks) are freed by now, but
  // glibc keeps freed small blocks in the process: 40 MB for 100,000 entries, resident through
  // the gate's later walks, its peak (bench/NOTES.md 33). Hand them back.
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
  return agreed;
}

result<bool> archive::compare_with_libzip(std::span<const std::byte> file, const limits& lim, const page_release& release) {
  // libzip opens first; the directory walk then hands its entries over one at a time, so that
  // neither a second copy of the directory (72 bytes an entry) nor the loaded tree is held
  // beside libzip's own (bench/NOTES.md 33). Only agree / disagree matters here: on a
  // disagreement the gate judges the file again with libzip first, whose report it keeps.
  //
  // The first walk also asks whether the archive is plain (zip/libzip_parity.hpp): then every
  // check ZIP_CHECKCONS adds (local headers against the directory) is one the strict walk made
  // at open, with libzip's answer (fuzz_zip checks that claim on every input), and libzip opens
  // without it. It still parses the end records and the whole directory itself, which this
  // walk compares entry by entry; what it no longer does is keep every local extra field
  // (torch's alignment padding: ~100 bytes an entry, a fifth of its memory) and convert every
  // local time through mktime (docs/zip.md, bench/NOTES.md 39). A refused or non-plain entry
  // keeps ZIP_CHECKCONS, so libzip gives its own answer there.
  //
  // Where ZIP_CHECKCONS stays, a modification time its mktime reads two ways is refused first
  // (libzip_times_stable): libzip's answer there changes from run to run. Only then are the
  // times read (a second walk): a plain archive, every torch file, pays nothing for it.
  std::uint64_t entries = 0;
  bool plain = libzip_plain_ends(file);
  {
    release_behind behind(file, release);
    local_reads reads(file, nullptr);
    PTHSAFE_TRY(read_directory(file, lim, [&](std::size_t, const zip_entry& e) -> result<void> {
      ++entries;
      if (plain) {
        behind.passed(e.local_offset);
        auto p = libzip_plain_entry(file, e, reads);
        plain = p && *p;
      }
      return {};
    }));
  }
  PTHSAFE_TRY(libzip_memory_fits(entries, lim));
  if (!plain) {
    release_behind behind(file, release);
    local_reads reads(file, nullptr);
    stable_clock_times zone;
    PTHSAFE_TRY(read_directory(file, lim, [&](std::size_t, const zip_entry& e) -> result<void> {
      behind.passed(e.local_offset);
      return libzip_times_stable(file, e, reads, zone);
    }));
  }
  PTHSAFE_ASSIGN(const auto h, open_libzip(file, nullptr, release, /*check_local=*/!plain));
  const zip_int64_t n = zip_get_num_entries(h->z, 0);
  zip_uint64_t listed = 0;
  // The directory's pages go back behind the walk too: libzip read them first, and they would
  // otherwise be resident again beside libzip's structures.
  release_behind behind(file, release, std::uint64_t{1} << 20);
  const entry_visitor same = [&](std::size_t i, const zip_entry& e) -> result<void> {
    ++listed;
    behind.passed(e.central_offset(file));
    if (n < 0 || i >= static_cast<std::uint64_t>(n))
      return make_error(errc::zip_parser_disagree, "libzip counts " + std::to_string(n) + " entries, the directory more");
    return libzip_entry_agrees(file, *h, i, e);
  };
  PTHSAFE_ASSIGN(const auto dir, read_directory(file, lim, same));
  (void)dir;
  if (n < 0 || static_cast<zip_uint64_t>(n) != listed)
    return make_error(errc::zip_parser_disagree, "libzip counts " + std::to_string(n) + " entries, the directory " +
                                                     std::to_string(listed));
  return !plain;
}

std::optional<std::size_t> archive::find(std::string_view rel) const {
  if (dir_.entries.empty()) return std::nullopt;
  // Every record whose folded name is root/data/<n> with n below the entry count is in
  // data_records_ (names equal after folding were refused at open): for such n, its answer is
  // the whole answer.
  if (rel.size() > 5 && equal_folded(rel.substr(0, 5), "data/"))
    if (const auto n = small_decimal(rel.substr(5), data_records_.bound())) {
      const auto id = data_records_.get(*n);
      if (!id) return std::nullopt;
      return std::size_t{*id};
    }
  // torch: mz_zip_reader_locate_file(archive_name + "/" + rel, flags 0), i.e. ASCII case folded.
  name_hash h;
  h.add(root_, true);
  h.add("/", true);
  h.add(rel, true);
  const auto at = by_name_.find(h.value(), [&](std::uint32_t i) {
    const std::string_view n = dir_.entries[i].name();
    return n.size() == root_.size() + 1 + rel.size() && equal_folded(n.substr(0, root_.size()), root_) &&
           n[root_.size()] == '/' && equal_folded(n.substr(root_.size() + 1), rel);
  });
  if (!at) return std::nullopt;
  return std::size_t{*at};
}

std::optional<std::size_t> archive::find_data(std::string_view key) const {
  // find's own first answer, for the names torch writes: "data/" folds to itself.
  if (!dir_.entries.empty() && !key.empty())
    if (const auto n = small_decimal(key, data_records_.bound())) {
      const auto id = data_records_.get(*n);
      if (!id) return std::nullopt;
      return std::size_t{*id};
    }
  std::string rel;
  rel.reserve(5 + key.size());
  rel.append("data/").append(key);
  return find(rel);
}

bool archive::has_folder(std::string_view rel_folder) const {
  for (const auto& e : dir_.entries) {
    if (e.name().size() <= root_.size() + 1) continue;
    const std::string_view rel = e.name().substr(root_.size() + 1);
    // The first byte first: most names differ there ("data/..."), and equal_folded is a call.
    if (rel.size() >= rel_folder.size() && !rel_folder.empty() && fold(rel[0]) == fold(rel_folder[0]) &&
        equal_folded(rel.substr(0, rel_folder.size()), rel_folder))
      return true;
  }
  return false;
}

std::optional<std::span<const std::byte>> archive::stored_bytes(std::size_t i) const noexcept {
  const auto& e = dir_.entries[i];
  if (e.method != 0) return std::nullopt;
  return file_.subspan(e.data_offset(), e.comp_size);
}

result<void> archive::extract(std::size_t i, std::byte* dst, const limits& lim) const {
  const auto& e = dir_.entries[i];
  const std::string name(e.name());
  if (e.method == 0) {
    if (e.uncomp_size) std::memcpy(dst, file_.data() + e.data_offset(), e.uncomp_size);
    return {};
  }
  if (auto r = check_inflate_limits(e, lim); !r) return r;
  // Only archives whose records are all stored are opened without libzip.
  if (!zip_) return make_error(errc::zip_inflate_failed, "deflated record in an archive opened without libzip", name, 0);
  zip_file_t* zf = zip_fopen_index(zip_->z, i, 0);
  if (!zf) return make_error(errc::zip_inflate_failed, std::string("libzip: ") + zip_strerror(zip_->z), name, 0);
  std::uint64_t done = 0;
  while (done < e.uncomp_size) {
    const std::uint64_t want = std::min<std::uint64_t>(e.uncomp_size - done, std::uint64_t{1} << 30);
    const zip_int64_t got = zip_fread(zf, dst + done, want);
    if (got <= 0) {
      std::string msg = got < 0 ? std::string("libzip: ") + zip_file_strerror(zf) : "deflate stream ended early";
      zip_fclose(zf);
      const errc code = msg.find("CRC") != std::string::npos ? errc::zip_crc_mismatch : errc::zip_inflate_failed;
      return make_error(code, msg, name, done);
    }
    done += static_cast<std::uint64_t>(got);
  }
  char extra;
  const zip_int64_t more = zip_fread(zf, &extra, 1);
  const int rc = zip_fclose(zf);
  if (more != 0 || rc != 0)
    return make_error(more > 0 ? errc::zip_inflate_failed : errc::zip_crc_mismatch,
                      more > 0 ? "deflate stream is longer than the directory says" : "CRC or stream check failed at end of record",
                      name, done);
  return {};
}

result<void> archive::verify_crc(std::size_t i, const limits& lim) const {
  const auto& e = dir_.entries[i];
  if (e.method != 0) {
    // libzip checks the CRC of an inflated stream itself; inflate into scratch.
    std::vector<std::byte> tmp(e.uncomp_size > lim.max_inflated_bytes ? 0 : e.uncomp_size);
    if (e.uncomp_size > lim.max_inflated_bytes) return extract(i, nullptr, lim);
    return extract(i, tmp.data(), lim);
  }
  const std::uint32_t crc = crc32_update(0, file_.subspan(static_cast<std::size_t>(e.data_offset()), static_cast<std::size_t>(e.comp_size)));
  if (crc != e.crc) {
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "CRC-32 %08x, directory says %08x", static_cast<unsigned>(crc), e.crc);
    return make_error(errc::zip_crc_mismatch, buf.data(), std::string(e.name()), 0);
  }
  return {};
}

}  // namespace pthsafe::detail
