// torch's side of unpickling: persistent ids -> storages, allowed globals -> tensors and values.
// Implements the machine's call_target; never calls anything a file names.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/state.hpp"
#include "pickle/machine.hpp"

namespace pthsafe::detail {

class torch_rebuilder final : public call_target {
 public:
  /// `zip` may be null (a bare pickle has no storages: persistent ids then fail).
  torch_rebuilder(checkpoint_state& st, const archive* zip, const load_options& opts) : st_(st), zip_(zip), opts_(opts) {
    // At most one storage per record: sizing the map once avoids ~17 rehashes of every node
    // for a 100,000-storage state_dict (5 % of its load time, bench/NOTES.md).
    if (zip_) by_key_.reserve(zip_->entries().size());
  }
  void attach(const machine* m) { m_ = m; }
  /// Gate only: persistent ids of a pickle examined outside its archive (an extra record, bytes
  /// after STOP) name storages that cannot be read; they become empty placeholders so that the
  /// rest of the pickle is still judged.
  void use_placeholder_storages() { placeholders_ = true; }
  /// Legacy stream (torch 0.1.10-1.5): persistent ids are 6-tuples ending in view_metadata, and
  /// storage bytes follow the pickles in the file (read_legacy locates them afterwards).
  void use_legacy_ids() { legacy_ = true; }
  /// TorchScript archive: C++ storage class names, torch.jit._pickle helpers and __torch__
  /// classes are admitted; storages are the records `<prefix><key>` ("data/" for data.pkl,
  /// "constants/" for constants.pkl, whose keys keep the prefix to stay distinct).
  void use_torchscript(std::string prefix) {
    torchscript_ = true;
    prefix_ = std::move(prefix);
  }
  /// Every storage created so far, by key (views included).
  const std::unordered_map<std::string, storage_record*>& storages_by_key() const noexcept { return by_key_; }

  result<value*> reduce(value& callable, value& args) override;
  result<value*> newobj(value& cls, value& args) override;
  result<void> build(value& inst, value& state) override;
  result<value*> persistent_load(value& pid) override;
  std::optional<global_ref> resolve_global(std::string_view full) override;

 private:
  error fail(errc code, std::string msg) const;
  result<value*> alloc(value_kind k);
  result<value*> make_tensor(const value& storage, const value& offset, const value& size, const value& stride,
                             bool has_dtype, dtype type);
  result<value*> copy_tensor(const value& t);
  result<value*> rebuild_from_type_v2(value& args);
  result<void> set_obj_state(value& obj, const value& state);
  result<value*> call_class(global_ref g, value& callable, value& args, bool newobj);
  // A fresh tensor record (charged to the limits) and the value that holds it.
  result<tensor_record*> new_tensor_record();
  result<value*> tensor_value(tensor_record* t);
  // legacy.cpp: a 6-tuple's view_metadata (view_key, offset, size) over `root`.
  result<storage_record*> legacy_view(storage_record& root, const value& view_md);
  // quantized.cpp: _rebuild_qtensor.
  result<value*> rebuild_qtensor(value& args);
  result<const tensor_record*> qparam_tensor(const value& v, bool scales, bool float_qparams, std::int64_t length);
  // sparse.cpp: _rebuild_sparse_tensor (and 1.13's _rebuild_sparse_csr_tensor); the index
  // invariants are checked after placement (validate_sparse_tensors).
  result<value*> rebuild_sparse(value& args, bool csr_113);
  result<value*> rebuild_sparse_torchscript(value& args);
  result<void> finish_sparse(tensor_record& t);
  // nodata.cpp: tensors described without data of their own.
  result<value*> rebuild_meta(value& args);
  result<value*> rebuild_wrapper_subclass(value& args);
  result<value*> rebuild_device_from_cpu(value& args);

  checkpoint_state& st_;
  const archive* zip_;
  const load_options& opts_;
  const machine* m_ = nullptr;
  bool placeholders_ = false;
  bool legacy_ = false;
  bool torchscript_ = false;
  std::string prefix_ = "data/";
  std::unordered_map<std::string, storage_record*> by_key_;
};

/// Checks a view against its storage (policy.md "Tensors"); fills numel. Packed quantized
/// types (quint4x2, quint2x4) hold several elements per byte: their extent is counted in
/// elements and rounded up to bytes. Errors: tensor_bad_geometry, tensor_out_of_bounds.
result<void> validate_view(tensor_record& t, std::uint64_t storage_nbytes, const limits& lim);

/// Integers from a pickle value that must be a tuple, list or torch.Size of ints.
bool int_sequence(const value& v, std::vector<std::int64_t>& out);

}  // namespace pthsafe::detail
