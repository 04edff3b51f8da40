// What kind of file this is, decided once, in the order torch.load decides it. The load
// (core/checkpoint) and the gate (scan/scan) both call these functions, so they cannot classify
// a file differently.
//
// torch.jit.load (1.13 and 2.x) first: "PTMF" at bytes 4..7 -> flatbuffer (mobile) module, whose
// code it runs; such a file is TorchScript whatever else it parses as.
// torch.load (1.13 and 2.x) on a path: PK\3\4 at offset 0 -> zip reader; otherwise
// `tarfile.open(mode="r:")`, and only if that raises TarError the pickle stream: the first
// pickle must *unpickle to* the legacy magic number (compared by value, not by bytes), else
// "Invalid magic number". pthsafe adds the PYTORCH1 preview (refused) and reads any other
// pickle stream as a bare pickle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/source.hpp"
#include "pthsafe/checkpoint.hpp"
#include "pthsafe/options.hpp"
#include "zip/archive.hpp"

namespace pthsafe::detail {

enum class container_kind : std::uint8_t {
  zip,      ///< PK\3\4 at offset 0 (torch's _is_zipfile)
  tar,      ///< CPython's tarfile would open it (core/tar_probe.hpp), or `ustar` magic
  preview,  ///< "PYTORCH1": the pre-1.0 preview archive
  mobile,   ///< "PTMF" at offset 4: a TorchScript flatbuffer module, which torch.jit.load
            ///< recognises before anything else and whose methods it runs
  pickle,   ///< a legacy stream (by the magic's value), or a pickle a pickler could have written
  none,     ///< none of these
};

struct container_id {
  container_kind kind = container_kind::none;
  bool legacy = false;  ///< kind pickle, and its first pickle is the legacy magic number
};

/// The one classification of a file. A pickle stream is legacy when legacy_magic_end finds the
/// magic; otherwise it is a bare pickle only when its first byte is one a pickler writes first
/// (pickler_writes_first), and `none` else (a PNG starts with NEWFALSE, 'P'...: no checkpoint).
container_id detect_container(std::span<const std::byte> file, const load_options& opts);

/// PROTO, or an opcode of protocols 0/1 (every pickler starts with one of these).
bool pickler_writes_first(unsigned char first_byte) noexcept;

/// Longest first pickle examined for the legacy magic number. torch writes it in 14 (protocol
/// 2) to 27 (protocol 0/1 text LONG) bytes; a longer one is read as a bare pickle, which a load
/// refuses (bytes follow STOP) and a scan follows pickle after pickle, so nothing hides there.
inline constexpr std::uint64_t legacy_magic_window = 4096;

/// For a pickle stream: the offset after the first pickle's STOP when that pickle, run in the
/// restricted machine over at most legacy_magic_window bytes and a small tree budget, is the
/// integer 0x1950a86a20f9469cfc6c, in any encoding (LONG1 of any length, LONG4, text LONG or
/// INT in any base CPython accepts, with or without PROTO/FRAME/memo opcodes). Bounded work.
std::optional<std::uint64_t> legacy_magic_end(std::span<const std::byte> file, const load_options& opts);

/// What a load learnt about a file's structure, kept even when the load fails; the gate reads
/// it to decide which records are data (never pickles) and where to resume judging pickles.
struct load_facts {
  container_kind kind = container_kind::none;
  bool legacy = false;                       ///< pickle stream whose first pickle is the magic
  bool main_pickle_ran = false;              ///< data.pkl (bare pickle: the file) ran to its STOP
  std::string root;                          ///< zip top folder, when the archive opened
  /// By zip directory index (read_directory's order): the records data.pkl / constants.pkl read
  /// as storages. Filled only when the caller sets want_storage_records (the gate): one bit per
  /// entry, not a name per storage, since it is built while the whole tree is alive.
  bool want_storage_records = false;
  std::vector<bool> storage_entries;
  /// The archive opened under zip_check::libzip_after_load without libzip: the caller still
  /// owes archive::libzip_agrees on the same bytes.
  bool libzip_deferred = false;
};

/// checkpoint::open_buffer that also fills `facts` (success or failure), reading `bytes` (a
/// source::from_buffer, or a source::borrow of a mapped file, whose pages the zip walks then
/// hand back as they pass them). The gate passes zip_check::libzip_after_load: libzip, the parser
/// of record, opens every archive it judges, all-stored ones after the load (facts.libzip_deferred).
result<checkpoint> open_with_facts(source bytes, const load_options& opts, load_facts& facts,
                                   zip_check zip_checked_by = zip_check::strict_when_stored);

}  // namespace pthsafe::detail
