// A validated zip archive: libzip (parser of record) cross-checked with the strict directory
// walk, names checked, the top folder found as torch finds it, records looked up as torch's
// miniz looks them up (ASCII case-insensitively).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/file_pread.hpp"
#include "io/release_behind.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/options.hpp"
#include "util/dense_ids.hpp"
#include "util/open_table.hpp"
#include "zip/directory.hpp"

namespace pthsafe::detail {

/// How archive::open involves libzip, the parser of record (docs/zip.md).
enum class zip_check {
  /// libzip opens every archive and must see the same entries (the gate, `verify`, the fuzzers).
  libzip_always,
  /// libzip opens the archive unless every record is stored and the strict walk alone decides
  /// the archive as libzip would (zip/libzip_parity.hpp); then no libzip handle exists.
  strict_when_stored,
  /// The gate: libzip opens an archive with a deflated record at once (records are inflated
  /// through it); an all-stored one is left for the caller to check with libzip_agrees once it
  /// has freed what it built, so that libzip's per-entry structures and a loaded value tree are
  /// never held together (libzip_deferred() says which happened).
  libzip_after_load,
};

/// archive::open checks the local headers on a second thread, beside the name checks, when the
/// directory has at least this many entries (4,096; a thread costs ~0.1-0.4 ms to start here,
/// the walk ~1 us an entry). Test and fuzzing hook: 0 makes every open use the thread,
/// SIZE_MAX none. Process-wide.
std::size_t parallel_local_check_min_entries() noexcept;
void set_parallel_local_check_min_entries(std::size_t n) noexcept;

class archive {
 public:
  /// Validates `file` (which must outlive the archive). Errors: every zip_* code, the same for
  /// both checks on every input (fuzz/fuzz_zip.cpp compares them).
  /// `release` (a mapped file's release_pages) lets the local-header walks hand back the pages
  /// they have read past, and `pread` (its read_into) lets them read the headers of far-apart
  /// records without faulting pages in; the checks and results are the same with or without.
  /// `directory_read`, when set, is shown the central directory as soon as it has been read
  /// (and no deflated record's declared sizes break a limit), before any local header or name
  /// is checked: work that depends only on where records lie may start beside the checks
  /// (read_zip's memo walk of data.pkl). It must not keep references past open().
  static result<std::unique_ptr<archive>> open(std::span<const std::byte> file, const limits& lim,
                                               zip_check check = zip_check::libzip_always,
                                               const page_release& release = {}, const file_pread& pread = {},
                                               const std::function<void(const zip_directory&)>& directory_read = {});
  ~archive();
  archive(const archive&) = delete;
  archive& operator=(const archive&) = delete;

  /// Top folder without the slash ("model", "archive").
  std::string_view root() const noexcept { return root_; }
  const std::vector<zip_entry>& entries() const noexcept { return dir_.entries; }
  /// Index of record `root/rel` as torch's reader finds it (miniz locate_file, flags 0: ASCII
  /// case-insensitive; names equal after folding are refused at open, so at most one matches).
  std::optional<std::size_t> find(std::string_view rel) const;
  /// find("data/" + key) without building that string: a persistent id's record.
  std::optional<std::size_t> find_data(std::string_view key) const;
  /// True when some record's name relative to the top folder starts with `rel_folder` (e.g.
  /// "code/"), compared as find() compares.
  bool has_folder(std::string_view rel_folder) const;
  /// The central directory and the end records after it (entry names are views into it).
  std::span<const std::byte> directory_bytes() const noexcept {
    return file_.subspan(static_cast<std::size_t>(dir_.cd_offset));
  }
  /// Full name of an entry.
  std::string_view name(std::size_t i) const noexcept { return dir_.entries[i].name(); }
  /// Bytes of a stored record inside the file (zero-copy); nullopt for deflated records.
  std::optional<std::span<const std::byte>> stored_bytes(std::size_t i) const noexcept;
  /// Inflates a deflated record (or copies a stored one) into dst, which must hold exactly
  /// uncomp_size bytes. Checks the size and ratio limits first and the CRC at the end.
  /// Errors: zip_inflate_limit, zip_inflate_failed, zip_crc_mismatch.
  result<void> extract(std::size_t i, std::byte* dst, const limits& lim) const;
  /// Checks the CRC-32 of a record against the directory. Errors: zip_crc_mismatch.
  result<void> verify_crc(std::size_t i, const limits& lim) const;
  /// Whether libzip opened the archive and agreed with the strict walk (false only under
  /// zip_check::strict_when_stored). Its handle is kept only while a record needs inflating.
  bool libzip_opened() const noexcept { return libzip_checked_; }
  /// Whether that open used ZIP_CHECKCONS: always, except on a plain archive with a modification
  /// time the process's zone repeats or skips (libzip_times_stable, docs/zip.md).
  bool libzip_checked_local() const noexcept { return libzip_checked_ && libzip_checkcons_; }
  /// Whether open left libzip's check to the caller (zip_check::libzip_after_load).
  bool libzip_deferred() const noexcept { return libzip_deferred_; }
  /// The check open defers under zip_check::libzip_after_load: libzip opens `file` (through a
  /// reader that hands back pages via `release`) and must list exactly the entries the
  /// directory walk lists. Errors: zip_libzip_rejected, zip_parser_disagree, and the directory
  /// walk's own (which open already passed for the same bytes and limits).
  /// The value: whether libzip also checked the local headers (ZIP_CHECKCONS). It does unless
  /// the archive is plain (zip/libzip_parity.hpp), where the strict walk at open made exactly
  /// the checks ZIP_CHECKCONS adds, with libzip's answers (docs/zip.md).
  static result<bool> libzip_agrees(std::span<const std::byte> file, const limits& lim, const page_release& release = {});

 private:
  archive() = default;
  std::span<const std::byte> file_;
  zip_directory dir_;
  std::string root_;
  // Case-folded name index (keyed SipHash of the folded name -> entry), no allocation per entry
  // (checkpoints with 100,000s of records).
  open_table by_name_;
  // root/data/<n> records (n a small canonical decimal, data/ in any case) by n: the records
  // torch's persistent ids name, found without hashing (find() asks here first).
  dense_ids data_records_;
  struct libzip_handle;
  // libzip opened over `file` (with ZIP_CHECKCONS when `check_local`), agreeing with `*ents`
  // (or the error); with `ents` null, opened only (the caller compares, libzip_entry_agrees).
  static result<std::unique_ptr<libzip_handle>> open_libzip(std::span<const std::byte> file,
                                                            const std::vector<zip_entry>* ents,
                                                            const page_release& release, bool check_local);
  // The name checks of open (clean, unique after case folding, one top folder, UTF-8 flags
  // consistent, no directory holding data), building by_name_ and data_records_ and setting
  // root_: each check's first failing entry, in the order open documents.
  result<void> check_names();
  // libzip_agrees without handing freed memory back.
  static result<bool> compare_with_libzip(std::span<const std::byte> file, const limits& lim, const page_release& release);
  // libzip's entry i has e's name, sizes, CRC and method (or zip_parser_disagree).
  static result<void> libzip_entry_agrees(std::span<const std::byte> file, const libzip_handle& h, std::size_t i,
                                          const zip_entry& e);
  std::unique_ptr<libzip_handle> zip_;
  bool libzip_checked_ = false;
  bool libzip_checkcons_ = true;
  bool libzip_deferred_ = false;
};

}  // namespace pthsafe::detail
