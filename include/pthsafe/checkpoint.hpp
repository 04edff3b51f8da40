// pthsafe/checkpoint.hpp - an opened, fully validated checkpoint and everything it owns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/options.hpp"
#include "pthsafe/tensor.hpp"
#include "pthsafe/value.hpp"

namespace pthsafe {

namespace detail { struct checkpoint_state; }

/// Container a checkpoint was read from: a torch.save zip (torch >= 1.6), a legacy stacked-pickle
/// stream (torch 0.1.10-1.5 or _use_new_zipfile_serialization=False), a TorchScript archive
/// (only with load_options::allow_torchscript), or a bare pickle without storages.
enum class container_format : std::uint8_t { zip, legacy, torchscript, pickle };
PTHSAFE_API std::string_view container_format_name(container_format f) noexcept;  ///< "zip", "legacy", ...

/// A loaded checkpoint. Owns the file mapping (or a reference to the caller's buffer), the
/// storages, the tensors and the value tree; every view it hands out borrows from it.
/// Obtained only from open()/open_buffer(), which validate the whole file before returning:
/// a checkpoint that exists is consistent. Move-only.
///
/// Lifetime rules (docs/api.md), enforced where the compiler can:
///  - every member returning a view (root, constants, archive_name, tensor, storage, find,
///    find_tensor, warnings) is callable on an lvalue only: on a temporary checkpoint the view
///    would dangle, so `checkpoint::open(p)->root()`, `checkpoint::open(p).value().root()` and
///    `std::move(ck).tensor(0)` do not compile;
///  - a moved-from checkpoint may only be assigned to or destroyed: any other member throws
///    precondition_error("checkpoint: used after move").
class PTHSAFE_API checkpoint {
 public:
  /// Opens and loads `path`. The file is mapped read-only; in load_mode::mmap the mapping
  /// stays alive as long as this object. Errors: any errc (io_*, zip_*, pickle_*, ...).
  /// Threads: open and open_buffer may start short-lived helper threads where a second CPU is
  /// usable (copy-mode reads of large totals; for an archive of 4,096+ records or a data.pkl of
  /// 1 MiB+, the local-header check and the pickle's memo walk); all are joined before they
  /// return, and the result is the one-thread result.
  static result<checkpoint> open(const std::string& path, const load_options& opts = {});
  /// Loads from a caller's buffer, which must outlive the checkpoint in load_mode::mmap
  /// (views point into it) and must not change while open_buffer runs.
  static result<checkpoint> open_buffer(std::span<const std::byte> bytes,
                                        const load_options& opts = {});

  checkpoint(checkpoint&&) noexcept;
  checkpoint& operator=(checkpoint&&) noexcept;
  ~checkpoint();

  // Every member below throws precondition_error on a moved-from checkpoint.

  /// The unpickled object (a state_dict is an ordered_dict of str -> tensor). TorchScript
  /// archives: data.pkl, the scripted module as an inert object whose state holds its
  /// attributes (parameters, buffers, submodules).
  const value& root() const&;
  const value& root() const&& = delete;
  /// TorchScript archives (load_options::allow_torchscript): the tuple of constants.pkl, whose
  /// tensors are the records constants/<key> (storage keys "constants/<key>"). Null otherwise.
  const value* constants() const&;
  const value* constants() const&& = delete;
  container_format format() const;
  bool big_endian() const;                  ///< byteorder record said "big"
  /// Top folder of the zip ("model", "archive"); empty for other containers.
  std::string_view archive_name() const&;
  std::string_view archive_name() const&& = delete;
  load_mode mode() const;

  /// Every tensor of the tree, in pickle order (one entry per rebuild call).
  std::size_t tensor_count() const;
  /// Requires i < tensor_count() (precondition_error otherwise).
  tensor_view tensor(std::size_t i) const&;
  tensor_view tensor(std::size_t i) const&& = delete;
  /// Every distinct storage, in first-reference order.
  std::size_t storage_count() const;
  /// Requires i < storage_count() (precondition_error otherwise).
  storage_view storage(std::size_t i) const&;
  storage_view storage(std::size_t i) const&& = delete;
  /// Sum of storage bytes (each shared storage counted once).
  std::uint64_t storage_bytes() const;

  /// Looks a value up by key path: components separated by '/', each a dict key (string keys,
  /// or decimal for integer keys) or a list/tuple index. "model/fc.weight" finds
  /// root["model"]["fc.weight"]; a key containing '/' is found whole when it exists at that
  /// level. Through an inert object (a caller-allowed class, a TorchScript module) a path goes
  /// into its BUILD state: "lin/weight" of a scripted module. Errors: not_found.
  result<const value*> find(std::string_view path) const&;
  result<const value*> find(std::string_view path) const&& = delete;
  /// find() that also requires a tensor. Errors: not_found, type_mismatch.
  result<tensor_view> find_tensor(std::string_view path) const&;
  result<tensor_view> find_tensor(std::string_view path) const&& = delete;

  /// The most value visits a walker of root() should make, counting a shared subtree once per
  /// path to it: limits::max_walk_nodes, lowered to 16 visits per value the file created (plus
  /// 64 Ki) so that memo "billion laughs" stay cheap to refuse. inspect_json honours it.
  std::uint64_t walk_budget() const;
  /// The most bytes a serialisation of root() should write: limits::max_output_bytes. Shared
  /// references to one large str or bytes value repeat it in the output (a 100-byte file can
  /// reference a 100 MB bytearray thousands of times), so node counts alone do not bound it.
  std::uint64_t output_budget() const;

  /// load_mode::mmap: tells the OS the whole pages inside `bytes` (e.g. part of a mapped
  /// storage already consumed) may leave this process's memory now. The bytes stay valid: they are
  /// read from the file again on next access. For streaming a large file through once (convert,
  /// a copy to a device) with memory bounded independently of its size. A no-op for owned copies,
  /// caller buffers and bytes outside the mapping.
  void release_pages(std::span<const std::byte> bytes) const noexcept;

  /// Warnings collected while loading (e.g. "opcode FRAME: torch weights_only would refuse").
  std::span<const std::string> warnings() const&;
  std::span<const std::string> warnings() const&& = delete;

 private:
  checkpoint() = default;
  friend struct detail::checkpoint_state;
  const detail::checkpoint_state& state() const;  // s_, or precondition_error after a move
  std::unique_ptr<detail::checkpoint_state> s_;
};

}  // namespace pthsafe
