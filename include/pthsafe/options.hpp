// pthsafe/options.hpp - every knob of a load or scan, and every limit, in one place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pthsafe {

/// Where tensor bytes live after a load.
enum class load_mode : std::uint8_t {
  copy,      ///< each storage read straight from the file into its own 64-byte-aligned buffer
  mmap,      ///< tensors are zero-copy views into the read-only mapped file (stored records);
             ///< deflated records are inflated into owned buffers (storage::is_mapped tells)
  metadata,  ///< no storage bytes are read: shapes, dtypes, keys and checks only (scan)
};

/// Hard limits. Each stops one kind of hostile input; exceeding one fails with
/// errc::limit_exceeded (or the zip-specific limit codes) and a message naming the field.
struct limits {
  /// Largest pickle record read (data.pkl). Stops multi-GiB "pickles" used to exhaust memory.
  std::uint64_t max_pickle_bytes = std::uint64_t{1} << 30;  // 1 GiB
  /// Most values on the unpickler stack (all MARK levels together). Stops push floods.
  std::uint64_t max_stack_items = std::uint64_t{1} << 22;  // 4 Mi
  /// Deepest MARK nesting. Stops "millions of MARKs".
  std::uint32_t max_mark_depth = 100000;
  /// Most memo entries. Stops memo floods early (the slots themselves are also charged to
  /// max_tree_bytes: 8 bytes each for the dense indices picklers write, 64 for scattered ones).
  /// torch's pickler memoises 8 objects per tensor of a state_dict (key, persistent id, size,
  /// stride, hooks dict and its args, the rebuild call, the tensor), and each tensor has its
  /// storage record, of which a zip holds at most max_zip_entries (1 Mi): 8 Mi entries let the
  /// largest state_dict those limits admit load (bounded then by max_tree_bytes, which the
  /// caller raises for it). The former 4 Mi refused every state_dict past ~520,000 tensors.
  std::uint64_t max_memo_entries = std::uint64_t{1} << 23;  // 8 Mi
  /// Most bytes the value tree may take while unpickling: every value node, string payload
  /// (with its heap block), container slot (16 bytes: the pointer and the spare capacity of a
  /// growing vector), container heap block, hash-index slot, tensor record and entry of the
  /// tree check's map is charged (None, bools, small ints and () are shared, not created), so
  /// the charge follows the real memory use (nodes, text and arrays live in one arena). A torch
  /// 2.x state_dict costs about 1.3 KiB per tensor charged (its per-tensor pickle objects stay
  /// alive in the memo until STOP, as in CPython): 128 MiB holds ~100,000 tensors; raise it for
  /// bigger state_dicts. Stops floods of cheap opcodes (64 MiB of EMPTY_LIST/POP would
  /// otherwise build 32 M nodes) and keeps any input of 64 MiB under 256 MiB resident. Where
  /// libzip opens an archive (always in the gate), it is charged 512 bytes per zip entry first:
  /// 262,144 entries under the default.
  std::uint64_t max_tree_bytes = std::uint64_t{128} << 20;  // 128 MiB
  /// Longest single str / bytes value. Stops 4 GiB BINUNICODE lengths (checked before reading).
  std::uint64_t max_string_bytes = std::uint64_t{1} << 28;  // 256 MiB
  /// Widest integer, in bytes of two's complement (LONG1 max is 255; LONG4 / text INT can be huge).
  /// Text forms are further limited to 4300 digits, as CPython does.
  std::uint32_t max_int_bytes = 4096;
  /// Most items in one container (list, dict, tuple, set).
  std::uint64_t max_container_items = std::uint64_t{1} << 22;  // 4 Mi
  /// Deepest container nesting in the result (the value tree walkers recurse this deep).
  std::uint32_t max_nesting_depth = 1000;
  /// Most tensors in one checkpoint.
  std::uint64_t max_tensors = std::uint64_t{1} << 24;  // 16 Mi
  /// Most dimensions of one tensor. A checkpoint's tensors keep their dim counts in 16 bits:
  /// values above 65,535 act as 65,535.
  std::uint32_t max_dims = 64;
  /// Most zip entries. Stops directory floods.
  std::uint64_t max_zip_entries = std::uint64_t{1} << 20;  // 1 Mi
  /// Largest inflated size of one deflated record. Stops deflate bombs.
  std::uint64_t max_inflated_bytes = std::uint64_t{16} << 30;  // 16 GiB
  /// Largest uncompressed:compressed ratio of a deflated record (deflate's own maximum is ~1032).
  std::uint32_t max_compression_ratio = 250;
  /// Most value nodes a tree walker (JSON output, key paths) may visit, counting shared subtrees
  /// once per visit. Stops memo "billion laughs" from exploding the output.
  std::uint64_t max_walk_nodes = std::uint64_t{1} << 26;  // 64 Mi
  /// Most bytes a serialisation of the value tree (inspect --json) may produce. Stops shared
  /// references to one large str / bytes value from expanding into gigabytes of output (each
  /// reference repeats it; bytes are written as hex, twice their size; attribute names and big
  /// ints' digits count too). The JSON document is built in memory beside the tree, so this and
  /// max_tree_bytes together bound inspect --json's resident size.
  std::uint64_t max_output_bytes = std::uint64_t{64} << 20;  // 64 MiB
  /// Most nodes that comparing dict keys and set items may visit while one pickle runs, lowered
  /// to 4 per pickle byte + 256. Two equal keys built apart from shared tuples (t = (t, t) nested
  /// 64 deep) compare in exponential time otherwise; CPython hangs on them. Comparisons that
  /// read more than a node are charged what they read: big ints, str and bytes 1 unit per 64
  /// bytes, frozensets of more than 8 items 6 units an item (equal 4 KiB ints used as one key
  /// 20,000 times took 93 s when each comparison cost 1).
  std::uint64_t max_key_compare_nodes = std::uint64_t{1} << 24;  // 16 Mi
  /// Largest JSON text read (a match manifest, a safetensors header): 100,000,000 bytes, the
  /// safetensors crate's own header bound. Stops multi-GB headers before they are read.
  std::uint64_t max_json_bytes = 100'000'000;
  /// Most values (scalars, arrays, objects, counted each) in one JSON text. Each costs about
  /// 100 bytes parsed, so the default keeps a parsed text under ~400 MiB; a safetensors header
  /// takes about 10 per tensor (400,000 tensors). Stops "[0,0,0,...]" floods.
  std::uint64_t max_json_values = std::uint64_t{1} << 22;  // 4 Mi
  /// Deepest array/object nesting in a JSON text (the reader recurses this deep). Stops
  /// "[[[[..." stack exhaustion.
  std::uint32_t max_json_depth = 128;
};

/// Options of checkpoint::open / scan.
struct load_options {
  load_mode mode = load_mode::copy;
  pthsafe::limits limits{};
  /// Extra globals ("module.name", exact match) admitted beyond torch's default allowlist.
  /// pthsafe never calls them: REDUCE/NEWOBJ/BUILD on them yield inert value_kind::object values.
  /// Globals from sys, os, posix and nt stay refused whatever this holds.
  std::vector<std::string> allowed_globals{};
  /// Refuse exactly what torch.load(weights_only=True) refuses: the data-only opcodes of
  /// protocols 0-5 that torch's unpickler does not implement fail with pickle_opcode_not_torch.
  bool strict_torch = false;
  /// Check the CRC-32 of every storage record (pickle records are always checked).
  bool verify_crc = false;
  /// load_mode::mmap only. A storage that cannot be handed out zero-copy is normally copied
  /// into an owned buffer (storage_view::is_mapped() says which): deflated records, every
  /// storage of a big-endian file (its elements must be byte-swapped) and legacy-format storages
  /// whose bytes are not aligned for their element type. With this set such a load fails with
  /// errc::mmap_copy_refused instead, naming the storage, so a caller that needs zero-copy
  /// learns it up front.
  bool refuse_copy_in_mmap = false;
  /// Read TorchScript archives (torch.jit.save / torch::jit::save: a zip with constants.pkl).
  /// Only their tensors and data are extracted: `data.pkl` (the module's attributes) becomes the
  /// root and `constants.pkl` checkpoint::constants(); `__torch__.*` classes become inert
  /// value_kind::object values, `code/` is never read. Off by default: such files are refused
  /// with errc::torchscript_archive (torch.jit.load would run their code), and a scan always
  /// reports them unsafe whatever this says.
  bool allow_torchscript = false;
};

}  // namespace pthsafe
