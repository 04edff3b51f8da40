// The catalogue of corrupt inputs (STYLE.md item 8): one enum value per kind of bad file, each
// built in memory from a valid torch-style checkpoint by changing one thing, and the exact errc
// checkpoint::open_buffer must return for it. scan_buffer must agree: unsafe for the
// error_class::refused codes, malformed for every other code.
//
// Each case is listed once in `catalogue` (its expected code, and what else to check), and built
// once in `make()`. A case whose error only the placement of storage bytes can raise (a storage
// CRC checked on request, a copy refused in mmap mode) is marked scan::safe: a scan runs in
// load_mode::metadata and places nothing, so it calls that file safe. A few cases are
// marked scan::unsafe: the gate looks past the first error and finds something refused (each row
// says what).
//
// PTHSAFE_CATALOGUE_PRINT=1 prints every case's error line (a review aid).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <new>
#include <sstream>
#include <string>

#include "pthsafe/pthsafe.hpp"
#include "support/allocation_probe.hpp"
#include "support/pickle_builder.hpp"
#include "zip/archive.hpp"

using namespace pthsafe_test;
using pthsafe::errc;
using namespace std::string_view_literals;

namespace {

enum class corruption {
  // ---- container detection -------------------------------------------------------------------
  empty_file,
  not_a_checkpoint,
  preview_archive,
  tar_format,
  tar_v7_no_magic,
  tar_v7_signed_checksum,
  tar_v7_base256_checksum,
  tar_zero_first_block,
  legacy_bad_header,
  legacy_magic_frame_past_stop,
  flatbuffer_module,
  legacy_magic_no_proto_bad_header,
  legacy_magic_text_long_bad_header,
  unclassified_then_payload,
  torchscript_archive,
  torchscript_constants_upper_case,
  torchscript_code_record,
  torchscript_code_record_upper_case,
  // ---- end records ---------------------------------------------------------------------------
  eocd_missing,
  file_shorter_than_eocd,
  eocd_trailing_bytes,
  eocd_comment_overruns_file,
  eocd_other_disk,
  eocd_disk_count_differs,
  eocd_count_disagrees_with_zip64,
  eocd_count_too_small,
  eocd_count_one_too_large,
  eocd_count_impossible,
  eocd_sentinel_without_zip64,
  eocd_cd_offset_lies,
  eocd_cd_size_lies,
  gap_after_central_directory,
  zip64_locator_offset_lies,
  zip64_locator_other_disk,
  zip64_locator_total_disks,
  zip64_record_bad_signature,
  zip64_record_size_lies,
  zip64_record_other_disk,
  zip64_count_disagrees,
  zip64_cd_offset_lies,
  zip64_count_impossible,
  bytes_before_first_record,
  eocd_signature_in_comment,
  eocd_archive_in_comment,
  eocd_second_candidate_in_record,
  zip64_locator_zero_disks,
  zip64_record_extensible_data,
  // ---- central directory ---------------------------------------------------------------------
  central_bad_signature,
  central_name_overruns_directory,
  central_malformed_extra,
  central_extra_overruns_entry,
  central_zip64_sentinel_without_extra,
  central_zip64_extra_too_short,
  central_two_zip64_extras,
  central_other_disk,
  stored_sizes_differ,
  too_many_entries,
  // ---- local headers and record placement ----------------------------------------------------
  local_offset_past_directory,
  local_bad_signature,
  local_name_differs,
  local_method_differs,
  local_flags_differ,
  local_crc_differs,
  local_size_differs,
  local_descriptor_crc_differs,
  descriptor_size_differs,
  local_extra_overruns_file,
  record_reaches_directory,
  records_overlap,
  gap_between_records,
  gap_before_central_directory,
  hidden_record_between_records,
  record_listed_twice,
  flags_encrypted,
  flags_strong_encryption,
  flags_patched_data,
  flags_masked_header,
  method_bzip2,
  method_lzma,
  libzip_rejects_local_extra,
  // ---- names ---------------------------------------------------------------------------------
  name_dotdot,
  name_absolute,
  name_backslash,
  name_nul,
  name_empty_component,
  name_dot_component,
  name_drive_letter,
  name_empty,
  duplicate_name,
  duplicate_name_case_only,
  name_utf8_flag_mixed,
  directory_attr_with_data,
  directory_name_with_data,
  multiple_roots,
  no_root_folder,
  no_entries,
  // ---- records -------------------------------------------------------------------------------
  crc_mismatch_data_pkl,
  crc_mismatch_deflated_data_pkl,
  crc_mismatch_storage_verified,
  mmap_copy_refused_deflated,
  inflate_ratio_storage_small_limit,
  inflate_ratio_storage_default_limit,
  inflate_size_storage,
  inflate_ratio_data_pkl,
  inflate_corrupt_data_pkl,
  missing_data_pkl,
  missing_version,
  missing_storage_record,
  version_not_decimal,
  version_zero,
  version_too_new,
  version_empty,
  version_out_of_range,
  version_sign_without_digits,
  version_upper_case_dot_data_preferred,
  dot_data_version_preferred,
  byteorder_unknown,
  byteorder_with_newline,
  byteorder_uppercase,
  byteorder_record_name_upper_case,
  storage_alignment_not_int,
  storage_alignment_name_upper_case,
  data_pkl_name_upper_case,
  // ---- pickle stream -------------------------------------------------------------------------
  pickle_empty,
  pickle_truncated_before_stop,
  pickle_truncated_in_operand,
  pickle_unknown_opcode,
  pickle_unknown_opcode_zero,
  pickle_protocol_6,
  opcode_inst,
  opcode_obj,
  opcode_ext1,
  opcode_ext2,
  opcode_ext4,
  opcode_persid,
  opcode_newobj_ex,
  opcode_next_buffer,
  opcode_readonly_buffer,
  stack_underflow_tuple1,
  stack_underflow_stop,
  stack_underflow_below_mark,
  no_mark_tuple,
  no_mark_setitems,
  memo_missing_binget,
  memo_missing_long_binget,
  global_builtins_eval,
  global_torch_load,
  global_py2_builtin_eval,
  global_attribute_walk,
  global_stack_global_exec,
  global_os_system,
  global_posix_system,
  global_nt_system,
  global_sys_modules,
  global_os_system_allowed_by_caller,
  global_stack_global_os_system,
  call_reduce_on_dtype,
  call_reduce_on_string,
  call_newobj_on_device,
  call_reduce_on_typed_storage,
  build_on_plain_dict,
  build_on_list,
  setitem_on_list,
  setitems_on_tuple,
  setitem_on_tensor,
  append_on_dict,
  appends_on_tuple,
  persid_not_a_tuple,
  persid_not_storage,
  cycle_list_in_itself,
  cycle_dict_in_itself,
  limit_mark_depth,
  limit_memo_entries,
  limit_string_bytes,
  limit_nesting_depth,
  limit_tree_bytes,
  limit_stack_items,
  limit_int_bytes,
  limit_container_items,
  limit_tensors,
  limit_dims,
  limit_dims_record,
  limit_pickle_bytes,
  pickle_trailing_data,
  pickle_frame_past_stop,
  legacy_sys_info_frame_past_stop,
  strict_short_binunicode,
  strict_memoize,
  strict_frame,
  bad_text_global_utf8,
  bad_text_binunicode_utf8,
  bad_text_int_leading_zero,
  bad_operand_unhashable_key,
  bad_operand_frame_straddle,
  bad_operand_reduce_args,
  bad_operand_stack_global_types,
  // ---- torch objects -------------------------------------------------------------------------
  persid_four_items,
  persid_negative_numel,
  persid_float_key,
  persid_numel_overflow,
  storage_type_is_dtype,
  storage_type_is_not_storage,
  storage_numel_larger_than_record,
  storage_numel_smaller_than_record,
  storage_two_dtypes,
  storage_two_sizes,
  bare_pickle_persistent_id,
  rebuild_wrong_arg_count,
  rebuild_storage_not_storage,
  rebuild_v3_unknown_dtype,
  geometry_negative_size,
  geometry_negative_stride,
  geometry_negative_offset,
  geometry_numel_overflow,
  geometry_numel_over_int64,
  geometry_dims_differ,
  bounds_offset_past_end,
  bounds_stride_past_end,
  bounds_huge_stride_overflow,
  bounds_one_element_short,
  rebuild_qtensor_no_args,
  rebuild_sparse_no_args,
  unsupported_tensor_metadata,
  unsupported_codecs_errors,
  unsupported_ordered_dict_from_str,
  device_bad_index,
  device_uppercase,
  device_leading_zero,
  device_call_bad,
  // ---- torch semantics of rebuild calls and storage keys (issues 9 and 16) ----------------------
  storage_key_int_and_str,
  legacy_key_list_other_type,
  legacy_int_key_unlisted,
  state_requires_grad_on_int,
  state_requires_grad_not_bool,
  state_data_not_tensor,
  state_class_property,
  state_dunder_name,
  state_backward_hooks,
  from_type_v2_to_tensor_class,
  rebuild_v2_requires_grad_on_int,
  rebuild_v2_backward_hooks,
  metadata_conj_on_float,
  metadata_neg_on_bool,
  // ---- states torch applies that a raw reading misses (red team B) ------------------------------
  qtensor_backward_hooks,
  qtensor_requires_grad,
  param_build_backward_hooks,
  param_build_requires_grad_on_int,
  param_build_not_leaf,
  odict_build_shadows_keys,
  odict_build_dunder_name,
  counter_build_shadows_method,
  limit_tree_bytes_bytearray_n,
  limit_tree_bytes_size_copies,
  limit_tree_bytes_ordered_dict_copies,
  limit_tree_bytes_set_copies,
  limit_tree_bytes_bytearray_copies,
  limit_tree_bytes_attrs,
  // ---- numpy data beyond torch's allowlist (docs/policy.md) ----------------------------------
  numpy_array_bytes_mismatch,
  numpy_array_shape_overflow,
  numpy_dtype_object,
  numpy_dtype_wrong_args,
  numpy_dtype_structured_state,
  limit_tree_bytes_numpy_copies,
  count_
};

/// What scan_buffer must say about a case.
enum class scan : std::uint8_t {
  by_class,   ///< unsafe for an error_class::refused code, malformed for any other
  safe,       ///< only a load that places storages can notice the error (scans read no storage bytes)
  unsafe,     ///< the gate finds something refused beyond the first error (see the row's comment)
  deflated,   ///< malformed as storage_deflated: the scan reads no storage bytes, but a deflated storage is malformed
};

struct case_def {
  corruption id;
  const char* name;
  errc expected;
  scan scan_says = scan::by_class;
  const char* message_has = "";   ///< a substring the message must contain (names the limit)
};

#define CASE(id, code, ...) case_def{corruption::id, #id, errc::code __VA_OPT__(, ) __VA_ARGS__}
constexpr case_def catalogue[] = {
    CASE(empty_file, not_a_checkpoint),
    CASE(not_a_checkpoint, not_a_checkpoint),
    CASE(preview_archive, preview_archive),
    CASE(tar_format, tar_format),
    CASE(tar_v7_no_magic, tar_format),
    CASE(tar_v7_signed_checksum, tar_format),
    CASE(tar_v7_base256_checksum, tar_format),
    CASE(tar_zero_first_block, tar_format),
    CASE(legacy_bad_header, legacy_bad_header),
    // The magic pickle's FRAME runs past its STOP: not the magic to pthsafe, so a bare pickle
    // whose STOP lies inside its frame.
    CASE(legacy_magic_frame_past_stop, pickle_stop_inside_frame),
    // 'PTMF' at offset 4: torch.jit.load reads a flatbuffer module (unsafe to the gate).
    CASE(flatbuffer_module, torchscript_archive),
    CASE(legacy_magic_no_proto_bad_header, legacy_bad_header),
    CASE(legacy_magic_text_long_bad_header, legacy_bad_header),
    // 0x8a (LONG1 5) starts no pickle a pickler writes: not a checkpoint; the gate still reads
    // the pickles after it and finds os.system.
    CASE(unclassified_then_payload, not_a_checkpoint, scan::unsafe),
    CASE(torchscript_archive, torchscript_archive),
    CASE(torchscript_constants_upper_case, torchscript_archive),
    CASE(torchscript_code_record, torchscript_code),
    CASE(torchscript_code_record_upper_case, torchscript_code),
    CASE(eocd_missing, zip_no_eocd),
    CASE(file_shorter_than_eocd, zip_no_eocd),
    CASE(eocd_trailing_bytes, zip_trailing_data),
    CASE(eocd_comment_overruns_file, zip_trailing_data),
    CASE(eocd_other_disk, zip_bad_eocd),
    CASE(eocd_disk_count_differs, zip_bad_eocd),
    CASE(eocd_count_disagrees_with_zip64, zip_bad_eocd),
    CASE(eocd_count_too_small, zip_bad_eocd),
    CASE(eocd_count_one_too_large, zip_bad_central_entry),
    CASE(eocd_count_impossible, zip_bad_eocd),
    CASE(eocd_sentinel_without_zip64, zip_bad_eocd),
    CASE(eocd_cd_offset_lies, zip_bad_eocd),
    CASE(eocd_cd_size_lies, zip_bad_eocd),
    CASE(gap_after_central_directory, zip_bad_eocd),
    CASE(zip64_locator_offset_lies, zip_bad_eocd),
    CASE(zip64_locator_other_disk, zip_bad_eocd),
    CASE(zip64_locator_total_disks, zip_bad_eocd),
    CASE(zip64_record_bad_signature, zip_bad_eocd),
    CASE(zip64_record_size_lies, zip_bad_eocd),
    CASE(zip64_record_other_disk, zip_bad_eocd),
    CASE(zip64_count_disagrees, zip_bad_eocd),
    CASE(zip64_cd_offset_lies, zip_bad_eocd),
    CASE(zip64_count_impossible, zip_bad_eocd),
    CASE(bytes_before_first_record, zip_bad_eocd),
    CASE(eocd_signature_in_comment, zip_eocd_in_comment),
    CASE(eocd_archive_in_comment, zip_eocd_in_comment),
    CASE(eocd_second_candidate_in_record, zip_ambiguous_eocd),
    CASE(zip64_locator_zero_disks, zip_bad_eocd),
    CASE(zip64_record_extensible_data, zip_bad_eocd),
    CASE(central_bad_signature, zip_bad_central_entry),
    CASE(central_name_overruns_directory, zip_bad_central_entry),
    CASE(central_malformed_extra, zip_bad_central_entry),
    CASE(central_extra_overruns_entry, zip_bad_central_entry),
    CASE(central_zip64_sentinel_without_extra, zip_bad_central_entry),
    CASE(central_zip64_extra_too_short, zip_bad_central_entry),
    CASE(central_two_zip64_extras, zip_bad_central_entry),
    CASE(central_other_disk, zip_bad_central_entry),
    CASE(stored_sizes_differ, zip_bad_central_entry),
    CASE(too_many_entries, zip_too_many_entries),
    CASE(local_offset_past_directory, zip_out_of_bounds),
    CASE(local_bad_signature, zip_local_header),
    CASE(local_name_differs, zip_local_header),
    CASE(local_method_differs, zip_local_header),
    CASE(local_flags_differ, zip_local_header),
    CASE(local_crc_differs, zip_local_header),
    CASE(local_size_differs, zip_local_header),
    CASE(local_descriptor_crc_differs, zip_local_header),
    CASE(descriptor_size_differs, zip_local_header),
    CASE(local_extra_overruns_file, zip_out_of_bounds),
    CASE(record_reaches_directory, zip_out_of_bounds),
    // The gate's lenient sweep reads data.pkl 100 bytes long: after its STOP come the data
    // descriptor "PK\7\8..." and the next local header, and 'P' is PERSID to a pickle reader.
    CASE(records_overlap, zip_overlap, scan::unsafe),
    CASE(gap_between_records, zip_gap),
    CASE(gap_before_central_directory, zip_gap),
    // A local record the directory does not list: the gate finds it and judges its pickle.
    CASE(hidden_record_between_records, zip_gap, scan::unsafe),
    CASE(record_listed_twice, zip_overlap),
    CASE(flags_encrypted, zip_unsupported_flags),
    CASE(flags_strong_encryption, zip_unsupported_flags),
    CASE(flags_patched_data, zip_unsupported_flags),
    CASE(flags_masked_header, zip_unsupported_flags),
    CASE(method_bzip2, zip_unsupported_method),
    CASE(method_lzma, zip_unsupported_method),
    CASE(libzip_rejects_local_extra, zip_libzip_rejected),
    CASE(name_dotdot, zip_bad_name),
    CASE(name_absolute, zip_bad_name),
    CASE(name_backslash, zip_bad_name),
    CASE(name_nul, zip_bad_name),
    CASE(name_empty_component, zip_bad_name),
    CASE(name_dot_component, zip_bad_name),
    CASE(name_drive_letter, zip_bad_name),
    CASE(name_empty, zip_bad_name),
    CASE(duplicate_name, zip_duplicate_name),
    CASE(duplicate_name_case_only, zip_duplicate_name),
    CASE(name_utf8_flag_mixed, zip_duplicate_name),
    CASE(directory_attr_with_data, zip_bad_name),
    CASE(directory_name_with_data, zip_bad_name),
    CASE(multiple_roots, zip_multiple_roots),
    CASE(no_root_folder, zip_no_root_folder),
    CASE(no_entries, zip_no_root_folder),
    CASE(crc_mismatch_data_pkl, zip_crc_mismatch),
    CASE(crc_mismatch_deflated_data_pkl, zip_crc_mismatch),
    CASE(crc_mismatch_storage_verified, zip_crc_mismatch, scan::safe),
    CASE(mmap_copy_refused_deflated, mmap_copy_refused, scan::deflated),
    CASE(inflate_ratio_storage_small_limit, zip_inflate_limit, scan::by_class, "max_compression_ratio"),
    CASE(inflate_ratio_storage_default_limit, zip_inflate_limit, scan::by_class, "max_compression_ratio (250)"),
    CASE(inflate_size_storage, zip_inflate_limit, scan::by_class, "max_inflated_bytes"),
    CASE(inflate_ratio_data_pkl, zip_inflate_limit, scan::by_class, "max_compression_ratio"),
    CASE(inflate_corrupt_data_pkl, zip_inflate_failed),
    CASE(missing_data_pkl, missing_record),
    CASE(missing_version, missing_record),
    CASE(missing_storage_record, missing_record),
    CASE(version_not_decimal, bad_version_record),
    CASE(version_zero, bad_version_record),
    CASE(version_too_new, bad_version_record),
    CASE(version_empty, bad_version_record),
    CASE(version_out_of_range, bad_version_record),
    CASE(version_sign_without_digits, bad_version_record),
    CASE(version_upper_case_dot_data_preferred, bad_version_record),
    CASE(dot_data_version_preferred, bad_version_record),
    CASE(byteorder_unknown, bad_byteorder_record),
    CASE(byteorder_with_newline, bad_byteorder_record),
    CASE(byteorder_uppercase, bad_byteorder_record),
    CASE(byteorder_record_name_upper_case, bad_byteorder_record),
    CASE(storage_alignment_not_int, bad_storage_alignment_record),
    CASE(storage_alignment_name_upper_case, bad_storage_alignment_record),
    // The only data.pkl is spelled DATA.PKL: torch (miniz, case-insensitive) runs it.
    CASE(data_pkl_name_upper_case, pickle_global_refused),
    CASE(pickle_empty, pickle_truncated),
    CASE(pickle_truncated_before_stop, pickle_truncated),
    CASE(pickle_truncated_in_operand, pickle_truncated),
    CASE(pickle_unknown_opcode, pickle_unknown_opcode),
    CASE(pickle_unknown_opcode_zero, pickle_unknown_opcode),
    CASE(pickle_protocol_6, pickle_bad_operand),
    CASE(opcode_inst, pickle_opcode_refused),
    CASE(opcode_obj, pickle_opcode_refused),
    CASE(opcode_ext1, pickle_opcode_refused),
    CASE(opcode_ext2, pickle_opcode_refused),
    CASE(opcode_ext4, pickle_opcode_refused),
    CASE(opcode_persid, pickle_opcode_refused),
    CASE(opcode_newobj_ex, pickle_opcode_refused),
    CASE(opcode_next_buffer, pickle_opcode_refused),
    CASE(opcode_readonly_buffer, pickle_opcode_refused),
    CASE(stack_underflow_tuple1, pickle_stack_underflow),
    CASE(stack_underflow_stop, pickle_stack_underflow),
    CASE(stack_underflow_below_mark, pickle_stack_underflow),
    CASE(no_mark_tuple, pickle_no_mark),
    CASE(no_mark_setitems, pickle_no_mark),
    CASE(memo_missing_binget, pickle_memo_missing),
    CASE(memo_missing_long_binget, pickle_memo_missing),
    CASE(global_builtins_eval, pickle_global_refused),
    CASE(global_torch_load, pickle_global_refused),
    CASE(global_py2_builtin_eval, pickle_global_refused, scan::by_class, "builtins.eval"),
    CASE(global_attribute_walk, pickle_global_refused),
    CASE(global_stack_global_exec, pickle_global_refused),
    CASE(global_os_system, pickle_global_blocked),
    CASE(global_posix_system, pickle_global_blocked),
    CASE(global_nt_system, pickle_global_blocked),
    CASE(global_sys_modules, pickle_global_blocked),
    CASE(global_os_system_allowed_by_caller, pickle_global_blocked),
    CASE(global_stack_global_os_system, pickle_global_blocked),
    CASE(call_reduce_on_dtype, pickle_call_refused),
    CASE(call_reduce_on_string, pickle_call_refused),
    CASE(call_newobj_on_device, pickle_call_refused),
    CASE(call_reduce_on_typed_storage, pickle_call_refused),
    CASE(build_on_plain_dict, pickle_build_refused),
    CASE(build_on_list, pickle_build_refused),
    CASE(setitem_on_list, pickle_setitem_refused),
    CASE(setitems_on_tuple, pickle_setitem_refused),
    CASE(setitem_on_tensor, pickle_setitem_refused),
    CASE(append_on_dict, pickle_append_refused),
    CASE(appends_on_tuple, pickle_append_refused),
    CASE(persid_not_a_tuple, pickle_persid_refused),
    CASE(persid_not_storage, pickle_persid_refused),
    CASE(cycle_list_in_itself, pickle_cycle),
    CASE(cycle_dict_in_itself, pickle_cycle),
    CASE(limit_mark_depth, limit_exceeded, scan::by_class, "max_mark_depth"),
    CASE(limit_memo_entries, limit_exceeded, scan::by_class, "max_memo_entries"),
    CASE(limit_string_bytes, limit_exceeded, scan::by_class, "max_string_bytes"),
    CASE(limit_nesting_depth, limit_exceeded, scan::by_class, "max_nesting_depth"),
    CASE(limit_tree_bytes, limit_exceeded, scan::by_class, "max_tree_bytes"),
    CASE(limit_stack_items, limit_exceeded, scan::by_class, "max_stack_items"),
    CASE(limit_int_bytes, limit_exceeded, scan::by_class, "max_int_bytes"),
    CASE(limit_container_items, limit_exceeded, scan::by_class, "max_container_items"),
    CASE(limit_tensors, limit_exceeded, scan::by_class, "max_tensors"),
    CASE(limit_dims, limit_exceeded, scan::by_class, "max_dims"),
    CASE(limit_dims_record, limit_exceeded, scan::by_class, "max_dims"),
    CASE(limit_pickle_bytes, limit_exceeded, scan::by_class, "max_pickle_bytes"),
    CASE(pickle_trailing_data, pickle_trailing_data),
    CASE(pickle_frame_past_stop, pickle_stop_inside_frame),
    CASE(legacy_sys_info_frame_past_stop, pickle_stop_inside_frame),
    CASE(strict_short_binunicode, pickle_opcode_not_torch),
    CASE(strict_memoize, pickle_opcode_not_torch),
    CASE(strict_frame, pickle_opcode_not_torch),
    // After a malformed point the gate walks the remaining opcodes: a GLOBAL it cannot resolve
    // (or a STACK_GLOBAL on non-strings) is a global it cannot allow.
    CASE(bad_text_global_utf8, pickle_bad_text, scan::unsafe),
    CASE(bad_text_binunicode_utf8, pickle_bad_text),
    CASE(bad_text_int_leading_zero, pickle_bad_text),
    CASE(bad_operand_unhashable_key, pickle_bad_operand),
    CASE(bad_operand_frame_straddle, pickle_bad_operand),
    CASE(bad_operand_reduce_args, pickle_bad_operand),
    CASE(bad_operand_stack_global_types, pickle_bad_operand, scan::unsafe),
    CASE(persid_four_items, bad_persistent_id),
    CASE(persid_negative_numel, bad_persistent_id),
    CASE(persid_float_key, bad_persistent_id),
    CASE(persid_numel_overflow, bad_persistent_id),
    CASE(storage_type_is_dtype, bad_storage_type),
    CASE(storage_type_is_not_storage, bad_storage_type),
    CASE(storage_numel_larger_than_record, storage_size_mismatch),
    CASE(storage_numel_smaller_than_record, storage_size_mismatch),
    CASE(storage_two_dtypes, storage_dtype_conflict),
    CASE(storage_two_sizes, storage_dtype_conflict),
    CASE(bare_pickle_persistent_id, missing_record),
    CASE(rebuild_wrong_arg_count, bad_rebuild_args),
    CASE(rebuild_storage_not_storage, bad_rebuild_args),
    CASE(rebuild_v3_unknown_dtype, bad_dtype),
    CASE(geometry_negative_size, tensor_bad_geometry),
    CASE(geometry_negative_stride, tensor_bad_geometry),
    CASE(geometry_negative_offset, tensor_bad_geometry),
    CASE(geometry_numel_overflow, tensor_bad_geometry),
    CASE(geometry_numel_over_int64, tensor_bad_geometry),
    CASE(geometry_dims_differ, tensor_bad_geometry),
    CASE(bounds_offset_past_end, tensor_out_of_bounds),
    CASE(bounds_stride_past_end, tensor_out_of_bounds),
    CASE(bounds_huge_stride_overflow, tensor_out_of_bounds),
    CASE(bounds_one_element_short, tensor_out_of_bounds),
    CASE(rebuild_qtensor_no_args, bad_rebuild_args),
    CASE(rebuild_sparse_no_args, bad_rebuild_args),
    CASE(unsupported_tensor_metadata, unsupported_feature),
    CASE(unsupported_codecs_errors, unsupported_feature),
    CASE(unsupported_ordered_dict_from_str, unsupported_feature),
    CASE(device_bad_index, bad_device),
    CASE(device_uppercase, bad_device),
    CASE(device_leading_zero, bad_device),
    CASE(device_call_bad, bad_device),
    CASE(storage_key_int_and_str, bad_persistent_id),
    CASE(legacy_key_list_other_type, legacy_bad_storage_list),
    CASE(legacy_int_key_unlisted, bad_persistent_id),
    CASE(state_requires_grad_on_int, bad_rebuild_args),
    CASE(state_requires_grad_not_bool, bad_rebuild_args),
    CASE(state_data_not_tensor, bad_rebuild_args),
    CASE(state_class_property, tensor_state_refused),
    CASE(state_dunder_name, tensor_state_refused),
    CASE(state_backward_hooks, tensor_state_refused),
    CASE(from_type_v2_to_tensor_class, bad_rebuild_args),
    CASE(rebuild_v2_requires_grad_on_int, bad_rebuild_args),
    CASE(rebuild_v2_backward_hooks, tensor_state_refused),
    CASE(metadata_conj_on_float, bad_rebuild_args),
    CASE(metadata_neg_on_bool, unsupported_feature),
    CASE(qtensor_backward_hooks, tensor_state_refused),
    CASE(qtensor_requires_grad, bad_rebuild_args),
    CASE(param_build_backward_hooks, tensor_state_refused),
    CASE(param_build_requires_grad_on_int, bad_rebuild_args),
    CASE(param_build_not_leaf, bad_rebuild_args),
    CASE(odict_build_shadows_keys, object_state_refused),
    CASE(odict_build_dunder_name, object_state_refused),
    CASE(counter_build_shadows_method, object_state_refused),
    CASE(limit_tree_bytes_bytearray_n, limit_exceeded, scan::by_class, "max_tree_bytes"),
    CASE(limit_tree_bytes_size_copies, limit_exceeded, scan::by_class, "max_tree_bytes"),
    CASE(limit_tree_bytes_ordered_dict_copies, limit_exceeded, scan::by_class, "max_tree_bytes"),
    CASE(limit_tree_bytes_set_copies, limit_exceeded, scan::by_class, "max_tree_bytes"),
    CASE(limit_tree_bytes_bytearray_copies, limit_exceeded, scan::by_class, "max_tree_bytes"),
    CASE(limit_tree_bytes_attrs, limit_exceeded, scan::by_class, "max_tree_bytes"),
    CASE(numpy_array_bytes_mismatch, bad_rebuild_args, scan::by_class, "its shape needs 48"),
    CASE(numpy_array_shape_overflow, bad_rebuild_args, scan::by_class, "overflows"),
    CASE(numpy_dtype_object, numpy_dtype_refused, scan::by_class, "'O8'"),
    CASE(numpy_dtype_wrong_args, bad_rebuild_args, scan::by_class, "(code, False, True)"),
    CASE(numpy_dtype_structured_state, numpy_dtype_refused, scan::by_class, "not a plain numeric dtype"),
    // Arrays sharing one memoised bytes value: each array's copy of it is charged.
    CASE(limit_tree_bytes_numpy_copies, limit_exceeded, scan::by_class, "max_tree_bytes"),
};
#undef CASE
static_assert(std::size(catalogue) == static_cast<std::size_t>(corruption::count_),
              "one catalogue row per corruption");

// ---- building blocks ---------------------------------------------------------------------------

const std::string root = "archive";
std::string rec(const std::string& rel) { return root + "/" + rel; }

/// The valid baseline: state_dict {"w": float32 (2, 3)} over storage "0" of 6 floats.
tensor_spec w_spec() {
  tensor_spec t;
  t.key = "w";
  t.shape = {2, 3};
  return t;
}
bytes good_pickle() { return state_dict_pickle({w_spec()}); }
zip_builder good_zip(const bytes& pickle = good_pickle()) { return torch_checkpoint(pickle, {{"0", float32_ramp(6)}}); }

struct built {
  bytes file;
  pthsafe::load_options opts{};
};

built zip_case(zip_builder z, pthsafe::load_options o = {}) { return {z.build(), std::move(o)}; }
/// A pickle placed as data.pkl of the baseline archive (storage "0" present).
built pickle_case(const bytes& pkl, pthsafe::load_options o = {}) { return zip_case(good_zip(pkl), std::move(o)); }
/// A state_dict of these tensors over one storage "0" of `storage_floats` floats.
built tensors_case(const std::vector<tensor_spec>& ts, std::size_t storage_floats = 6, pthsafe::load_options o = {}) {
  return zip_case(torch_checkpoint(state_dict_pickle(ts), {{"0", float32_ramp(storage_floats)}}), std::move(o));
}
built tensor_case(tensor_spec t, std::size_t storage_floats = 6) { return tensors_case({std::move(t)}, storage_floats); }

/// PROTO 2 followed by `body` (which must end the stream itself when it wants a STOP).
bytes proto2(std::string_view body) {
  pickle_writer w;
  w.proto(2).raw(body);
  return w.take();
}
pickle_writer started() {
  pickle_writer w;
  w.proto(2);
  return w;
}
/// ('storage', torch.<cls>, key, location, numel) BINPERSID
void persid(pickle_writer& w, const std::string& cls, const std::string& key, const std::string& loc, std::int64_t numel) {
  w.mark().binunicode("storage").global("torch", cls).binunicode(key).binunicode(loc).integer(numel).tuple().binpersid();
}
/// torch._utils._rebuild_tensor_v2(<storage "0", 6 floats>, 0, (2, 3), (3, 1), False, OrderedDict()),
/// left on the stack.
void good_tensor(pickle_writer& w) {
  w.global("torch._utils", "_rebuild_tensor_v2").mark();
  persid(w, "FloatStorage", "0", "cpu", 6);
  w.integer(0).integer(2).integer(3).tuple2().integer(3).integer(1).tuple2().newfalse();
  w.global("collections", "OrderedDict").empty_tuple().reduce().tuple().reduce();
}

/// _rebuild_from_type_v2(_rebuild_tensor_v2, <new_type>, (<storage "0" of `cls`>, 0, (2,), (1,),
/// False, OrderedDict()), <state written by `state`>) as the whole data.pkl.
bytes from_type_v2(const std::string& cls, const std::string& type_module, const std::string& type_name,
                   void (*state)(pickle_writer&)) {
  pickle_writer w = started();
  w.global("torch._tensor", "_rebuild_from_type_v2").mark();
  w.global("torch._utils", "_rebuild_tensor_v2").global(type_module, type_name).mark();
  persid(w, cls, "0", "cpu", 2);
  w.integer(0).integer(2).tuple1().integer(1).tuple1().newfalse();
  w.global("collections", "OrderedDict").empty_tuple().reduce().tuple();
  state(w);
  w.tuple().reduce().stop();
  return w.take();
}
built storage_case(const bytes& pkl, const std::string& key, std::size_t nbytes) {
  return zip_case(torch_checkpoint(pkl, {{key, bytes(nbytes, std::byte{7})}}));
}
/// _rebuild_tensor_v2(<storage "0" of `cls`, 2 items>, 0, (2,), (1,), requires_grad, hooks[, metadata]).
bytes rebuild_v2(const std::string& cls, bool requires_grad, void (*hooks)(pickle_writer&), void (*metadata)(pickle_writer&)) {
  pickle_writer w = started();
  w.global("torch._utils", "_rebuild_tensor_v2").mark();
  persid(w, cls, "0", "cpu", 2);
  w.integer(0).integer(2).tuple1().integer(1).tuple1().boolean(requires_grad);
  hooks(w);
  if (metadata) metadata(w);
  w.tuple().reduce().stop();
  return w.take();
}
void empty_hooks(pickle_writer& w) { w.global("collections", "OrderedDict").empty_tuple().reduce(); }
void tensor_hook(pickle_writer& w) { w.empty_dict().integer(0).global("torch", "Tensor").setitem(); }
/// {'q': _rebuild_qtensor(<QInt8Storage "0", 2 items>, 0, (2,), (1,), (per_tensor_affine, 0.5, 0),
/// requires_grad, hooks)} as the whole data.pkl.
bytes rebuild_qtensor(bool requires_grad, void (*hooks)(pickle_writer&)) {
  pickle_writer w = started();
  w.empty_dict().binunicode("q").global("torch._utils", "_rebuild_qtensor").mark();
  persid(w, "QInt8Storage", "0", "cpu", 2);
  w.integer(0).integer(2).tuple1().integer(1).tuple1();
  w.mark().global("torch", "per_tensor_affine").binfloat(0.5).integer(0).tuple().boolean(requires_grad);
  hooks(w);
  w.tuple().reduce().setitem().stop();
  return w.take();
}
/// {'w': _rebuild_parameter(<tensor of `cls`>, requires_grad, OrderedDict())} then BUILD with the
/// Tensor.__setstate__ 3-tuple (state_requires_grad, None, hooks).
bytes param_build(const std::string& cls, bool requires_grad, bool state_requires_grad, void (*hooks)(pickle_writer&)) {
  pickle_writer w = started();
  w.empty_dict().binunicode("w").global("torch._utils", "_rebuild_parameter").mark();
  w.global("torch._utils", "_rebuild_tensor_v2").mark();
  persid(w, cls, "0", "cpu", 2);
  w.integer(0).integer(2).tuple1().integer(1).tuple1().newfalse();
  empty_hooks(w);
  w.tuple().reduce().boolean(requires_grad);
  empty_hooks(w);
  w.tuple().reduce();
  w.mark().boolean(state_requires_grad).none();
  hooks(w);
  w.tuple().build().setitem().stop();
  return w.take();
}
/// `cls`() with one item, then BUILD {name: OrderedDict}: the attribute shadows what the class defines.
bytes dict_build_attr(std::string_view cls, std::string_view name) {
  pickle_writer w = started();
  w.global("collections", cls).empty_tuple().reduce().binunicode("a").integer(1).setitem();
  w.empty_dict().binunicode("_metadata").empty_dict().setitem();  // real state_dicts carry it: accepted
  w.binunicode(name).global("collections", "OrderedDict").setitem().build().stop();
  return w.take();
}
/// A legacy (0.1.10-1.5) stream: magic, 1001, sys_info, then `main` and `keys` (whole pickles,
/// each ending in STOP), then `data`.
bytes legacy_stream(const bytes& main, const bytes& keys, const bytes& data) {
  const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
  bytes b(reinterpret_cast<const std::byte*>(magic), reinterpret_cast<const std::byte*>(magic) + sizeof magic);
  append(b, proto2("M\xe9\x03."sv));
  append(b, proto2("}."sv));
  append(b, main);
  append(b, keys);
  append(b, data);
  return b;
}
/// The legacy main pickle {'a': <FloatStorage key `a` (2 floats)>, 'b': <key `b`>}, keys written by
/// `key_a` / `key_b` (an int or a str), as _rebuild_tensor_v2 over 6-tuple persistent ids.
bytes legacy_two_tensors(void (*key_a)(pickle_writer&), void (*key_b)(pickle_writer&)) {
  pickle_writer w = started();
  w.empty_dict().mark();
  void (*keys[2])(pickle_writer&) = {key_a, key_b};
  for (int i = 0; i < 2; ++i) {
    w.binunicode(i == 0 ? "a" : "b");
    w.global("torch._utils", "_rebuild_tensor_v2").mark();
    w.mark().binunicode("storage").global("torch", "FloatStorage");
    keys[i](w);
    w.binunicode("cpu").integer(2).none().tuple().binpersid();
    w.integer(0).integer(2).tuple1().integer(1).tuple1().newfalse();
    w.global("collections", "OrderedDict").empty_tuple().reduce().tuple().reduce();
  }
  w.setitems().stop();
  return w.take();
}
/// int64 count 2, then two float32 zeros: one legacy storage block.
bytes legacy_block() {
  bytes b(16, std::byte{0});
  b[0] = std::byte{2};
  return b;
}

pthsafe::load_options with_limits(void (*set)(pthsafe::limits&)) {
  pthsafe::load_options o;
  set(o.limits);
  return o;
}

bytes repeat(char c, std::size_t n) { return bytes(n, static_cast<std::byte>(c)); }

/// PROTO 2, BINBYTES(600 NULs), STOP - a pickle whose first 512 bytes become a V7 tar header
/// (no ustar magic) once the mode, size and type fields and a checksum are written into them.
/// `signed_sum`: the checksum is the signed byte sum (it differs: the block holds 0x80);
/// `base256`: the field is 0o200 and 7 big-endian bytes.
bytes v7_pickle(bool signed_sum, bool base256) {
  pickle_writer w;
  w.proto(2).op(pk::BINBYTES).u32(600).raw(bytes(600, std::byte{0})).stop();
  bytes f = w.take();
  auto* b = reinterpret_cast<unsigned char*>(f.data());
  std::memcpy(b + 100, "0000644", 8);
  std::memcpy(b + 124, "00000000000", 12);
  b[156] = '0';
  std::int64_t sum = 256;
  for (int i = 0; i < 512; ++i)
    if (i < 148 || i >= 156) sum += signed_sum ? static_cast<std::int8_t>(b[i]) : b[i];
  if (base256) {
    b[148] = 0x80;
    for (int i = 0; i < 7; ++i) b[149 + i] = static_cast<unsigned char>(sum >> (8 * (6 - i)));
  } else {
    std::snprintf(reinterpret_cast<char*>(b + 148), 8, "%06llo", static_cast<unsigned long long>(sum));
  }
  return f;
}

constexpr std::string_view magic_long1 = "\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."sv;

built make(corruption c) {
  using C = corruption;
  pthsafe::load_options strict;
  strict.strict_torch = true;
  switch (c) {
    // ---- container detection ----
    case C::empty_file: return {};
    case C::not_a_checkpoint: return {to_bytes(std::string("\0\1not a checkpoint", 18))};
    case C::preview_archive: {
      bytes b = to_bytes("PYTORCH1");
      append(b, good_zip().build());
      return {b};
    }
    case C::tar_format: {
      bytes b(1024, std::byte{0});
      std::memcpy(b.data(), "archive/data.pkl", 16);
      std::memcpy(b.data() + 257, "ustar\0" "00", 8);
      return {b};
    }
    case C::tar_v7_no_magic: return {v7_pickle(false, false)};
    case C::tar_v7_signed_checksum: return {v7_pickle(true, false)};
    case C::tar_v7_base256_checksum: return {v7_pickle(false, true)};
    case C::tar_zero_first_block: {
      bytes b(512, std::byte{0});
      append(b, proto2("}."sv));
      return {b};
    }
    case C::legacy_magic_no_proto_bad_header: {
      bytes b = to_bytes(std::string(magic_long1));
      append(b, proto2("K\x03."sv));
      return {b};
    }
    case C::legacy_magic_text_long_bad_header: {
      bytes b = to_bytes("L119547037146038801333356L\n.");
      append(b, proto2("K\x03."sv));
      return {b};
    }
    case C::unclassified_then_payload: {
      bytes b = to_bytes("\x8a\x01\x05.");
      pickle_writer w = started();
      w.global("os", "system").binunicode("echo").tuple1().reduce().stop();
      append(b, w.take());
      return {b};
    }
    case C::legacy_magic_frame_past_stop: {
      // pickle.dumps(0x1950a86a20f9469cfc6c, protocol=4) framed, the frame running 3 bytes on.
      pickle_writer w;
      w.proto(4).frame(16).raw("\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"sv).stop().raw("N.N"sv);
      return {w.take()};
    }
    case C::flatbuffer_module: {
      // MARK, SHORT_BINBYTES of 5 bytes holding "PTMF" at offset 4: a pickle to pickle.load, a
      // flatbuffer module to torch.jit.load.
      return {to_bytes("(C\x05\0PTMFt."sv)};
    }
    case C::legacy_bad_header: {
      // pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) - torch's legacy MAGIC_NUMBER - then a
      // protocol-version pickle of 3 where torch writes 1001.
      const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
      bytes b(reinterpret_cast<const std::byte*>(magic), reinterpret_cast<const std::byte*>(magic) + sizeof magic);
      append(b, proto2("K\x03."sv));
      return {b};
    }
    case C::torchscript_archive: {
      auto z = good_zip();
      z.add(rec("constants.pkl"), proto2(")."sv));
      return zip_case(z);
    }
    case C::torchscript_constants_upper_case: {
      // torch.jit.load finds CONSTANTS.PKL (miniz folds case) and takes the archive for TorchScript.
      auto z = good_zip();
      z.add(rec("CONSTANTS.PKL"), proto2(")."sv));
      return zip_case(z);
    }
    case C::torchscript_code_record: { auto z = good_zip(); z.add(rec("code/__torch__/m.py"), "def f(x):\n  return x\n"); return zip_case(z); }
    case C::torchscript_code_record_upper_case: { auto z = good_zip(); z.add(rec("Code/m.py"), "x = 1\n"); return zip_case(z); }
    // ---- end records ----
    case C::eocd_missing: {
      bytes b = good_zip().build();
      b.resize(b.size() - 22);
      return {b};
    }
    case C::file_shorter_than_eocd: return {to_bytes("PK\3\4 too short")};
    case C::eocd_trailing_bytes: { auto z = good_zip(); z.layout.trailing = to_bytes("polyglot tail"); return zip_case(z); }
    case C::eocd_comment_overruns_file: {
      auto z = good_zip();
      z.layout.comment = to_bytes("abc");
      z.layout.comment_len = 100;
      return zip_case(z);
    }
    case C::eocd_other_disk: { auto z = good_zip(); z.layout.eocd_disk = 1; return zip_case(z); }
    case C::eocd_disk_count_differs: { auto z = good_zip(); z.layout.eocd_entries_disk = 1; return zip_case(z); }
    case C::eocd_count_disagrees_with_zip64: {
      auto z = good_zip();
      z.layout.eocd_entries_disk = z.layout.eocd_entries_total = 5;
      return zip_case(z);
    }
    case C::eocd_count_too_small: {
      auto z = good_zip();
      z.layout.zip64_end = false;
      z.layout.eocd_entries_disk = z.layout.eocd_entries_total = 3;
      return zip_case(z);
    }
    case C::eocd_count_one_too_large: {
      // 4 entries of 60-63 bytes: the directory could hold 5 by size, but the 5th is not there.
      auto z = good_zip();
      z.layout.zip64_end = false;
      z.layout.eocd_entries_disk = z.layout.eocd_entries_total = 5;
      return zip_case(z);
    }
    case C::eocd_count_impossible: {
      auto z = good_zip();
      z.layout.zip64_end = false;
      z.layout.eocd_entries_disk = z.layout.eocd_entries_total = 1000;
      return zip_case(z);
    }
    case C::eocd_sentinel_without_zip64: {
      auto z = good_zip();
      z.layout.zip64_end = false;
      z.layout.eocd_sentinels = true;
      return zip_case(z);
    }
    case C::eocd_cd_offset_lies: {
      auto z = good_zip();
      z.layout.zip64_end = false;
      z.build();
      z.layout.eocd_cd_offset = static_cast<std::uint32_t>(z.cd_offset - 1);
      return zip_case(z);
    }
    case C::eocd_cd_size_lies: {
      auto z = good_zip();
      z.layout.zip64_end = false;
      z.build();
      z.layout.eocd_cd_size = static_cast<std::uint32_t>(z.cd_size + 46);
      return zip_case(z);
    }
    case C::gap_after_central_directory: { auto z = good_zip(); z.layout.gap_after_cd = to_bytes("hidden"); return zip_case(z); }
    case C::zip64_locator_offset_lies: {
      auto z = good_zip();
      z.build();
      z.layout.locator_z64_offset = z.z64_offset - 8;
      return zip_case(z);
    }
    case C::zip64_locator_other_disk: { auto z = good_zip(); z.layout.locator_disk = 1; return zip_case(z); }
    case C::zip64_locator_total_disks: { auto z = good_zip(); z.layout.locator_total_disks = 2; return zip_case(z); }
    case C::zip64_record_bad_signature: { auto z = good_zip(); z.layout.z64_signature = 0x06064b51; return zip_case(z); }
    case C::zip64_record_size_lies: { auto z = good_zip(); z.layout.z64_record_size = 52; return zip_case(z); }
    case C::zip64_record_other_disk: { auto z = good_zip(); z.layout.z64_disk = 1; return zip_case(z); }
    case C::zip64_count_disagrees: {
      auto z = good_zip();
      z.layout.z64_entries_disk = z.layout.z64_entries_total = 5;
      return zip_case(z);
    }
    case C::zip64_cd_offset_lies: {
      auto z = good_zip();
      z.layout.eocd_sentinels = true;
      z.build();
      z.layout.z64_cd_offset = z.cd_offset + 1;
      return zip_case(z);
    }
    case C::zip64_count_impossible: {
      auto z = good_zip();
      z.layout.eocd_sentinels = true;
      z.layout.z64_entries_disk = z.layout.z64_entries_total = std::uint64_t{1} << 40;
      pthsafe::load_options o;
      o.limits.max_zip_entries = std::uint64_t{1} << 50;  // let the count reach the size check
      return zip_case(z, o);
    }
    case C::bytes_before_first_record: {
      // Starts like a zip, but the first record is at offset 64: the bytes before it are a
      // second file that some readers would see (offsets are shifted, so they are all consistent).
      auto z = good_zip();
      z.layout.prepend = to_bytes("PK\3\4");
      append(z.layout.prepend, repeat('x', 60));
      return zip_case(z);
    }
    case C::eocd_signature_in_comment: {
      // Fewer than 22 bytes follow the signature: zipfile takes it (and fails), miniz skips it.
      auto z = good_zip();
      z.layout.comment = to_bytes("PK\5\6 in a comment");
      return zip_case(z);
    }
    case C::eocd_archive_in_comment: {
      // A whole second archive in the comment, plus one byte so that its own (empty) comment does
      // not reach the end: torch and zipfile read it, libzip reads the outer one.
      auto z = good_zip();
      z.layout.comment = good_zip(proto2("}."sv)).build();
      z.layout.comment.push_back(std::byte{0});
      return zip_case(z);
    }
    case C::eocd_second_candidate_in_record: {
      // A complete end record (empty comment) inside a record near the end of the file.
      auto z = good_zip();
      z.add(rec("notes.txt"), std::string("PK\5\6", 4) + std::string(18, '\0'));
      return zip_case(z);
    }
    case C::zip64_locator_zero_disks: { auto z = good_zip(); z.layout.locator_total_disks = 0; return zip_case(z); }
    case C::zip64_record_extensible_data: {
      // zipfile reads the zip64 end record 56 bytes before the locator, miniz where it points.
      auto z = good_zip();
      z.layout.z64_extensible = repeat('e', 56);
      return zip_case(z);
    }
    // ---- central directory ----
    case C::central_bad_signature: { auto z = good_zip(); z.records[1].central_signature = 0x02014b51; return zip_case(z); }
    case C::central_name_overruns_directory: { auto z = good_zip(); z.records[0].central_name_len = 1000; return zip_case(z); }
    case C::central_malformed_extra: { auto z = good_zip(); z.records[1].central_extra = to_bytes("\x01\x02\x03"); return zip_case(z); }
    case C::central_extra_overruns_entry: {
      auto z = good_zip();
      z.records[1].central_extra = to_bytes(std::string("\x99\x99\x64\x00\x01\x02", 6));
      return zip_case(z);
    }
    case C::central_zip64_sentinel_without_extra: {
      auto z = good_zip();
      z.records[1].zip64_extra = true;
      z.records[1].zip64_extra_omit = true;
      return zip_case(z);
    }
    case C::central_zip64_extra_too_short: {
      auto z = good_zip();
      z.records[1].zip64_extra = true;
      z.records[1].zip64_extra_drop = 8;
      return zip_case(z);
    }
    case C::central_two_zip64_extras: {
      auto z = good_zip();
      z.records[1].zip64_extra = true;
      z.records[1].central_extra = to_bytes(std::string("\x01\x00\x00\x00", 4));
      return zip_case(z);
    }
    case C::central_other_disk: { auto z = good_zip(); z.records[1].central_disk_start = 1; return zip_case(z); }
    case C::stored_sizes_differ: {
      auto z = good_zip();
      z.record(rec("version")).central_uncomp_size = 3;
      return zip_case(z);
    }
    case C::too_many_entries: {
      pthsafe::load_options o;
      o.limits.max_zip_entries = 3;
      return zip_case(good_zip(), o);
    }
    // ---- local headers ----
    case C::local_offset_past_directory: { auto z = good_zip(); z.records[1].central_local_offset = 0x7fffffff; return zip_case(z); }
    case C::local_bad_signature: { auto z = good_zip(); z.records[1].local_signature = 0x04034b51; return zip_case(z); }
    case C::local_name_differs: { auto z = good_zip(); z.records[1].local_name = rec("byteordeR"); return zip_case(z); }
    case C::local_method_differs: { auto z = good_zip(); z.records[1].local_method = 8; return zip_case(z); }
    case C::local_flags_differ: { auto z = good_zip(); z.records[1].local_flags = 0x0800; return zip_case(z); }
    case C::local_crc_differs: {
      auto z = good_zip();
      z.layout.torch_style = false;
      z.records[1].local_crc = z.records[1].crc ^ 1;
      return zip_case(z);
    }
    case C::local_size_differs: {
      auto z = good_zip();
      z.layout.torch_style = false;
      z.records[1].local_uncomp_size = 7;
      return zip_case(z);
    }
    case C::local_descriptor_crc_differs: {
      // Bit 3 allows zero CRC and sizes in the local header, not different ones.
      auto z = good_zip();
      z.records[1].local_crc = 1;
      return zip_case(z);
    }
    case C::descriptor_size_differs: { auto z = good_zip(); z.records[1].descriptor_comp_size = 1; return zip_case(z); }
    case C::local_extra_overruns_file: { auto z = good_zip(); z.records.back().local_extra_len = 0xffff; return zip_case(z); }
    case C::record_reaches_directory: {
      auto z = good_zip();
      z.records.back().central_comp_size = z.records.back().central_uncomp_size = 100000;
      return zip_case(z);
    }
    case C::records_overlap: {
      auto z = good_zip();
      const auto n = z.records[0].payload.size() + 100;
      z.records[0].central_comp_size = z.records[0].central_uncomp_size = n;
      return zip_case(z);
    }
    case C::gap_between_records: {
      auto z = good_zip();
      z.records[1].gap_after = bytes(64, std::byte{0});
      return zip_case(z);
    }
    case C::gap_before_central_directory: { auto z = good_zip(); z.layout.gap_before_cd = to_bytes("gap"); return zip_case(z); }
    case C::hidden_record_between_records: {
      auto z = good_zip();
      zip_record hidden;
      hidden.name = rec("hidden.pkl");
      hidden.payload = proto2("cos\nsystem\n."sv);
      hidden.crc = crc32_of(hidden.payload);
      hidden.uncompressed_size = hidden.payload.size();
      hidden.in_directory = false;
      z.records.insert(z.records.begin() + 2, hidden);
      return zip_case(z);
    }
    case C::record_listed_twice: {
      auto z = good_zip();
      z.layout.directory_order = {0, 1, 2, 3, 3};
      return zip_case(z);
    }
    case C::flags_encrypted: { auto z = good_zip(); z.records[0].flags = 0x0809; return zip_case(z); }
    case C::flags_strong_encryption: { auto z = good_zip(); z.records[1].flags = 0x0848; return zip_case(z); }
    case C::flags_patched_data: { auto z = good_zip(); z.records[1].flags = 0x0828; return zip_case(z); }
    case C::flags_masked_header: { auto z = good_zip(); z.records[1].flags = 0x2808; return zip_case(z); }
    case C::method_bzip2: { auto z = good_zip(); z.records[1].method = 12; return zip_case(z); }
    case C::method_lzma: { auto z = good_zip(); z.records[1].method = 14; return zip_case(z); }
    case C::libzip_rejects_local_extra: {
      // The strict walk skips local extra fields; libzip parses them and refuses one that
      // claims 255 bytes where fewer remain.
      auto z = good_zip();
      z.records[1].local_extra = to_bytes(std::string("\x01\x00\xff\x00", 4));
      return zip_case(z);
    }
    // ---- names ----
    case C::name_dotdot: { auto z = good_zip(); z.add(rec("../evil"), "x"); return zip_case(z); }
    case C::name_absolute: { auto z = good_zip(); z.add("/" + rec("evil"), "x"); return zip_case(z); }
    case C::name_backslash: { auto z = good_zip(); z.add(rec("data\\1"), "x"); return zip_case(z); }
    case C::name_nul: { auto z = good_zip(); z.add(rec(std::string("evil\0.pkl", 9)), "x"); return zip_case(z); }
    case C::name_empty_component: { auto z = good_zip(); z.add(root + "//evil", "x"); return zip_case(z); }
    case C::name_dot_component: { auto z = good_zip(); z.add(rec("./evil"), "x"); return zip_case(z); }
    case C::name_drive_letter: { auto z = good_zip(); z.add("C:/" + rec("evil"), "x"); return zip_case(z); }
    case C::name_empty: { auto z = good_zip(); z.add("", "x"); return zip_case(z); }
    case C::duplicate_name: { auto z = good_zip(); z.add(rec("version"), "3\n"); return zip_case(z); }
    case C::duplicate_name_case_only: { auto z = good_zip(); z.add(rec("VERSION"), "3\n"); return zip_case(z); }
    case C::name_utf8_flag_mixed: {
      // zipfile decodes the unflagged "\xc3\x87" as cp437 "\u251c\u00e7", the name the flagged
      // entry spells in UTF-8: one name to zipfile, two to miniz.
      auto z = good_zip();
      z.add(rec("extra/\xe2\x94\x9c\xc3\xa7"), "x");  // torch's flags 0x0808: UTF-8 set
      z.add(rec("extra/\xc3\x87"), "y").flags = 0x0008;
      return zip_case(z);
    }
    case C::directory_attr_with_data: {
      // miniz: the DOS directory bit makes data/0 a directory; extracting it copies nothing.
      auto z = good_zip();
      z.record(rec("data/0")).external_attr = 0x10;
      return zip_case(z);
    }
    case C::directory_name_with_data: {
      auto z = good_zip();
      z.add(rec("data/1/"), float32_ramp(2));
      return zip_case(z);
    }
    case C::multiple_roots: { auto z = good_zip(); z.add("other/data.pkl", good_pickle()); return zip_case(z); }
    case C::no_root_folder: { auto z = good_zip(); z.rename(rec("data.pkl"), "data.pkl"); return zip_case(z); }
    case C::no_entries: {
      // An archive without records still starts with PK\3\4 when something precedes the
      // directory; offsets account for it.
      zip_builder z;
      z.layout.gap_before_cd = to_bytes("PK\3\4");
      return zip_case(z);
    }
    // ---- records ----
    case C::crc_mismatch_data_pkl: { auto z = good_zip(); z.records[0].crc ^= 0x1; return zip_case(z); }
    case C::crc_mismatch_deflated_data_pkl: {
      zip_builder z;
      z.add_deflated(rec("data.pkl"), good_pickle());
      z.records[0].crc ^= 0x1;
      z.add(rec("data/0"), float32_ramp(6));
      z.add(rec("version"), "3\n");
      return zip_case(z);
    }
    case C::crc_mismatch_storage_verified: {
      auto z = good_zip();
      z.record(rec("data/0")).crc ^= 0x1;
      pthsafe::load_options o;
      o.verify_crc = true;
      return zip_case(z, o);
    }
    case C::mmap_copy_refused_deflated: {
      // A caller that needs zero-copy storages learns up front that a deflated one cannot be.
      pthsafe::load_options o;
      o.mode = pthsafe::load_mode::mmap;
      o.refuse_copy_in_mmap = true;
      return zip_case(torch_checkpoint(good_pickle(), {{"0", float32_ramp(6), true}}), o);
    }
    case C::inflate_ratio_storage_small_limit: {
      tensor_spec t;
      t.key = "zeros";
      t.shape = {2048};
      pthsafe::load_options o;
      o.limits.max_compression_ratio = 10;
      return zip_case(torch_checkpoint(state_dict_pickle({t}), {{"0", bytes(8192), true}}), o);
    }
    case C::inflate_ratio_storage_default_limit: {
      // 1 MiB of zeros deflates about 1000:1: a small bomb the default ratio (250) stops.
      tensor_spec t;
      t.key = "zeros";
      t.shape = {262144};
      return zip_case(torch_checkpoint(state_dict_pickle({t}), {{"0", bytes(1 << 20), true}}));
    }
    case C::inflate_size_storage: {
      tensor_spec t;
      t.key = "ramp";
      t.shape = {2048};
      pthsafe::load_options o;
      o.limits.max_inflated_bytes = 4096;
      return zip_case(torch_checkpoint(state_dict_pickle({t}), {{"0", float32_ramp(2048), true}}), o);
    }
    case C::inflate_ratio_data_pkl: {
      zip_builder z;
      pickle_writer w = started();
      w.binunicode(std::string(100000, 'a')).stop();
      z.add_deflated(rec("data.pkl"), w.data());
      z.add(rec("version"), "3\n");
      return zip_case(z);
    }
    case C::inflate_corrupt_data_pkl: {
      zip_builder z;
      z.add_deflated(rec("data.pkl"), good_pickle());
      z.records[0].payload.assign(z.records[0].payload.size(), std::byte{0xff});  // BTYPE 11: reserved
      z.add(rec("data/0"), float32_ramp(6));
      z.add(rec("version"), "3\n");
      return zip_case(z);
    }
    case C::missing_data_pkl: { auto z = good_zip(); z.remove(rec("data.pkl")); return zip_case(z); }
    case C::missing_version: { auto z = good_zip(); z.remove(rec("version")); return zip_case(z); }
    case C::missing_storage_record: { auto z = good_zip(); z.remove(rec("data/0")); return zip_case(z); }
    case C::version_not_decimal: { auto z = good_zip(); z.remove(rec("version")); z.add(rec("version"), "three\n"); return zip_case(z); }
    case C::version_zero: { auto z = good_zip(); z.remove(rec("version")); z.add(rec("version"), "0\n"); return zip_case(z); }
    case C::version_too_new: { auto z = good_zip(); z.remove(rec("version")); z.add(rec("version"), "11\n"); return zip_case(z); }
    case C::version_empty: { auto z = good_zip(); z.remove(rec("version")); z.add(rec("version"), ""); return zip_case(z); }
    case C::version_out_of_range: {
      // std::stoull throws out_of_range (torch 1.13 and 2.15: "IndexError: stoull").
      auto z = good_zip();
      z.remove(rec("version"));
      z.add(rec("version"), "18446744073709551616");
      return zip_case(z);
    }
    case C::version_sign_without_digits: { auto z = good_zip(); z.remove(rec("version")); z.add(rec("version"), "+-3"); return zip_case(z); }
    case C::version_upper_case_dot_data_preferred: {
      auto z = good_zip();
      z.add(rec(".DATA/VERSION"), "99\n");
      return zip_case(z);
    }
    case C::dot_data_version_preferred: {
      auto z = good_zip();
      z.add(rec(".data/version"), "99\n");
      return zip_case(z);
    }
    case C::byteorder_unknown: { auto z = good_zip(); z.remove(rec("byteorder")); z.add(rec("byteorder"), "middle"); return zip_case(z); }
    case C::byteorder_with_newline: { auto z = good_zip(); z.remove(rec("byteorder")); z.add(rec("byteorder"), "little\n"); return zip_case(z); }
    case C::byteorder_uppercase: { auto z = good_zip(); z.remove(rec("byteorder")); z.add(rec("byteorder"), "LITTLE"); return zip_case(z); }
    case C::byteorder_record_name_upper_case: {
      auto z = good_zip();
      z.remove(rec("byteorder"));
      z.add(rec("BYTEORDER"), "middle");
      return zip_case(z);
    }
    case C::storage_alignment_not_int: { auto z = good_zip(); z.add(rec(".storage_alignment"), "64x"); return zip_case(z); }
    case C::storage_alignment_name_upper_case: { auto z = good_zip(); z.add(rec(".Storage_Alignment"), ""); return zip_case(z); }
    case C::data_pkl_name_upper_case: {
      auto z = good_zip(proto2("cbuiltins\neval\n."sv));
      for (auto& r : z.records)
        if (r.name == rec("data.pkl")) r.name = rec("DATA.PKL");
      return zip_case(z);
    }
    // ---- pickle stream ----
    case C::pickle_empty: return pickle_case({});
    case C::pickle_truncated_before_stop: {
      bytes p = good_pickle();
      p.pop_back();
      return pickle_case(p);
    }
    case C::pickle_truncated_in_operand: return pickle_case(proto2(std::string("X\x10\x00\x00\x00short", 10)));
    case C::pickle_unknown_opcode: return pickle_case(proto2("N\xff."sv));
    case C::pickle_unknown_opcode_zero: return pickle_case(proto2(std::string("N\x00.", 3)));
    case C::pickle_protocol_6: {
      pickle_writer w;
      w.proto(6).none().stop();
      return pickle_case(w.data());
    }
    case C::opcode_inst: return pickle_case(proto2("(icollections\nOrderedDict\n."sv));
    case C::opcode_obj: return pickle_case(proto2("(ccollections\nOrderedDict\no."sv));
    case C::opcode_ext1: return pickle_case(proto2("\x82\x01."sv));
    case C::opcode_ext2: return pickle_case(proto2(std::string("\x83\x01\x00.", 4)));
    case C::opcode_ext4: return pickle_case(proto2(std::string("\x84\x01\x00\x00\x00.", 6)));
    case C::opcode_persid: return pickle_case(proto2("P0\n."sv));
    case C::opcode_newobj_ex: return pickle_case(proto2("\x92."sv));
    case C::opcode_next_buffer: return pickle_case(proto2("\x97."sv));
    case C::opcode_readonly_buffer: return pickle_case(proto2("N\x98."sv));
    case C::stack_underflow_tuple1: return pickle_case(proto2("\x85."sv));
    case C::stack_underflow_stop: return pickle_case(proto2("."sv));
    case C::stack_underflow_below_mark: return pickle_case(proto2("](K\x01" "a."sv));  // APPEND inside a MARK
    case C::no_mark_tuple: return pickle_case(proto2("NNt."sv));
    case C::no_mark_setitems: return pickle_case(proto2("}K\x01K\x02u."sv));
    case C::memo_missing_binget: return pickle_case(proto2("Nq\x00h\x07."sv));
    case C::memo_missing_long_binget: return pickle_case(proto2(std::string("j\xe8\x03\x00\x00.", 6)));
    case C::global_builtins_eval: return pickle_case(proto2("cbuiltins\neval\n(X\x02\x00\x00\x00" "1+tR."sv));
    case C::global_torch_load: return pickle_case(proto2("ctorch\nload\n."sv));
    case C::global_py2_builtin_eval: return pickle_case(proto2("c__builtin__\neval\n."sv));
    case C::global_attribute_walk: return pickle_case(proto2("ccollections\nOrderedDict.__class__\n."sv));
    case C::global_stack_global_exec: {
      pickle_writer w = started();
      w.binunicode("builtins").binunicode("exec").stack_global().stop();
      return pickle_case(w.data());
    }
    case C::global_os_system: return pickle_case(proto2("cos\nsystem\n(X\x02\x00\x00\x00idtR."sv));
    case C::global_posix_system: return pickle_case(proto2("cposix\nsystem\n."sv));
    case C::global_nt_system: return pickle_case(proto2("cnt\nsystem\n."sv));
    case C::global_sys_modules: return pickle_case(proto2("csys\nmodules\n."sv));
    case C::global_os_system_allowed_by_caller: {
      pthsafe::load_options o;
      o.allowed_globals = {"os.system", "posix.system"};
      return pickle_case(proto2("cos\nsystem\n."sv), o);
    }
    case C::global_stack_global_os_system: {
      pickle_writer w = started();
      w.binunicode("os").binunicode("system").stack_global().stop();
      return pickle_case(w.data());
    }
    case C::call_reduce_on_dtype: return pickle_case(proto2("ctorch\nfloat32\n)R."sv));
    case C::call_reduce_on_string: return pickle_case(proto2("X\x04\x00\x00\x00" "eval)R."sv));
    case C::call_newobj_on_device: return pickle_case(proto2("ctorch\ndevice\nX\x03\x00\x00\x00" "cpu\x85\x81."sv));
    case C::call_reduce_on_typed_storage: return pickle_case(proto2("ctorch.storage\nTypedStorage\n)R."sv));
    case C::build_on_plain_dict: return pickle_case(proto2("}}b."sv));
    case C::build_on_list: return pickle_case(proto2("]}b."sv));
    case C::setitem_on_list: return pickle_case(proto2("]K\x01K\x02s."sv));
    case C::setitems_on_tuple: return pickle_case(proto2(")(K\x01K\x02u."sv));
    case C::setitem_on_tensor: {
      // CVE-2026-24747: SETITEM on a rebuilt tensor would write into its __dict__ in torch.
      pickle_writer w = started();
      good_tensor(w);
      w.binunicode("__class__").none().setitem().stop();
      return pickle_case(w.data());
    }
    case C::append_on_dict: return pickle_case(proto2("}K\x01" "a."sv));
    case C::appends_on_tuple: return pickle_case(proto2(")(K\x01" "e."sv));
    case C::persid_not_a_tuple: return pickle_case(proto2("X\x01\x00\x00\x00" "0Q."sv));
    case C::persid_not_storage: {
      pickle_writer w = started();
      w.mark().binunicode("module").global("torch", "FloatStorage").binunicode("0").binunicode("cpu").integer(6).tuple().binpersid().stop();
      return pickle_case(w.data());
    }
    case C::cycle_list_in_itself: return pickle_case(proto2("]q\x00h\x00" "a."sv));
    case C::cycle_dict_in_itself: return pickle_case(proto2("}q\x00K\x01h\x00s."sv));
    case C::limit_mark_depth: return pickle_case(proto2("((((."sv), with_limits([](pthsafe::limits& l) { l.max_mark_depth = 3; }));
    case C::limit_memo_entries:
      return pickle_case(proto2("Nq\x00q\x01q\x02."sv), with_limits([](pthsafe::limits& l) { l.max_memo_entries = 2; }));
    case C::limit_string_bytes: {
      pickle_writer w = started();
      w.binunicode("eleven char").stop();
      return pickle_case(w.data(), with_limits([](pthsafe::limits& l) { l.max_string_bytes = 10; }));
    }
    case C::limit_nesting_depth:
      return pickle_case(proto2("]]]]]K\x01" "aaaaa."sv), with_limits([](pthsafe::limits& l) { l.max_nesting_depth = 3; }));
    case C::limit_tree_bytes: return pickle_case(good_pickle(), with_limits([](pthsafe::limits& l) { l.max_tree_bytes = 200; }));
    case C::limit_stack_items: return pickle_case(proto2("NNNN."sv), with_limits([](pthsafe::limits& l) { l.max_stack_items = 3; }));
    case C::limit_int_bytes: {
      pickle_writer w = started();
      w.long1(bytes(8, std::byte{1})).stop();
      return pickle_case(w.data(), with_limits([](pthsafe::limits& l) { l.max_int_bytes = 4; }));
    }
    case C::limit_container_items:
      return pickle_case(proto2("(K\x01K\x02K\x03l."sv), with_limits([](pthsafe::limits& l) { l.max_container_items = 2; }));
    case C::limit_tensors: {
      tensor_spec a = w_spec(), b = w_spec();
      b.key = "w2";
      auto o = with_limits([](pthsafe::limits& l) { l.max_tensors = 1; });
      return zip_case(torch_checkpoint(state_dict_pickle({a, b}), {{"0", float32_ramp(6)}}), o);
    }
    case C::limit_dims: {
      tensor_spec t = w_spec();
      t.shape = {1, 2, 3};
      auto o = with_limits([](pthsafe::limits& l) { l.max_dims = 2; });
      return zip_case(torch_checkpoint(state_dict_pickle({t}), {{"0", float32_ramp(6)}}), o);
    }
    case C::limit_dims_record: {
      // A record keeps its dim counts in 16 bits: max_dims above 65,535 acts as 65,535.
      tensor_spec t = w_spec();
      t.shape.assign(65536, 1);
      auto o = with_limits([](pthsafe::limits& l) { l.max_dims = 100000; });
      return zip_case(torch_checkpoint(state_dict_pickle({t}), {{"0", float32_ramp(1)}}), o);
    }
    case C::limit_pickle_bytes: return pickle_case(good_pickle(), with_limits([](pthsafe::limits& l) { l.max_pickle_bytes = 16; }));
    case C::pickle_trailing_data: {
      bytes p = good_pickle();
      append(p, "junk");
      return pickle_case(p);
    }
    case C::pickle_frame_past_stop: {
      pickle_writer w;
      w.proto(4).frame(4).none().stop().raw("N."sv);
      return pickle_case(w.data());
    }
    case C::legacy_sys_info_frame_past_stop: {
      // sys_info is `PROTO 4, FRAME, EMPTY_DICT, STOP` and its frame swallows the main pickle:
      // CPython reads the next pickle at the frame's end, pthsafe refuses the stream.
      auto int5 = [](pickle_writer& w) { w.integer(5); };
      auto int6 = [](pickle_writer& w) { w.integer(6); };
      const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
      bytes b(reinterpret_cast<const std::byte*>(magic), reinterpret_cast<const std::byte*>(magic) + sizeof magic);
      append(b, proto2("M\xe9\x03."sv));
      const bytes main = legacy_two_tensors(int5, int6);
      pickle_writer s;
      s.proto(4).frame(2 + main.size()).empty_dict().stop();
      append(b, s.take());
      append(b, main);
      pickle_writer k = started();
      k.mark().integer(5).integer(6).list().stop();
      append(b, k.take());
      append(b, legacy_block());
      append(b, legacy_block());
      return {b};
    }
    case C::strict_short_binunicode: {
      pickle_writer w = started();
      w.short_binunicode("w").stop();
      return pickle_case(w.data(), strict);
    }
    case C::strict_memoize: return pickle_case(proto2("N\x94."sv), strict);
    case C::strict_frame: {
      pickle_writer w;
      w.proto(4).frame(2).none().stop();
      return pickle_case(w.data(), strict);
    }
    case C::bad_text_global_utf8: return pickle_case(proto2("ctorch\xff\nfloat32\n."sv));
    case C::bad_text_binunicode_utf8: return pickle_case(proto2(std::string("X\x02\x00\x00\x00\xc3\x28.", 8)));
    case C::bad_text_int_leading_zero: return pickle_case(proto2("I012\n."sv));
    case C::bad_operand_unhashable_key: return pickle_case(proto2("}]K\x01s."sv));
    case C::bad_operand_frame_straddle: {
      // A frame of 3 bytes ends inside BININT's 4-byte operand.
      pickle_writer w;
      w.proto(4).frame(3).binint(7).stop();
      return pickle_case(w.data());
    }
    case C::bad_operand_reduce_args: return pickle_case(proto2("ccollections\nOrderedDict\n]R."sv));
    case C::bad_operand_stack_global_types: return pickle_case(proto2("K\x01K\x02\x93."sv));
    // ---- torch objects ----
    case C::persid_four_items: {
      pickle_writer w = started();
      w.mark().binunicode("storage").global("torch", "FloatStorage").binunicode("0").binunicode("cpu").tuple().binpersid().stop();
      return pickle_case(w.data());
    }
    case C::persid_negative_numel: {
      pickle_writer w = started();
      persid(w, "FloatStorage", "0", "cpu", -6);
      return pickle_case(w.stop().data());
    }
    case C::persid_float_key: {
      pickle_writer w = started();
      w.mark().binunicode("storage").global("torch", "FloatStorage").binfloat(0.0).binunicode("cpu").integer(6).tuple().binpersid().stop();
      return pickle_case(w.data());
    }
    case C::persid_numel_overflow: {
      pickle_writer w = started();
      persid(w, "FloatStorage", "0", "cpu", std::int64_t{1} << 62);  // * 4 bytes overflows 64 bits
      return pickle_case(w.stop().data());
    }
    case C::storage_type_is_dtype: { tensor_spec t = w_spec(); t.storage_type = "float32"; return tensor_case(t); }
    case C::storage_type_is_not_storage: { tensor_spec t = w_spec(); t.storage_type = "Size"; return tensor_case(t); }
    case C::storage_numel_larger_than_record: {
      // CVE-2026-24747 part 2: a persistent id claiming more elements than its record holds.
      tensor_spec t = w_spec();
      t.storage_numel = 1000;
      return tensor_case(t);
    }
    case C::storage_numel_smaller_than_record: { tensor_spec t = w_spec(); t.shape = {5}; return tensor_case(t); }
    case C::storage_two_dtypes: {
      tensor_spec a, b;
      a.key = "f";
      a.shape = {2};
      b.key = "l";
      b.storage_type = "LongStorage";
      b.shape = {1};
      return tensors_case({a, b}, 2);
    }
    case C::storage_two_sizes: {
      tensor_spec a = w_spec(), b;
      b.key = "v";
      b.shape = {5};
      return tensors_case({a, b});
    }
    case C::bare_pickle_persistent_id: return {good_pickle()};
    case C::rebuild_wrong_arg_count: {
      pickle_writer w = started();
      w.global("torch._utils", "_rebuild_tensor_v2").mark();
      persid(w, "FloatStorage", "0", "cpu", 6);
      w.integer(0).integer(6).tuple1().integer(1).tuple1().tuple().reduce().stop();
      return pickle_case(w.data());
    }
    case C::rebuild_storage_not_storage: {
      pickle_writer w = started();
      w.global("torch._utils", "_rebuild_tensor_v2").mark();
      w.integer(0).integer(0).integer(6).tuple1().integer(1).tuple1().newfalse().none().tuple().reduce().stop();
      return pickle_case(w.data());
    }
    case C::rebuild_v3_unknown_dtype: {
      // torch.uint3 is an allowed global but no dtype a tensor can hold.
      pickle_writer w = started();
      w.global("torch._utils", "_rebuild_tensor_v3").mark();
      w.mark().binunicode("storage").global("torch.storage", "UntypedStorage").binunicode("0").binunicode("cpu").integer(24).tuple().binpersid();
      w.integer(0).integer(6).tuple1().integer(1).tuple1().newfalse().none().global("torch", "uint3").tuple().reduce().stop();
      return pickle_case(w.data());
    }
    case C::geometry_negative_size: {
      tensor_spec t = w_spec();
      t.shape = {-1, 3};
      t.stride = {3, 1};
      t.storage_numel = 6;
      return tensor_case(t);
    }
    case C::geometry_negative_stride: { tensor_spec t = w_spec(); t.stride = {-3, 1}; t.storage_numel = 6; return tensor_case(t); }
    case C::geometry_negative_offset: { tensor_spec t = w_spec(); t.offset = -1; t.storage_numel = 6; return tensor_case(t); }
    case C::geometry_numel_overflow: {
      tensor_spec t = w_spec();
      t.shape = {std::int64_t{1} << 32, std::int64_t{1} << 32};
      t.stride = {0, 0};
      t.storage_numel = 6;
      return tensor_case(t);
    }
    case C::geometry_numel_over_int64: {
      tensor_spec t = w_spec();
      t.shape = {std::int64_t{1} << 32, std::int64_t{1} << 31};
      t.stride = {0, 0};
      t.storage_numel = 6;
      return tensor_case(t);
    }
    case C::geometry_dims_differ: { tensor_spec t = w_spec(); t.stride = {1}; t.storage_numel = 6; return tensor_case(t); }
    case C::bounds_offset_past_end: {
      tensor_spec t = w_spec();
      t.shape = {1};
      t.offset = 6;
      t.storage_numel = 6;
      return tensor_case(t);
    }
    case C::bounds_stride_past_end: { tensor_spec t = w_spec(); t.stride = {4, 1}; t.storage_numel = 6; return tensor_case(t); }
    case C::bounds_huge_stride_overflow: {
      tensor_spec t = w_spec();
      t.shape = {5};
      t.stride = {std::int64_t{1} << 62};  // (5 - 1) * 2^62 = 2^64
      t.storage_numel = 6;
      return tensor_case(t);
    }
    case C::bounds_one_element_short: {
      tensor_spec t = w_spec();
      t.offset = 1;
      t.storage_numel = 6;
      return tensor_case(t);
    }
    case C::rebuild_qtensor_no_args: return pickle_case(proto2("ctorch._utils\n_rebuild_qtensor\n)R."sv));
    case C::rebuild_sparse_no_args: return pickle_case(proto2("ctorch._utils\n_rebuild_sparse_tensor\n)R."sv));
    case C::unsupported_tensor_metadata: {
      pickle_writer w = started();
      w.global("torch._utils", "_rebuild_tensor_v2").mark();
      persid(w, "FloatStorage", "0", "cpu", 6);
      w.integer(0).integer(6).tuple1().integer(1).tuple1().newfalse();
      w.global("collections", "OrderedDict").empty_tuple().reduce();
      w.empty_dict().binunicode("python_object").newtrue().setitem();
      w.tuple().reduce().stop();
      return pickle_case(w.data());
    }
    case C::unsupported_codecs_errors:
      return pickle_case(proto2("c_codecs\nencode\nX\x01\x00\x00\x00" "aX\x06\x00\x00\x00" "latin1X\x06\x00\x00\x00" "ignore\x87R."sv));
    case C::unsupported_ordered_dict_from_str:
      return pickle_case(proto2("ccollections\nOrderedDict\nX\x02\x00\x00\x00" "ab\x85R."sv));
    case C::device_bad_index: { tensor_spec t = w_spec(); t.location = "cuda:x"; return tensor_case(t); }
    case C::device_uppercase: { tensor_spec t = w_spec(); t.location = "CPU"; return tensor_case(t); }
    case C::device_leading_zero: { tensor_spec t = w_spec(); t.location = "cuda:01"; return tensor_case(t); }
    case C::device_call_bad: return pickle_case(proto2("ctorch\ndevice\nX\x05\x00\x00\x00" "cuda:\x85R."sv));
    // ---- torch semantics of rebuild calls and storage keys ----
    case C::storage_key_int_and_str: {
      // Two storages to torch (loaded_storages keys 0 and '0', both read from data/0); pthsafe
      // would print both as storage "0", so the pair is refused.
      pickle_writer w = started();
      w.empty_dict().mark();
      for (int i = 0; i < 2; ++i) {
        w.binunicode(i ? "b" : "a").global("torch._utils", "_rebuild_tensor_v2").mark();
        w.mark().binunicode("storage").global("torch", "FloatStorage");
        if (i) w.binunicode("0"); else w.integer(0);
        w.binunicode("cpu").integer(6).tuple().binpersid();
        w.integer(0).integer(6).tuple1().integer(1).tuple1().newfalse();
        w.global("collections", "OrderedDict").empty_tuple().reduce().tuple().reduce();
      }
      w.setitems().stop();
      return pickle_case(w.take());
    }
    case C::legacy_key_list_other_type: {
      // Persistent ids keyed by the int 5, key list ['5']: torch asserts ('5' not in deserialized_objects).
      auto int5 = [](pickle_writer& w) { w.integer(5); };
      auto int6 = [](pickle_writer& w) { w.integer(6); };
      bytes data = legacy_block();
      append(data, legacy_block());
      pickle_writer k2 = started();
      k2.mark().binunicode("5").integer(6).list().stop();
      return {legacy_stream(legacy_two_tensors(int5, int6), k2.take(), data)};
    }
    case C::legacy_int_key_unlisted: {
      // Tensor a keyed 5, tensor b keyed '5', key list ['5']: torch leaves a's memory uninitialised.
      auto int5 = [](pickle_writer& w) { w.integer(5); };
      auto str5 = [](pickle_writer& w) { w.binunicode("5"); };
      pickle_writer keys = started();
      keys.mark().binunicode("5").list().stop();
      return {legacy_stream(legacy_two_tensors(int5, str5), keys.take(), legacy_block())};
    }
    case C::state_requires_grad_on_int:
      return storage_case(from_type_v2("LongStorage", "torch", "Tensor", [](pickle_writer& w) {
        w.empty_dict().binunicode("requires_grad").newtrue().setitem();
      }), "0", 16);
    case C::state_requires_grad_not_bool:
      return storage_case(from_type_v2("FloatStorage", "torch", "Tensor", [](pickle_writer& w) {
        w.empty_dict().binunicode("requires_grad").integer(1).setitem();
      }), "0", 8);
    case C::state_data_not_tensor:
      return storage_case(from_type_v2("FloatStorage", "torch.nn.parameter", "Parameter", [](pickle_writer& w) {
        w.empty_dict().binunicode("data").integer(5).setitem();
      }), "0", 8);
    case C::state_class_property:  // Tensor.real's setter writes values: not interpreted
      return storage_case(from_type_v2("FloatStorage", "torch", "Tensor", [](pickle_writer& w) {
        w.empty_dict().binunicode("real").none().setitem();
      }), "0", 8);
    case C::state_dunder_name:  // __dict__ / __class__ / __reduce_ex__ and co. reach Python's machinery
      return storage_case(from_type_v2("FloatStorage", "torch", "Tensor", [](pickle_writer& w) {
        w.empty_dict().binunicode("__deepcopy__").none().setitem();
      }), "0", 8);
    case C::state_backward_hooks:
      return storage_case(from_type_v2("FloatStorage", "torch", "Tensor", [](pickle_writer& w) {
        w.empty_dict().binunicode("_backward_hooks").empty_dict().integer(0).global("torch", "Tensor").setitem().setitem();
      }), "0", 8);
    case C::from_type_v2_to_tensor_class:
      return storage_case(from_type_v2("FloatStorage", "torch", "FloatTensor", [](pickle_writer& w) { w.empty_dict(); }), "0", 8);
    case C::rebuild_v2_requires_grad_on_int:
      return storage_case(rebuild_v2("IntStorage", true, empty_hooks, nullptr), "0", 8);
    case C::rebuild_v2_backward_hooks:
      return storage_case(rebuild_v2("FloatStorage", false, [](pickle_writer& w) {
        w.empty_dict().integer(0).global("torch", "Tensor").setitem();
      }, nullptr), "0", 8);
    case C::metadata_conj_on_float:
      return storage_case(rebuild_v2("FloatStorage", false, empty_hooks, [](pickle_writer& w) {
        w.empty_dict().binunicode("conj").newfalse().setitem();
      }), "0", 8);
    case C::qtensor_backward_hooks:  // the 7th argument becomes tensor._backward_hooks
      return storage_case(rebuild_qtensor(false, tensor_hook), "0", 2);
    case C::qtensor_requires_grad:  // torch raises: a qint8 tensor cannot require gradients
      return storage_case(rebuild_qtensor(true, empty_hooks), "0", 2);
    case C::param_build_backward_hooks:  // Tensor.__setstate__: requires_grad, _, _backward_hooks = state
      return storage_case(param_build("FloatStorage", true, true, tensor_hook), "0", 8);
    case C::param_build_requires_grad_on_int:
      return storage_case(param_build("LongStorage", false, true, empty_hooks), "0", 16);
    case C::param_build_not_leaf: {
      // as_subclass(Parameter) of a tensor that requires grad is no leaf: __setstate__ raises.
      pickle_writer w = started();
      w.empty_dict().binunicode("w").global("torch._tensor", "_rebuild_from_type_v2").mark();
      w.global("torch._utils", "_rebuild_tensor_v2").global("torch.nn.parameter", "Parameter").mark();
      persid(w, "FloatStorage", "0", "cpu", 2);
      w.integer(0).integer(2).tuple1().integer(1).tuple1().newtrue();
      empty_hooks(w);
      w.tuple().none().tuple().reduce();
      w.mark().newtrue().none().none().tuple().build().setitem().stop();
      return storage_case(w.take(), "0", 8);
    }
    case C::odict_build_shadows_keys:  // sd.keys() / dict(sd) would see the shadowing attribute
      return pickle_case(dict_build_attr("OrderedDict", "keys"));
    case C::odict_build_dunder_name:
      return pickle_case(dict_build_attr("OrderedDict", "__class__"));
    case C::counter_build_shadows_method:
      return pickle_case(dict_build_attr("Counter", "most_common"));
    case C::metadata_neg_on_bool:
      return storage_case(rebuild_v2("BoolStorage", false, empty_hooks, [](pickle_writer& w) {
        w.empty_dict().binunicode("neg").newtrue().setitem();
      }), "0", 2);
    case C::limit_tree_bytes_bytearray_n: {
      // bytearray(10**6) from a few bytes: the million bytes are charged before they exist.
      pickle_writer w = started();
      w.global("builtins", "bytearray").integer(1000000).tuple1().reduce().stop();
      return pickle_case(w.take(), with_limits([](pthsafe::limits& l) { l.max_tree_bytes = 1 << 19; }));
    }
    case C::limit_tree_bytes_size_copies:
    case C::limit_tree_bytes_ordered_dict_copies:
    case C::limit_tree_bytes_set_copies:
    case C::limit_tree_bytes_bytearray_copies: {
      // One container of 1,000 items (memo 0), then 200 calls that each copy it: the copies
      // (about 1.6 MB) are charged, the 8 KB of items themselves are not the problem.
      const bool dict = c == C::limit_tree_bytes_ordered_dict_copies;
      pickle_writer w = started();
      if (dict) w.empty_dict().mark(); else w.mark();
      for (int i = 0; i < 1000; ++i) {
        w.integer(dict ? i : i % 200);
        if (dict) w.integer(i);
      }
      if (dict) w.setitems(); else w.tuple();
      w.put(0).pop().mark();
            for (int i = 0; i < 200; ++i) {
        if (c == C::limit_tree_bytes_size_copies) w.global("torch", "Size");
        else if (dict) w.global("collections", "OrderedDict");
        else if (c == C::limit_tree_bytes_set_copies) w.global("builtins", "set");
        else w.global("builtins", "bytearray");
        w.get(0).tuple1().reduce();
      }
      w.list().stop();
      if (c == C::limit_tree_bytes_bytearray_copies)  // 1,000 bytes a copy
        return pickle_case(w.take(), with_limits([](pthsafe::limits& l) { l.max_tree_bytes = 1 << 17; }));
      return pickle_case(w.take(), with_limits([](pthsafe::limits& l) { l.max_tree_bytes = 1 << 20; }));
    }
    case C::limit_tree_bytes_attrs: {
      // One state dict of 20,000 names applied to 50 Parameters: every attribute costs memory.
      pickle_writer w = started();
      w.empty_dict().mark();
      for (int i = 0; i < 20000; ++i) w.binunicode("a" + std::to_string(i)).none();
      w.setitems().put(0).pop().mark();
      for (int i = 0; i < 50; ++i) {
        w.global("torch._utils", "_rebuild_parameter_with_state").mark();
        good_tensor(w);
        w.newfalse();
        empty_hooks(w);
        w.get(0).tuple().reduce();
      }
      w.list().stop();
      return pickle_case(w.take(), with_limits([](pthsafe::limits& l) { l.max_tree_bytes = 4 << 20; }));
    }
    case C::numpy_array_bytes_mismatch:
    case C::numpy_array_shape_overflow:
    case C::numpy_dtype_object:
    case C::numpy_dtype_wrong_args:
    case C::numpy_dtype_structured_state:
    case C::limit_tree_bytes_numpy_copies: {
      // numpy.dtype(code, False, True) + BUILD state, as numpy pickles it.
      auto dtype = [](pickle_writer& w, std::string_view code, bool align, bool fields) {
        w.global("numpy", "dtype").binunicode(code).boolean(align).newtrue().tuple3().reduce();
        w.mark().integer(3).binunicode(fields ? "|" : "<").none();
        if (fields) w.binunicode("x").tuple1().empty_dict(); else w.none().none();
        w.integer(-1).integer(-1).integer(0).tuple().build();
      };
      // _reconstruct(ndarray, (0,), b'b') + BUILD (1, shape, dtype, False, data at memo 0).
      auto array = [&](pickle_writer& w, std::int64_t d0, std::int64_t d1, std::string_view code, bool align, bool fields) {
        w.global("numpy._core.multiarray", "_reconstruct").global("numpy", "ndarray").integer(0).tuple1()
            .short_binbytes("b").tuple3().reduce();
        w.mark().integer(1).integer(d0).integer(d1).tuple2();
        dtype(w, code, align, fields);
        w.newfalse().get(0).tuple().build();
      };
      pickle_writer w = started();
      const std::size_t data = c == C::limit_tree_bytes_numpy_copies ? 65536 : 40;
      w.op(pk::BINBYTES).u32(static_cast<std::uint32_t>(data)).raw(std::string(data, '\0')).put(0).pop();
      w.empty_list().mark();
      if (c == C::numpy_array_bytes_mismatch) array(w, 2, 3, "f8", false, false);
      if (c == C::numpy_array_shape_overflow) array(w, std::int64_t{1} << 62, std::int64_t{1} << 62, "f8", false, false);
      if (c == C::numpy_dtype_object) array(w, 5, 1, "O8", false, false);
      if (c == C::numpy_dtype_wrong_args) array(w, 5, 1, "f8", true, false);
      if (c == C::numpy_dtype_structured_state) array(w, 5, 1, "f8", false, true);
      if (c == C::limit_tree_bytes_numpy_copies)
        for (int i = 0; i < 40; ++i) array(w, 8192, 1, "f8", false, false);
      w.appends().stop();
      if (c == C::limit_tree_bytes_numpy_copies)
        return pickle_case(w.take(), with_limits([](pthsafe::limits& l) { l.max_tree_bytes = 1 << 20; }));
      return pickle_case(w.take());
    }
    case C::count_: break;
  }
  return {};
}

pthsafe::verdict expected_verdict(const case_def& d) {
  if (d.scan_says == scan::safe) return pthsafe::verdict::safe;
  if (d.scan_says == scan::unsafe) return pthsafe::verdict::unsafe;
  if (d.scan_says == scan::deflated) return pthsafe::verdict::malformed;
  return pthsafe::classify(d.expected) == pthsafe::error_class::refused ? pthsafe::verdict::unsafe
                                                                         : pthsafe::verdict::malformed;
}

}  // namespace

TEST_CASE("a deflated storage record loads inflated with a warning and scans malformed") {
  // torch.load inflates it; torch.load(mmap=True) reads the compressed bytes as the tensor.
  const bytes b = torch_checkpoint(good_pickle(), {{"0", float32_ramp(6), true}}).build();
  auto ck = pthsafe::checkpoint::open_buffer(b);
  REQUIRE_MESSAGE(ck, ck.error_value().to_string());
  auto t = ck->find_tensor("w");
  REQUIRE(t);
  REQUIRE(t->data() != nullptr);
  CHECK(std::memcmp(t->data(), float32_ramp(6).data(), 24) == 0);
  bool warned = false;
  for (const auto& w : ck->warnings()) warned = warned || w.find("deflated storage record") != std::string::npos;
  CHECK(warned);
  const auto rep = pthsafe::scan_buffer(b);
  CHECK(rep.verdict == pthsafe::verdict::malformed);
  REQUIRE(!rep.findings.empty());
  CHECK(rep.findings[0].rule == "storage_deflated");
  CHECK(rep.findings[0].record == "archive/data/0");
  // A deflated data.pkl or version record is read the same way by every torch mode: still safe.
  zip_builder z;
  z.add_deflated(rec("data.pkl"), good_pickle());
  z.add_deflated(rec("version"), to_bytes("3\n"));
  z.add(rec("data/0"), float32_ramp(6));
  const bytes other = z.build();
  REQUIRE(pthsafe::checkpoint::open_buffer(other));
  CHECK(pthsafe::scan_buffer(other).verdict == pthsafe::verdict::safe);
}

TEST_CASE("baseline archives of the catalogue load") {
  SUBCASE("torch style") {
    const bytes b = good_zip().build();
    auto ck = pthsafe::checkpoint::open_buffer(b);
    REQUIRE_MESSAGE(ck, ck.error_value().to_string());
    CHECK(ck->tensor_count() == 1);
    CHECK(ck->archive_name() == "archive");
    auto t = ck->find_tensor("w");
    REQUIRE(t);
    CHECK(t->numel() == 6);
    REQUIRE(t->data() != nullptr);
    CHECK(std::memcmp(t->data(), float32_ramp(6).data(), 24) == 0);
    CHECK(pthsafe::scan_buffer(b).verdict == pthsafe::verdict::safe);
  }
  SUBCASE("variants of a valid layout") {
    struct variant { const char* name; void (*apply)(zip_builder&); };
    const variant variants[] = {
        {"plain local headers", [](zip_builder& z) { z.layout.torch_style = false; }},
        {"no alignment", [](zip_builder& z) { z.layout.alignment = 0; }},
        {"no zip64 end records", [](zip_builder& z) { z.layout.zip64_end = false; }},
        {"EOCD sentinels", [](zip_builder& z) { z.layout.eocd_sentinels = true; }},
        {"zip64 extras everywhere", [](zip_builder& z) { for (auto& r : z.records) r.zip64_extra = true; }},
        {"EOCD comment", [](zip_builder& z) { z.layout.comment = to_bytes("a comment"); }},
        {"other root name", [](zip_builder& z) { for (auto& r : z.records) r.name = "model" + r.name.substr(7); }},
        {"deflated records", [](zip_builder& z) {
           zip_builder d;
           for (auto& r : z.records) d.add_deflated(r.name, r.payload);
           z.records = d.records;
         }},
        {"deflated storage only", [](zip_builder& z) {
           zip_builder d;
           d.add_deflated(rec("data/0"), z.record(rec("data/0")).payload);
           z.record(rec("data/0")) = d.records[0];
         }},
        {"no byteorder record", [](zip_builder& z) { z.remove(rec("byteorder")); }},
        {".data/version instead of version", [](zip_builder& z) { z.rename(rec("version"), rec(".data/version")); }},
        {"version without newline", [](zip_builder& z) { z.record(rec("version")).payload = to_bytes("3"); z.record(rec("version")).crc = crc32_of(to_bytes("3")); z.record(rec("version")).uncompressed_size = 1; }},
        {"unreferenced extra record", [](zip_builder& z) { z.add(rec("data/99"), float32_ramp(3)); }},
    };
    for (const auto& v : variants) {
      CAPTURE(v.name);
      auto z = good_zip();
      v.apply(z);
      const bytes b = z.build();
      for (auto mode : {pthsafe::load_mode::copy, pthsafe::load_mode::mmap}) {
        pthsafe::load_options o;
        o.mode = mode;
        o.verify_crc = true;
        auto ck = pthsafe::checkpoint::open_buffer(b, o);
        REQUIRE_MESSAGE(ck, ck.error_value().to_string());
        auto t = ck->find_tensor("w");
        REQUIRE(t);
        REQUIRE(t->data() != nullptr);
        CHECK(std::memcmp(t->data(), float32_ramp(6).data(), 24) == 0);
      }
    }
  }
}

TEST_CASE("corrupt-input catalogue: exact error codes") {
  std::size_t i = 0;
  const bool print = std::getenv("PTHSAFE_CATALOGUE_PRINT") != nullptr;  // review aid: every message
  for (const case_def& d : catalogue) {
    const std::string name = d.name;
    CAPTURE(name);
    REQUIRE(static_cast<std::size_t>(d.id) == i++);  // rows in enum order
    built b = make(d.id);
    auto r = pthsafe::checkpoint::open_buffer(b.file, b.opts);
    const errc got = r.code();
    if (print) std::fprintf(stderr, "%-40s %s\n", d.name, r ? "loaded" : r.error_value().to_string().c_str());
    CHECK_MESSAGE(got == d.expected, "got " << pthsafe::errc_name(got) << " expected " << pthsafe::errc_name(d.expected)
                                            << (r ? std::string() : " (" + r.error_value().to_string() + ")"));
    if (!r) {
      CHECK(r.error_value().message.find(d.message_has) != std::string::npos);
      CHECK_FALSE(r.error_value().message.empty());
    }
    // Loading in mmap mode reaches the same verdict (placement differs, checks do not).
    pthsafe::load_options mm = b.opts;
    mm.mode = pthsafe::load_mode::mmap;
    CHECK(pthsafe::checkpoint::open_buffer(b.file, mm).code() == d.expected);

    const auto report = pthsafe::scan_buffer(b.file, b.opts);
    CHECK_MESSAGE(report.verdict == expected_verdict(d), "scan said " << pthsafe::verdict_name(report.verdict));
    if (d.scan_says != scan::safe) {
      REQUIRE_FALSE(report.findings.empty());
      CHECK(report.findings.front().rule ==
            pthsafe::errc_name(d.scan_says == scan::deflated ? errc::storage_deflated : d.expected));
      CHECK(report.findings.front().severity == pthsafe::severity::error);
    }
  }
}

TEST_CASE("catalogue covers every zip, record, pickle and torch code that a file can produce") {
  // Codes no file can produce here: io_* (open_buffer reads no file), pickle_pending_mark
  // (values left at STOP are a warning, as CPython ignores them), the API usage codes,
  // legacy_format (no longer returned: legacy files are read), and
  // zip_parser_disagree: the strict walk refuses everything libzip 1.7 reads differently
  // (names, sizes, zip64 fields) before libzip is asked, so no archive reaches that check.
  const errc must[] = {
      errc::not_a_checkpoint, errc::preview_archive, errc::tar_format, errc::legacy_bad_header,
      errc::torchscript_archive, errc::zip_no_eocd, errc::zip_bad_eocd, errc::zip_bad_central_entry,
      errc::zip_libzip_rejected, errc::zip_local_header, errc::zip_gap, errc::zip_duplicate_name,
      errc::zip_bad_name, errc::zip_multiple_roots, errc::zip_no_root_folder, errc::zip_overlap, errc::zip_out_of_bounds,
      errc::zip_trailing_data, errc::zip_unsupported_flags, errc::zip_unsupported_method,
      errc::zip_crc_mismatch, errc::zip_inflate_failed, errc::zip_too_many_entries, errc::zip_inflate_limit,
      errc::missing_record, errc::bad_version_record, errc::bad_byteorder_record, errc::pickle_truncated,
      errc::pickle_unknown_opcode, errc::pickle_opcode_refused, errc::pickle_opcode_not_torch,
      errc::pickle_stack_underflow, errc::pickle_no_mark, errc::pickle_memo_missing, errc::pickle_bad_operand,
      errc::pickle_bad_text, errc::pickle_trailing_data, errc::pickle_global_refused, errc::pickle_global_blocked,
      errc::pickle_call_refused, errc::pickle_build_refused, errc::pickle_setitem_refused,
      errc::pickle_append_refused, errc::pickle_persid_refused, errc::pickle_cycle, errc::limit_exceeded,
      errc::bad_persistent_id, errc::bad_storage_type, errc::storage_size_mismatch, errc::storage_dtype_conflict,
      errc::bad_rebuild_args, errc::bad_dtype, errc::bad_device, errc::tensor_bad_geometry,
      errc::tensor_out_of_bounds, errc::unsupported_feature, errc::mmap_copy_refused,
      errc::zip_eocd_in_comment, errc::zip_ambiguous_eocd, errc::torchscript_code, errc::bad_storage_alignment_record,
      errc::pickle_stop_inside_frame,
  };
  for (errc code : must) {
    CAPTURE(pthsafe::errc_name(code));
    bool found = false;
    for (const case_def& d : catalogue) found = found || d.expected == code;
    CHECK(found);
  }
}

TEST_CASE("errors name the record and the byte offset") {
  SUBCASE("refused GLOBAL: record <root>/data.pkl, offset of the GLOBAL opcode") {
    pickle_writer w = started();
    w.empty_list().binput(0);  // 3 bytes before the GLOBAL
    const auto at = w.size();
    w.global("builtins", "eval").stop();
    const bytes file = good_zip(w.data()).build();
    auto r = pthsafe::checkpoint::open_buffer(file);
    REQUIRE(r.code() == errc::pickle_global_refused);
    CHECK(r.error_value().record == "archive/data.pkl");
    CHECK(r.error_value().offset == at);
    CHECK(r.error_value().message.find("builtins.eval") != std::string::npos);
    CHECK(r.error_value().to_string() == "archive/data.pkl@" + std::to_string(at) +
                                             ": pickle_global_refused: " + r.error_value().message);
    const auto rep = pthsafe::scan_buffer(file);
    REQUIRE(rep.findings.size() == 1);
    CHECK(rep.findings[0].record == "archive/data.pkl");
    CHECK(rep.findings[0].offset == at);
    CHECK(rep.findings[0].subject == "builtins.eval");
  }
  SUBCASE("blocked GLOBAL in a bare pickle: no record, offset in the file") {
    const bytes p = proto2("NNcposix\nsystem\n."sv);
    auto r = pthsafe::checkpoint::open_buffer(p);
    REQUIRE(r.code() == errc::pickle_global_blocked);
    CHECK(r.error_value().record.empty());
    CHECK(r.error_value().offset == 4);
  }
  SUBCASE("refused opcode: offset of the opcode") {
    auto r = pthsafe::checkpoint::open_buffer(good_zip(proto2("NN\x92."sv)).build());
    REQUIRE(r.code() == errc::pickle_opcode_refused);
    CHECK(r.error_value().record == "archive/data.pkl");
    CHECK(r.error_value().offset == 4);
    CHECK(r.error_value().message.find("NEWOBJ_EX") != std::string::npos);
  }
  SUBCASE("out-of-bounds view: offset of the REDUCE that rebuilds it") {
    tensor_spec t = w_spec();
    t.stride = {4, 1};
    t.storage_numel = 6;
    const bytes p = state_dict_pickle({t});
    // The last REDUCE of the stream: ... t q R q s . -> REDUCE sits 5 bytes before the end.
    const std::uint64_t reduce_at = p.size() - 5;
    REQUIRE(p[reduce_at] == std::byte{'R'});
    auto r = pthsafe::checkpoint::open_buffer(torch_checkpoint(p, {{"0", float32_ramp(6)}}).build());
    REQUIRE(r.code() == errc::tensor_out_of_bounds);
    CHECK(r.error_value().record == "archive/data.pkl");
    CHECK(r.error_value().offset == reduce_at);
  }
  SUBCASE("bytes after STOP: offset right after STOP") {
    bytes p = good_pickle();
    const auto n = p.size();
    append(p, "junk");
    auto r = pthsafe::checkpoint::open_buffer(good_zip(p).build());
    REQUIRE(r.code() == errc::pickle_trailing_data);
    CHECK(r.error_value().record == "archive/data.pkl");
    CHECK(r.error_value().offset == n);
  }
  SUBCASE("zip: bad name names the entry and its central header") {
    auto z = good_zip();
    z.add(rec("../evil"), "x");
    const bytes file = z.build();
    auto r = pthsafe::checkpoint::open_buffer(file);
    REQUIRE(r.code() == errc::zip_bad_name);
    CHECK(r.error_value().record == "archive/../evil");
    CHECK(r.error_value().offset == z.where.back().central_offset);
  }
  SUBCASE("zip: trailing data reports the file size") {
    auto z = good_zip();
    z.layout.trailing = to_bytes("tail");
    const bytes file = z.build();
    auto r = pthsafe::checkpoint::open_buffer(file);
    REQUIRE(r.code() == errc::zip_trailing_data);
    CHECK(r.error_value().record.empty());
    CHECK(r.error_value().offset == file.size());
  }
  SUBCASE("missing storage record is reported at its persistent id") {
    auto z = good_zip();
    z.remove(rec("data/0"));
    auto r = pthsafe::checkpoint::open_buffer(z.build());
    REQUIRE(r.code() == errc::missing_record);
    CHECK(r.error_value().record == "archive/data.pkl");
    CHECK(r.error_value().message.find("archive/data/0") != std::string::npos);
    const bytes p = good_pickle();
    CHECK(p[r.error_value().offset] == std::byte{'Q'});  // the BINPERSID
  }
  SUBCASE("CRC mismatch of data.pkl names the record") {
    auto z = good_zip();
    z.records[0].crc ^= 1;
    auto r = pthsafe::checkpoint::open_buffer(z.build());
    REQUIRE(r.code() == errc::zip_crc_mismatch);
    CHECK(r.error_value().record == "archive/data.pkl");
  }
}

TEST_CASE("storage CRC is checked only on request") {
  auto z = good_zip();
  z.record(rec("data/0")).crc ^= 1;
  const bytes file = z.build();
  CHECK(pthsafe::checkpoint::open_buffer(file).has_value());
  pthsafe::load_options o;
  o.verify_crc = true;
  auto r = pthsafe::checkpoint::open_buffer(file, o);
  REQUIRE(r.code() == errc::zip_crc_mismatch);
  CHECK(r.error_value().record == "archive/data/0");
}

// ---- the builders against a file torch wrote ------------------------------------------------------

namespace {
bytes read_fixture(const char* name) {
  std::ifstream f(std::string(PTHSAFE_FIXTURES) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return to_bytes(ss.str());
}
}  // namespace

TEST_CASE("the builders write exactly the bytes torch writes") {
  // tests/fixtures/state_dict.pth was written by torch.save (see fixtures/manifest.json).
  const bytes file = read_fixture("state_dict.pth");
  REQUIRE(file.size() > 1000);
  auto a = pthsafe::detail::archive::open(file, pthsafe::limits{});
  REQUIRE(a);
  const auto& zip = **a;

  SUBCASE("zip layout: records, FB padding, descriptors, zip64 end records") {
    zip_builder z;
    for (std::size_t i = 0; i < zip.entries().size(); ++i) {
      const auto b = zip.stored_bytes(i);
      REQUIRE(b);
      z.add(std::string(zip.name(i)), bytes(b->begin(), b->end()));
    }
    const bytes mine = z.build();
    CHECK(mine.size() == file.size());
    CHECK(mine == file);
  }
  SUBCASE("state_dict pickle") {
    auto spec = [](const char* key, const char* storage, std::vector<std::int64_t> shape, const char* type = "FloatStorage") {
      tensor_spec t;
      t.key = key;
      t.storage_key = storage;
      t.shape = std::move(shape);
      t.storage_type = type;
      return t;
    };
    const std::vector<tensor_spec> ts = {
        spec("0.weight", "0", {3, 2, 3, 3}), spec("0.bias", "1", {3}), spec("1.weight", "2", {3}),
        spec("1.bias", "3", {3}), spec("1.running_mean", "4", {3}), spec("1.running_var", "5", {3}),
        spec("1.num_batches_tracked", "6", {}, "LongStorage"), spec("3.weight", "7", {4, 12}), spec("3.bias", "8", {4})};
    const bytes mine = state_dict_pickle(ts);
    const auto idx = zip.find("data.pkl");
    REQUIRE(idx);
    const auto theirs = *zip.stored_bytes(*idx);
    // torch continues after SETITEMS with the BUILD of `_metadata`; everything before is equal.
    REQUIRE(theirs.size() > mine.size());
    CHECK(std::equal(mine.begin(), mine.end() - 1, theirs.begin()));
    CHECK(mine.back() == std::byte{'.'});
  }
}

// ---- check before allocate --------------------------------------------------------------------
//
// The largest single allocation made through operator new while a file is opened
// (support/allocation_probe.hpp).

namespace {
using pthsafe_test::largest_allocation_while;
constexpr bool count_allocations = pthsafe_test::allocation_probe_enabled;
/// A 10-byte pickle, deflated, whose directory entry claims `claim` uncompressed bytes.
bytes size_lie(const std::string& record, std::uint64_t claim) {
  pickle_writer w;
  w.proto(2).none().stop();
  zip_builder z;
  if (record == "data.pkl") z.add_deflated(rec("data.pkl"), w.data());
  else z.add(rec("data.pkl"), w.data());
  if (record == "version") z.add_deflated(rec("version"), to_bytes("3\n"));
  else z.add(rec("version"), "3\n");
  z.record(rec(record)).central_uncomp_size = claim;
  return z.build();
}
}  // namespace

TEST_CASE("limits hold for the bytes a baseline load allocates" * doctest::skip(!count_allocations)) {
  // Sanity of the measurement: a valid 24-byte-storage checkpoint allocates nothing big.
  const bytes file = good_zip().build();
  const std::size_t largest = largest_allocation_while([&] { CHECK(pthsafe::checkpoint::open_buffer(file)); });
  CHECK(largest > 0);
  CHECK(largest < (std::size_t{1} << 20));
}

// A deflated record whose directory entry claims far more than its bytes can inflate to is a bomb
// refused from the directory alone: neither load nor scan may size a buffer from the claim first
// (a ~300-byte file used to make both zero-fill up to max_inflated_bytes before refusing it).
TEST_CASE("a deflated record's claimed size is checked before it is allocated" *
          doctest::skip(!count_allocations)) {
  for (const std::string record : {"data.pkl", "version"}) {
    CAPTURE(record);
    const bytes file = size_lie(record, std::uint64_t{64} << 20);  // claims 64 MiB from 10 bytes
    const std::size_t largest = largest_allocation_while([&] {
      CHECK(pthsafe::checkpoint::open_buffer(file).code() == errc::zip_inflate_limit);
      CHECK(pthsafe::scan_buffer(file).verdict == pthsafe::verdict::malformed);
    });
    CHECK(largest < (std::size_t{1} << 20));
  }
}
