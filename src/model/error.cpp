// Generated once from the errc list in include/pthsafe/error.hpp; keep the order in step.
#include "pthsafe/error.hpp"

#include <array>

#include "util/escape.hpp"

namespace pthsafe {
namespace {
struct errc_info { std::string_view name; error_class cls; std::string_view description; };
constexpr std::array<errc_info, 99> table{{
    {"ok", error_class::usage, "no error"},
    {"io_open", error_class::io, "the file could not be opened or stat'ed"},
    {"io_read", error_class::io, "a read or mmap failed"},
    {"not_a_checkpoint", error_class::malformed, "neither a zip (PK\\3\\4 at offset 0), nor a pickle, nor legacy magic"},
    {"preview_archive", error_class::refused, "starts with \"PYTORCH1\": the pre-1.0 preview format torch refuses"},
    {"tar_format", error_class::refused, "pre-0.1.10 tar checkpoint: refused, torch >= 2.6 refuses it too"},
    {"legacy_format", error_class::unsupported, "no longer returned: 0.1.10-1.5 stacked-pickle files are read (kept: values are stable)"},
    {"torchscript_archive", error_class::refused, "zip holding constants.pkl: TorchScript, refused unless asked for"},
    {"zip_no_eocd", error_class::malformed, "no end-of-central-directory record where one must be"},
    {"zip_bad_eocd", error_class::malformed, "EOCD / zip64 EOCD / locator inconsistent (counts, sizes, offsets)"},
    {"zip_bad_central_entry", error_class::malformed, "a central directory entry is truncated or lies"},
    {"zip_libzip_rejected", error_class::malformed, "libzip, the parser of record, refused the archive"},
    {"zip_parser_disagree", error_class::malformed, "libzip and the strict walk disagree about an entry"},
    {"zip_local_header", error_class::malformed, "local header missing, or disagrees with the central directory"},
    {"zip_duplicate_name", error_class::malformed, "two entries with the same name"},
    {"zip_bad_name", error_class::malformed, "'..', absolute path, backslash, NUL or empty component in a name"},
    {"zip_multiple_roots", error_class::malformed, "entries under more than one top folder"},
    {"zip_no_root_folder", error_class::malformed, "first entry is not inside a folder (torch: \"not in a subdirectory\")"},
    {"zip_overlap", error_class::malformed, "two records' bytes overlap"},
    {"zip_out_of_bounds", error_class::malformed, "a record extends past the end of the file or into the directory"},
    {"zip_trailing_data", error_class::malformed, "bytes after the end-of-central-directory record (polyglot)"},
    {"zip_unsupported_flags", error_class::malformed, "encryption, patched data or other general-purpose flags"},
    {"zip_unsupported_method", error_class::malformed, "compression other than stored (0) or deflate (8)"},
    {"zip_crc_mismatch", error_class::malformed, "a record's CRC-32 does not match its bytes"},
    {"zip_inflate_failed", error_class::malformed, "deflate stream corrupt or its size disagrees with the directory"},
    {"zip_too_many_entries", error_class::malformed, "limit: max_zip_entries"},
    {"zip_inflate_limit", error_class::malformed, "limit: max_inflated_bytes or max_compression_ratio (deflate bomb)"},
    {"missing_record", error_class::malformed, "a record torch requires (data.pkl, version, data/<key>) is absent"},
    {"bad_version_record", error_class::malformed, "version record not a decimal in torch's supported range"},
    {"bad_byteorder_record", error_class::malformed, "byteorder record is neither \"little\" nor \"big\""},
    {"pickle_truncated", error_class::malformed, "the stream ends inside an opcode or before STOP"},
    {"pickle_unknown_opcode", error_class::malformed, "a byte that is no pickle opcode"},
    {"pickle_opcode_refused", error_class::refused, "an opcode the policy always refuses (INST, OBJ, EXT*, PERSID, ...)"},
    {"pickle_opcode_not_torch", error_class::refused, "strict-torch mode: an opcode torch's weights_only refuses"},
    {"pickle_stack_underflow", error_class::malformed, "pop from an empty stack"},
    {"pickle_no_mark", error_class::malformed, "an opcode needing a MARK found none"},
    {"pickle_pending_mark", error_class::malformed, "STOP with an unclosed MARK or values left on the stack"},
    {"pickle_memo_missing", error_class::malformed, "GET of a memo index that was never PUT"},
    {"pickle_bad_operand", error_class::malformed, "wrong type or value for an opcode (e.g. APPEND to a dict)"},
    {"pickle_bad_text", error_class::malformed, "invalid UTF-8, or malformed text operand (INT, FLOAT, GLOBAL line)"},
    {"pickle_trailing_data", error_class::malformed, "bytes after STOP"},
    {"pickle_global_refused", error_class::refused, "GLOBAL/STACK_GLOBAL outside the allowlist"},
    {"pickle_global_blocked", error_class::refused, "GLOBAL from sys/os/posix/nt: refused even when a caller allows it"},
    {"pickle_call_refused", error_class::refused, "REDUCE/NEWOBJ on something that is not an allowed callable"},
    {"pickle_build_refused", error_class::refused, "BUILD on something other than Tensor, Parameter, OrderedDict"},
    {"pickle_setitem_refused", error_class::refused, "SETITEM(S) on a non-dict (CVE-2026-24747)"},
    {"pickle_append_refused", error_class::refused, "APPEND(S) on a non-list"},
    {"pickle_persid_refused", error_class::refused, "a persistent id that is not ('storage', ...)"},
    {"pickle_cycle", error_class::malformed, "a container contains itself"},
    {"limit_exceeded", error_class::malformed, "one of the load_options limits; the message names it"},
    {"bad_persistent_id", error_class::malformed, "storage persistent id of the wrong shape or types"},
    {"bad_storage_type", error_class::malformed, "storage class is not a known torch storage"},
    {"storage_size_mismatch", error_class::malformed, "record size != numel * itemsize (CVE-2026-24747)"},
    {"storage_dtype_conflict", error_class::malformed, "one storage key used with two different dtypes or sizes"},
    {"bad_rebuild_args", error_class::malformed, "arguments of a _rebuild_* call or torch constructor are malformed"},
    {"bad_dtype", error_class::malformed, "unknown dtype"},
    {"bad_device", error_class::malformed, "location / device string torch would not parse"},
    {"tensor_bad_geometry", error_class::malformed, "negative size, stride or offset; too many dims; numel overflow"},
    {"tensor_out_of_bounds", error_class::malformed, "a view reaches past the end of its storage"},
    {"unsupported_feature", error_class::unsupported, "well-formed but not read: nested tensors, dtype conversion on load, ..."},
    {"not_found", error_class::usage, "no value at that key path"},
    {"type_mismatch", error_class::usage, "asked a value or tensor for the wrong type / element type"},
    {"invalid_state", error_class::usage, "the object already failed and refuses further use"},
    {"zip_gap", error_class::malformed, "unaccounted bytes between records (room for a hidden record)"},
    {"legacy_bad_header", error_class::malformed, "legacy stream: magic, protocol or sys_info pickle is not what torch writes"},
    {"legacy_bad_storage_list", error_class::malformed, "legacy stream: key list or size-prefixed storage data inconsistent"},
    {"mmap_copy_refused", error_class::usage, "load_options::refuse_copy_in_mmap and a storage cannot be mapped zero-copy"},
    {"sparse_invalid", error_class::malformed, "a sparse tensor breaks an invariant torch checks (CVE-2025-62164)"},
    {"quantizer_invalid", error_class::malformed, "quantizer parameters torch would refuse (axis, lengths, dtypes, qscheme)"},
    {"zip_eocd_in_comment", error_class::malformed, "an EOCD signature inside the archive comment (a second archive torch/zipfile would read)"},
    {"zip_ambiguous_eocd", error_class::malformed, "another EOCD record in the searched tail that a reader could choose"},
    {"torchscript_code", error_class::refused, "a code/ record (any case): TorchScript source that torch.jit.load compiles and runs"},
    {"bad_storage_alignment_record", error_class::malformed, ".storage_alignment is not what torch >= 2.7's int() accepts (every load fails)"},
    {"tensor_state_refused", error_class::refused, "a saved tensor state sets an attribute of torch's Tensor class that pthsafe does not interpret"},
    {"object_state_refused", error_class::refused, "a BUILD state on an OrderedDict or Counter sets an attribute its class defines (shadows keys/items/values) or a dunder"},
    {"pickle_stop_inside_frame", error_class::malformed, "bytes after STOP inside its FRAME: the next pickle starts there or at the frame's end, by reader"},
    {"storage_deflated", error_class::malformed, "deflated storage record: torch.load(mmap=True) reads its compressed bytes"},
    {"pickle_global_not_torch", error_class::refused, "global beyond torch's weights_only allowlist (strict_torch)"},
    {"numpy_dtype_refused", error_class::refused, "numpy dtype that is not plain numeric data"},
    {"state_dict_key_collision", error_class::usage, "two state_dict names are equal after stripping a prefix"},
    {"io_write", error_class::io, "writing the output failed"},
    {"save_unsupported", error_class::usage, "a value the writer cannot express as torch.save would"},
    {"save_bad_tensor", error_class::usage, "a tensor to save reaches outside its storage or views it as two dtypes"},
    {"save_duplicate_key", error_class::usage, "a dict to save holds the same key twice"},
    {"save_verify_mismatch", error_class::malformed, "a written file read back differs from what was saved"},
    {"json_malformed", error_class::malformed, "not RFC 8259 JSON (syntax, escape, UTF-8, integer range or trailing bytes)"},
    {"json_duplicate_key", error_class::malformed, "a JSON object repeats a key"},
    {"safetensors_bad_header", error_class::malformed, "a safetensors header the safetensors crate would refuse"},
    {"safetensors_bad_offsets", error_class::malformed, "safetensors data_offsets out of order, overlapping, with gaps or not covering the data"},
    {"safetensors_bad_dtype", error_class::unsupported, "a safetensors dtype with no pthsafe element type"},
    {"manifest_invalid", error_class::usage, "a match manifest that is not {name: {dtype, shape}}"},
    {"destination_mismatch", error_class::usage, "a load_into destination does not fit its tensor"},
    {"convert_format_unknown", error_class::usage, "an output extension naming no format convert writes"},
    {"shard_index_invalid", error_class::malformed, "a sharded checkpoint's index and shards disagree or the index is malformed"},
    {"cuda_not_built", error_class::unsupported, "device load asked of a pthsafe built without the CUDA backend"},
    {"cuda_no_device", error_class::usage, "no CUDA device: the target device does not exist (none, or index past the count)"},
    {"cuda_bad_map_location", error_class::usage, "map_location names no device pthsafe can load to"},
    {"cuda_error", error_class::io, "a CUDA runtime call failed (the message names the call and the CUDA error)"},
    {"dlpack_unsupported_dtype", error_class::unsupported, "DLPack cannot describe the tensor's dtype"},
}};
static_assert(static_cast<std::size_t>(errc::dlpack_unsupported_dtype) + 1 == table.size(), "errc table out of step");
}  // namespace

std::string_view errc_name(errc c) noexcept {
  const auto i = static_cast<std::size_t>(c);
  return i < table.size() ? table[i].name : std::string_view("unknown_error");
}
std::string_view errc_description(errc c) noexcept {
  const auto i = static_cast<std::size_t>(c);
  return i < table.size() ? table[i].description : std::string_view("unknown error");
}
error_class classify(errc c) noexcept {
  const auto i = static_cast<std::size_t>(c);
  return i < table.size() ? table[i].cls : error_class::malformed;
}

// record and message quote the file (names, GLOBAL operands): escaped for a terminal.
std::string error::to_string() const {
  std::string s;
  if (!record.empty()) detail::append_text_escaped(s, record);
  if (!record.empty() || offset) s += "@" + std::to_string(offset) + ": ";
  s += errc_name(code);
  if (!message.empty()) {
    s += ": ";
    detail::append_text_escaped(s, message);
  }
  return s;
}

namespace {
std::string bad_access_what(const error& e) {
  if (e.code == errc::ok) return "result::error_value(): requires !has_value()";
  return "result::value(): requires has_value(); holds " + e.to_string();
}
}  // namespace

bad_result_access::bad_result_access(pthsafe::error e) : std::logic_error(bad_access_what(e)), e_(std::move(e)) {}
bad_result_access::~bad_result_access() = default;
precondition_error::precondition_error(const char* rule) : std::logic_error(rule) {}
precondition_error::~precondition_error() = default;

}  // namespace pthsafe
