// pthsafe/save.hpp - writing checkpoints: a tree of Python values and tensors saved as the
// zip-format `.pth` that torch.save writes and torch.load(weights_only=True) reads (torch 1.13
// and 2.x), without Python.
//
// What is written is what torch 2.x's torch.save writes for the same objects: pickle protocol 2
// with the same opcodes and memo use (every str, tuple, list, dict and global memoized, repeated
// globals and the shared persistent-id strings fetched from the memo), persistent ids
// ("storage", torch.<T>Storage, key, "cpu", numel), records `<name>/data.pkl`,
// `.format_version`, `.storage_alignment`, `byteorder`, `data/<key>` (storages numbered in
// first-use order), `version` and `.data/serialization_id` (computed as torch computes it),
// every record stored uncompressed with its data 64-byte aligned, CRC-32s in data descriptors,
// and the zip64 end records torch always writes (zip64 sizes and offsets where a value passes
// 4 GiB). docs/save.md lists the choices and the byte-identity tests against torch.save.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pthsafe/dtype.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"

namespace pthsafe {

class safetensors_file;
class tensor_view;
class value;

/// A dense tensor to save: its geometry over a storage held by the caller (not copied: it must
/// stay alive and unchanged until save returns). Tensors whose `storage` spans are the same
/// bytes (same address and length) share one storage record, as views of one torch storage do;
/// they must then agree on `type`.
struct save_tensor {
  dtype type = dtype::float32;
  std::vector<std::int64_t> shape;
  /// In elements; empty means contiguous (row-major) for `shape`.
  std::vector<std::int64_t> stride;
  /// In elements.
  std::int64_t storage_offset = 0;
  /// The whole storage: a whole number of elements of `type`; every element the geometry
  /// reaches must lie inside it (checked by save).
  std::span<const std::byte> storage;
  bool requires_grad = false;
  /// Written as torch.nn.Parameter (torch._utils._rebuild_parameter), as torch.save writes a
  /// Parameter; requires_grad is then the Parameter's.
  bool parameter = false;
};

/// A tensor of a loaded checkpoint as a save_tensor, zero-copy: its storage bytes are borrowed
/// from the checkpoint, which must outlive their use. Errors: save_unsupported (no storage bytes:
/// metadata mode, meta, sparse, quantized, subclass tensors, conjugate or negative bit set).
PTHSAFE_API result<save_tensor> save_tensor_from(const tensor_view& t);

/// A value to save: None, bool, int (int64), float (double), str (UTF-8), list, tuple, dict,
/// collections.OrderedDict, or a tensor. A value owns its children; tensors borrow their
/// storage bytes (save_tensor). Copyable and movable; building is the caller's thread's work.
/// Misuse (append on a dict, set on a list, ...) throws precondition_error.
class PTHSAFE_API save_value {
 public:
  enum class kind : std::uint8_t { none, boolean, integer, floating, string, list, tuple, dict, ordered_dict, tensor };

  save_value() noexcept;  ///< None
  save_value(std::nullptr_t) noexcept;  // NOLINT(google-explicit-constructor): None, as in Python
  save_value(bool b);                    // NOLINT(google-explicit-constructor)
  save_value(int i);                     // NOLINT(google-explicit-constructor)
  save_value(std::int64_t i);            // NOLINT(google-explicit-constructor)
  save_value(double d);                  // NOLINT(google-explicit-constructor)
  save_value(std::string s);             // NOLINT(google-explicit-constructor)
  save_value(const char* s);             // NOLINT(google-explicit-constructor)
  save_value(save_tensor t);             // NOLINT(google-explicit-constructor)
  save_value(const save_value& other);
  save_value(save_value&& other) noexcept;
  save_value& operator=(const save_value& other);
  save_value& operator=(save_value&& other) noexcept;
  ~save_value();

  static save_value list();
  static save_value tuple();
  static save_value dict();          ///< a plain dict (keys in insertion order)
  static save_value ordered_dict();  ///< collections.OrderedDict, what state_dict() returns

  /// list, tuple: appends. Returns *this. Requires a list or tuple.
  save_value& append(save_value item);
  /// dict, ordered_dict: appends the pair (a key given twice is refused by save, as Python
  /// would keep only one). Keys are str, int, float, bool or None. Requires a dict kind.
  save_value& set(save_value key, save_value item);
  /// ordered_dict: attributes pickled after the items (BUILD), as an OrderedDict's `_metadata`
  /// is: `state` is a dict of str keys. Requires an ordered_dict and a dict state.
  save_value& set_state(save_value state);

  kind type() const noexcept;

  /// A tensor of a loaded checkpoint, zero-copy: its storage bytes are borrowed from the
  /// checkpoint, which must outlive the save. Errors: save_unsupported (no storage bytes:
  /// metadata mode, meta, sparse, quantized, or subclass tensors).
  static result<save_value> from(const tensor_view& t);
  /// A loaded value tree, tensors zero-copy as above; tensors sharing a storage still share
  /// it. Errors: save_unsupported naming the first value the writer cannot express (bytes,
  /// sets, complex, ints beyond int64, torch.Size/dtype/device values, objects).
  static result<save_value> from(const value& v);

 private:
  friend struct save_access;
  struct node;
  std::unique_ptr<node> n_;
};

struct save_options {
  /// The top folder of every record. Empty: derived from the output path as torch derives it
  /// (the file name up to its last '.': "ckpt.pth" -> "ckpt"; "archive" when that is empty or
  /// not ASCII, and for streams).
  std::string archive_name;
  /// Write the `byteorder` record (torch >= 1.13's default).
  bool byteorder_record = true;
  /// save(path) only: called with the complete temporary file before it is renamed over the
  /// target (e.g. to read it back and compare); an error leaves the target untouched and is
  /// returned by save.
  std::function<result<void>(const std::filesystem::path& written)> verify;
  /// Called as the output grows (after each piece handed to the file or sink): bytes written so
  /// far and the whole file's size, known before the first byte. Calls are in order and end with
  /// done == total. For a progress display; it must not throw.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
  /// Called with each piece of tensor bytes (at most 64 MiB) once it has been handed to the
  /// output, e.g. checkpoint::release_pages, so that streaming a mapped file through keeps memory
  /// bounded. It must not throw.
  std::function<void(std::span<const std::byte>)> consumed;
};

/// Writes `root` to `path` atomically: the bytes go to a temporary file beside it, are flushed
/// to disk, then renamed over `path`, so a crash or an error never leaves a partial file and
/// an existing file is replaced only by a complete one. Errors: save_unsupported,
/// save_bad_tensor (geometry outside its storage, a storage viewed as two dtypes, a storage
/// that is not a whole number of elements), save_duplicate_key, io_write (the message names
/// the system error). Output is a pure function of `root` and the options: byte-identical
/// across runs.
PTHSAFE_API result<void> save(const save_value& root, const std::filesystem::path& path,
                              const save_options& opts = {});

/// Writes `root` through `sink` (called with consecutive chunks; returns false to abort with
/// io_write). The archive is named "archive" unless opts.archive_name is set.
PTHSAFE_API result<void> save(const save_value& root,
                              const std::function<bool(std::span<const std::byte>)>& sink,
                              const save_options& opts = {});

/// Whole file in memory (tests, small checkpoints).
PTHSAFE_API result<std::vector<std::byte>> save_to_bytes(const save_value& root, const save_options& opts = {});

/// Checks that `loaded` (a file read back) holds exactly `saved`: the same kinds, scalars, str,
/// keys in order, OrderedDict state, and tensors with the same dtype, geometry, requires_grad and
/// storage bytes. Errors: save_verify_mismatch naming the first difference by its path.
/// Storage bytes are compared 64 MiB at a time, each piece of both sides passed to `consumed`
/// (when set) once compared, e.g. to release mapped pages.
PTHSAFE_API result<void> verify_saved(const save_value& saved, const value& loaded,
                                      const std::function<void(std::span<const std::byte>)>& consumed = {});

/// One tensor of a safetensors file to write.
struct named_tensor {
  std::string name;
  save_tensor tensor;
};

/// Writes a `.safetensors` file as the safetensors package's save_file does: an 8-byte length,
/// the JSON header (tensors sorted by dtype alignment, largest first, then by name; `__metadata__`
/// first, its keys sorted; padded with spaces to a multiple of 8), then each tensor's elements in
/// C order, little-endian (non-contiguous tensors are gathered; nothing else is copied).
/// Tensors that view the same bytes with the same geometry (tied weights) are written once, under
/// the first name; each other name is recorded in the metadata as `other -> kept`, as
/// safetensors.torch.save_model does. Tensors whose bytes overlap otherwise are refused
/// (save_bad_tensor naming them), as save_file refuses them. Errors: save_unsupported (a dtype
/// safetensors has no name for: complex128, complex32, quantized), save_bad_tensor,
/// save_duplicate_key (a name twice, or a metadata key that is also a recorded duplicate), io_write.
/// Atomic and verified like save() when written to a path.
PTHSAFE_API result<void> save_safetensors(std::span<const named_tensor> tensors,
                                          const std::vector<std::pair<std::string, std::string>>& metadata,
                                          const std::filesystem::path& path, const save_options& opts = {});
PTHSAFE_API result<std::vector<std::byte>> save_safetensors_to_bytes(
    std::span<const named_tensor> tensors, const std::vector<std::pair<std::string, std::string>>& metadata);

/// Checks that `written` (a safetensors file read back) holds exactly `tensors`: every name with
/// its dtype, shape and elements in C order, or, for a tied name save_safetensors wrote once,
/// the metadata entry naming the kept tensor, which holds the same elements. Element bytes are
/// compared 64 MiB at a time, each piece of the file passed to `consumed` (when set).
/// Errors: save_verify_mismatch naming the first difference.
PTHSAFE_API result<void> verify_saved_safetensors(std::span<const named_tensor> tensors, const safetensors_file& written,
                                                  const std::function<void(std::span<const std::byte>)>& consumed = {});

/// The top folder torch.save gives a file written to `path` (see save_options::archive_name).
PTHSAFE_API std::string archive_name_for(const std::filesystem::path& path);

}  // namespace pthsafe
