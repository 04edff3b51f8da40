// pthsafe/error.hpp - the one error vocabulary of pthsafe.
//
// Every fallible call returns result<T>: either a value or an `error` that carries a stable code,
// the archive record it concerns (e.g. "model/data.pkl") and the byte offset inside that record
// (or inside the file, for container errors). Nothing in pthsafe throws for bad input: a file,
// however hostile, yields an `error` value. Exceptions mean a programming error in the caller
// (docs/api.md):
//   - bad_result_access: value(), operator* or operator-> of a result that holds an error, or
//     error_value() of one that holds a value;
//   - precondition_error: an API call whose documented precondition does not hold (as_tensor()
//     on a dict, storage() of a tensor without one, tensor(i) out of range, a moved-from
//     checkpoint, ...); what() names the rule, e.g. "tensor_view::storage(): requires has_storage()".
// Both derive from std::logic_error. std::bad_alloc escapes when the process is out of memory.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <memory>
#include <string>
#include <string_view>
#include <new>
#include <type_traits>
#include <utility>

#include "pthsafe/export.hpp"

namespace pthsafe {

/// How a failure is judged. The CLI maps these to exit codes (docs/policy.md):
/// refused -> 1 ("unsafe" for a scan), malformed -> 2, io -> 2, usage -> 2.
enum class error_class : std::uint8_t {
  refused,    ///< the file is well-formed but asks for something outside the policy
  malformed,  ///< the file cannot be read consistently (corrupt, truncated, lying, over a limit)
  unsupported,///< well-formed and allowed, but a feature this build does not read yet
  io,         ///< the operating system failed us (open, read, mmap)
  usage,      ///< the caller asked for something impossible (wrong type, missing key)
};

/// Every way a load or scan can fail. Values are stable; names (errc_name) are used as rule ids.
enum class errc : std::uint16_t {
  ok = 0,
  // ---- operating system ------------------------------------------------------------------
  io_open,               ///< the file could not be opened or stat'ed
  io_read,               ///< a read or mmap failed
  // ---- container detection ---------------------------------------------------------------
  not_a_checkpoint,      ///< neither a zip (PK\3\4 at offset 0), nor a pickle, nor legacy magic
  preview_archive,       ///< starts with "PYTORCH1": the pre-1.0 preview format torch refuses
  tar_format,            ///< pre-0.1.10 tar checkpoint: refused, torch >= 2.6 refuses it too
  legacy_format,         ///< no longer returned: 0.1.10-1.5 stacked-pickle files are read (kept: values are stable)
  torchscript_archive,   ///< zip holding constants.pkl: TorchScript, refused unless asked for
  // ---- zip structure ---------------------------------------------------------------------
  zip_no_eocd,           ///< no end-of-central-directory record where one must be
  zip_bad_eocd,          ///< EOCD / zip64 EOCD / locator inconsistent (counts, sizes, offsets)
  zip_bad_central_entry, ///< a central directory entry is truncated or lies
  zip_libzip_rejected,   ///< libzip, the parser of record, refused the archive
  zip_parser_disagree,   ///< libzip and the strict walk disagree about an entry
  zip_local_header,      ///< local header missing, or disagrees with the central directory
  zip_duplicate_name,    ///< two entries with the same name
  zip_bad_name,          ///< '..', absolute path, backslash, NUL or empty component in a name
  zip_multiple_roots,    ///< entries under more than one top folder
  zip_no_root_folder,    ///< first entry is not inside a folder (torch: "not in a subdirectory")
  zip_overlap,           ///< two records' bytes overlap
  zip_out_of_bounds,     ///< a record extends past the end of the file or into the directory
  zip_trailing_data,     ///< bytes after the end-of-central-directory record (polyglot)
  zip_unsupported_flags, ///< encryption, patched data or other general-purpose flags
  zip_unsupported_method,///< compression other than stored (0) or deflate (8)
  zip_crc_mismatch,      ///< a record's CRC-32 does not match its bytes
  zip_inflate_failed,    ///< deflate stream corrupt or its size disagrees with the directory
  zip_too_many_entries,  ///< limit: max_zip_entries
  zip_inflate_limit,     ///< limit: max_inflated_bytes or max_compression_ratio (deflate bomb)
  // ---- archive records -------------------------------------------------------------------
  missing_record,        ///< a record torch requires (data.pkl, version, data/<key>) is absent
  bad_version_record,    ///< version record not a decimal in torch's supported range
  bad_byteorder_record,  ///< byteorder record is neither "little" nor "big"
  // ---- pickle stream ---------------------------------------------------------------------
  pickle_truncated,      ///< the stream ends inside an opcode or before STOP
  pickle_unknown_opcode, ///< a byte that is no pickle opcode
  pickle_opcode_refused, ///< an opcode the policy always refuses (INST, OBJ, EXT*, PERSID, ...)
  pickle_opcode_not_torch, ///< strict-torch mode: an opcode torch's weights_only refuses
  pickle_stack_underflow,///< pop from an empty stack
  pickle_no_mark,        ///< an opcode needing a MARK found none
  pickle_pending_mark,   ///< STOP with an unclosed MARK or values left on the stack
  pickle_memo_missing,   ///< GET of a memo index that was never PUT
  pickle_bad_operand,    ///< wrong type or value for an opcode (e.g. APPEND to a dict)
  pickle_bad_text,       ///< invalid UTF-8, or malformed text operand (INT, FLOAT, GLOBAL line)
  pickle_trailing_data,  ///< bytes after STOP
  pickle_global_refused, ///< GLOBAL/STACK_GLOBAL outside the allowlist
  pickle_global_blocked, ///< GLOBAL from sys/os/posix/nt: refused even when a caller allows it
  pickle_call_refused,   ///< REDUCE/NEWOBJ on something that is not an allowed callable
  pickle_build_refused,  ///< BUILD on something other than Tensor, Parameter, OrderedDict
  pickle_setitem_refused,///< SETITEM(S) on a non-dict (CVE-2026-24747)
  pickle_append_refused, ///< APPEND(S) on a non-list
  pickle_persid_refused, ///< a persistent id that is not ('storage', ...)
  pickle_cycle,          ///< a container contains itself
  limit_exceeded,        ///< one of the load_options limits; the message names it
  // ---- torch objects ---------------------------------------------------------------------
  bad_persistent_id,     ///< storage persistent id of the wrong shape or types
  bad_storage_type,      ///< storage class is not a known torch storage
  storage_size_mismatch, ///< record size != numel * itemsize (CVE-2026-24747)
  storage_dtype_conflict,///< one storage key used with two different dtypes or sizes
  bad_rebuild_args,      ///< arguments of a _rebuild_* call or torch constructor are malformed
  bad_dtype,             ///< unknown dtype
  bad_device,            ///< location / device string torch would not parse
  tensor_bad_geometry,   ///< negative size, stride or offset; too many dims; numel overflow
  tensor_out_of_bounds,  ///< a view reaches past the end of its storage
  unsupported_feature,   ///< well-formed but not read: nested tensors, dtype conversion on load, ...
  // ---- API usage -------------------------------------------------------------------------
  not_found,             ///< no value at that key path
  type_mismatch,         ///< asked a value or tensor for the wrong type / element type
  invalid_state,         ///< the object already failed and refuses further use
  // ---- added after 0.1 (append only: values are stable) -------------------------------------
  zip_gap,               ///< unaccounted bytes between records (room for a hidden record)
  legacy_bad_header,     ///< legacy stream: magic, protocol or sys_info pickle is not what torch writes
  legacy_bad_storage_list, ///< legacy stream: key list or size-prefixed storage data inconsistent
  mmap_copy_refused,     ///< load_options::refuse_copy_in_mmap and a storage cannot be mapped zero-copy
  sparse_invalid,        ///< a sparse tensor breaks an invariant torch checks (CVE-2025-62164)
  quantizer_invalid,     ///< quantizer parameters torch would refuse (axis, lengths, dtypes, qscheme)
  zip_eocd_in_comment,   ///< an EOCD signature inside the archive comment (a second archive torch/zipfile would read)
  zip_ambiguous_eocd,    ///< another EOCD record in the searched tail that a reader could choose
  torchscript_code,      ///< a code/ record (any case): TorchScript source that torch.jit.load compiles and runs
  bad_storage_alignment_record, ///< .storage_alignment is not what torch >= 2.7's int() accepts (every load fails)
  /// a saved tensor state (_rebuild_from_type_v2, _rebuild_parameter_with_state) sets an attribute
  /// torch's Tensor class defines (a property, descriptor or method) that pthsafe does not interpret
  tensor_state_refused,
  /// a BUILD state on an OrderedDict or Counter sets an attribute the class defines (`keys`,
  /// `items`, `values`, ...: the mapping then shows other contents than iteration) or a dunder
  object_state_refused,
  /// bytes follow STOP inside the FRAME open at STOP: CPython's unpickler skips them or not,
  /// depending on the frame's size and the file object, so the next pickle has two starts
  pickle_stop_inside_frame,
  /// a storage record is deflated: torch.load inflates it, torch.load(mmap=True) reads its
  /// compressed bytes as the tensor (two torch read modes, two sets of weights)
  storage_deflated,
  /// under strict_torch: a global pthsafe decodes beyond torch's allowlist (TorchVersion, numpy
  /// scalars and arrays), which torch.load(weights_only=True) refuses
  pickle_global_not_torch,
  /// a numpy dtype pthsafe does not decode as data (object, structured, string, datetime, ...)
  numpy_dtype_refused,
  /// two state_dict names are equal once a prefix is stripped (find_state_dict)
  state_dict_key_collision,
  /// writing the output failed (open, write, flush, rename): the message names the system error
  io_write,
  /// save: a value or tensor the writer cannot express as torch.save would (the message names it)
  save_unsupported,
  /// save: a tensor reaches outside its storage, a storage is not a whole number of elements,
  /// or one storage is viewed as two dtypes (torch.save refuses that too)
  save_bad_tensor,
  /// save: a dict holds the same key twice (Python would keep one of them)
  save_duplicate_key,
  /// a written file read back differs from what was saved (verify_saved)
  save_verify_mismatch,
  /// text that is not RFC 8259 JSON (syntax, escapes, UTF-8, an integer beyond int64, trailing bytes)
  json_malformed,
  /// a JSON object repeats a key (readers disagree which value wins)
  json_duplicate_key,
  /// a safetensors header breaks a rule of the safetensors crate (length, layout, fields, shapes)
  safetensors_bad_header,
  /// safetensors data_offsets out of order, overlapping, leaving gaps or not covering the data
  safetensors_bad_offsets,
  /// a safetensors dtype pthsafe has no element type for
  safetensors_bad_dtype,
  /// a match manifest is not {"name": {"dtype": "...", "shape": [...]}, ...}
  manifest_invalid,
  /// load_into: a destination does not fit its tensor (name, shape, dtype pair or buffer size)
  destination_mismatch,
  /// convert: an output extension naming no format pthsafe writes (.pth/.pt/.bin/.ckpt, .safetensors)
  convert_format_unknown,
  /// a sharded checkpoint's index or shards break a rule (sharded_state_dict::open names it)
  shard_index_invalid,
  // ---- device loading (pthsafe/cuda.hpp) ----------------------------------------------------
  /// a device load was asked of a pthsafe built without the CUDA backend (PTHSAFE_CUDA=OFF)
  cuda_not_built,
  /// the target device does not exist: no CUDA device, or an index past the device count
  cuda_no_device,
  /// a map_location (string, table entry or callback result) is not a device pthsafe can load to
  cuda_bad_map_location,
  /// a CUDA runtime call failed: the message names the call and the CUDA error (cudaError...)
  cuda_error,
  /// DLPack export of a tensor whose dtype DLPack cannot describe (the message names it)
  dlpack_unsupported_dtype,
};

/// Stable snake_case name of a code (e.g. "pickle_global_refused"); never empty.
PTHSAFE_API std::string_view errc_name(errc code) noexcept;
/// One-line description of what the code means.
PTHSAFE_API std::string_view errc_description(errc code) noexcept;
/// The class of a code (how CLI and scan judge it).
PTHSAFE_API error_class classify(errc code) noexcept;

/// A failure: what, where (record name, byte offset) and a human message.
struct PTHSAFE_API error {
  errc code = errc::ok;
  std::string record;         ///< archive record ("model/data.pkl"), or "" for the file itself
  std::uint64_t offset = 0;   ///< byte offset within `record` (or the file when record is "")
  std::string message;        ///< one line, no trailing newline

  /// "record@offset: name: message" - the single line the CLI prints. `record` and `message`
  /// quote the file, so they are escaped for a terminal: control characters, bidirectional
  /// controls and bytes that are not UTF-8 as `\x1b` / `\u202e`, a backslash as `\\`.
  std::string to_string() const;
};

/// Thrown by result<T>'s value(), operator* and operator-> when it holds an error (error()
/// is that error), and by error_value() when it holds a value (error() is then a default
/// error, code errc::ok). A programming error: test has_value() (or operator bool) first.
class PTHSAFE_API bad_result_access : public std::logic_error {
 public:
  explicit bad_result_access(pthsafe::error e);
  ~bad_result_access() override;  // out of line: the library holds the vtable and typeinfo
  const pthsafe::error& error() const noexcept { return e_; }

 private:
  pthsafe::error e_;
};

/// Thrown when a call's documented precondition does not hold (a programming error, never a
/// property of the file: a file that loads satisfies every invariant the views promise).
/// what() names the call and the rule: "tensor_view::storage(): requires has_storage()".
class PTHSAFE_API precondition_error : public std::logic_error {
 public:
  explicit precondition_error(const char* rule);
  ~precondition_error() override;  // out of line: the library holds the vtable and typeinfo
};

namespace detail {
// Inline (not exported): the classes they throw carry the ABI.
[[noreturn]] inline void throw_bad_result_access(const error* e) { throw bad_result_access(e ? *e : error{}); }
[[noreturn]] inline void throw_precondition(const char* rule) { throw precondition_error(rule); }
// Out of line and cold: a result's destructor is then one inline test of its pointer (with a
// std::unique_ptr<error>, GCC called ~unique_ptr out of line on every result of the pickle
// machine's success path: 32 M of many.pth's 1,300 M instructions, bench/NOTES.md 45).
[[gnu::noinline, gnu::cold]] inline void delete_error(error* e) noexcept { delete e; }
/// Checks a precondition: throws precondition_error(rule) when `ok` is false.
inline void require(bool ok, const char* rule) {
  if (!ok) [[unlikely]] throw_precondition(rule);
}
}  // namespace detail

/// Either a T or an error. [[nodiscard]] so a failure cannot be silently dropped.
///
/// Access is checked: value(), operator* and operator-> on an error throw bad_result_access
/// (carrying the error), error_value() on a value likewise. References into a result live as
/// long as the result, so no accessor hands one out from a temporary: operator* and
/// operator-> on an rvalue are deleted (`open(p)->root()` does not compile), and value() on an
/// rvalue moves the T out and returns it by value (`open(p).value()` is a checkpoint, not a
/// reference into a dying result).
template <class T>
class [[nodiscard]] result {
 public:
  result(T v) { ::new (static_cast<void*>(&v_)) T(std::move(v)); }         // NOLINT: implicit
  result(error e) : e_(new error(std::move(e))) {}                        // NOLINT: implicit
  result(const result& o) { construct_from(o); }
  result(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) { construct_from(std::move(o)); }
  result& operator=(const result& o) {
    if (this != &o) {
      result copy(o);
      destroy();
      construct_from(std::move(copy));
    }
    return *this;
  }
  result& operator=(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &o) {
      destroy();
      construct_from(std::move(o));
    }
    return *this;
  }
  ~result() { destroy(); }
  bool has_value() const noexcept { return !e_; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; throws bad_result_access when this holds an error.
  T& value() & { check_value(); return v_; }
  const T& value() const& { check_value(); return v_; }
  /// Moves the value out (safe on a temporary: the caller owns what it gets).
  T value() && { check_value(); return std::move(v_); }
  T value() const&& = delete;

  /// As value(); only on an lvalue (a pointer into a temporary result would dangle).
  T* operator->() & { check_value(); return &v_; }
  const T* operator->() const& { check_value(); return &v_; }
  T* operator->() && = delete;
  const T* operator->() const&& = delete;
  T& operator*() & { check_value(); return v_; }
  const T& operator*() const& { check_value(); return v_; }
  T& operator*() && = delete;
  const T& operator*() const&& = delete;

  /// The error; throws bad_result_access when this holds a value.
  const error& error_value() const& { check_error(); return *e_; }
  error error_value() && { check_error(); return std::move(*e_); }
  error error_value() const&& = delete;
  errc code() const noexcept { return e_ ? e_->code : errc::ok; }

 private:
  void check_value() const {
    if (e_) [[unlikely]] detail::throw_bad_result_access(e_);
  }
  void check_error() const {
    if (!e_) [[unlikely]] detail::throw_bad_result_access(nullptr);
  }
  // A result holds its T or, behind one pointer, its error: the success path (every step of a
  // 3,000,000-opcode pickle) builds no variant and no error, and a result<value*> is two
  // words (bench/NOTES.md 41). A moved-from result keeps its state, its T or error moved from.
  void destroy() noexcept {
    if (!e_) v_.~T();
    else [[unlikely]] detail::delete_error(e_);
    e_ = nullptr;
  }
  template <class R>
  void construct_from(R&& o) {
    if (o.e_) e_ = new error(std::forward<R>(o).e_ref());
    else ::new (static_cast<void*>(&v_)) T(std::forward<R>(o).v_ref());
  }
  const error& e_ref() const& { return *e_; }
  error&& e_ref() && { return std::move(*e_); }
  const T& v_ref() const& { return v_; }
  T&& v_ref() && { return std::move(v_); }
  template <class> friend class result;
  union {
    T v_;
  };
  error* e_ = nullptr;  // owned; a raw pointer so that ~result is one inline test (below)
};

/// result<void>: success or an error. Success is a null pointer: the error lives on the heap
/// only when there is one, so the success path (every step of a 3,000,000-opcode pickle)
/// constructs and destroys no strings (bench/NOTES.md 35).
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error e) : e_(new error(std::move(e))) {}  // NOLINT: implicit
  result(const result& o) : e_(o.e_ ? new error(*o.e_) : nullptr) {}
  result(result&& o) noexcept : e_(o.e_) { o.e_ = nullptr; }
  result& operator=(const result& o) {
    if (this != &o) {
      error* copy = o.e_ ? new error(*o.e_) : nullptr;
      reset(copy);
    }
    return *this;
  }
  result& operator=(result&& o) noexcept {
    if (this != &o) {
      reset(o.e_);
      o.e_ = nullptr;
    }
    return *this;
  }
  ~result() { reset(nullptr); }
  bool has_value() const noexcept { return !e_; }
  explicit operator bool() const noexcept { return !e_; }
  /// Nothing to return; throws bad_result_access when this holds an error.
  void value() const {
    if (e_) [[unlikely]] detail::throw_bad_result_access(e_);
  }
  /// The error; throws bad_result_access on success.
  const error& error_value() const& { check_error(); return *e_; }
  error error_value() && { check_error(); return std::move(*e_); }
  error error_value() const&& = delete;
  errc code() const noexcept { return e_ ? e_->code : errc::ok; }

 private:
  void check_error() const {
    if (!e_) [[unlikely]] detail::throw_bad_result_access(nullptr);
  }
  void reset(error* e) noexcept {
    if (e_) [[unlikely]] detail::delete_error(e_);
    e_ = e;
  }
  error* e_ = nullptr;  // owned; null on success
};

/// Builds an error value (convenience for implementations and tests).
inline error make_error(errc code, std::string message, std::string record = {},
                        std::uint64_t offset = 0) {
  return error{code, std::move(record), offset, std::move(message)};
}

}  // namespace pthsafe
