// torch's side of unpickling: persistent ids -> storages, allowed globals -> tensors and values.
// Implements the machine's call_target; never calls anything a file names.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "model/state.hpp"
#include "pickle/machine.hpp"
#include "torch/storage_keys.hpp"
#include "util/keyed_hash.hpp"

namespace pthsafe::detail {

class torch_rebuilder final : public call_target {
 public:
  /// `zip` may be null (a bare pickle has no storages: persistent ids then fail).
  // At most one storage per record: the index is sized once from the archive's record count.
  torch_rebuilder(checkpoint_state& st, const archive* zip, const load_options& opts)
      : st_(st), zip_(zip), opts_(opts), by_key_(st.storages, zip ? zip->entries().size() : 0) {}
  void attach(const machine* m) { m_ = m; }
  /// _rebuild_tensor_v2/v3 copy shape, stride and the storage record out of their arguments and
  /// return a new tensor node; OrderedDict() (no arguments: a tensor's backward hooks) returns a
  /// new empty dict; zip persistent ids are read into a storage record and answered with a new
  /// storage node. Every other call may keep its arguments (inert objects do).
  bool consumes_reduce_args(const value& callable, const value& args) const override {
    if (callable.kind() != value_kind::global) return false;
    const global_id id = global_of(callable).id;
    return id == global_id::rebuild_tensor_v2 || id == global_id::rebuild_tensor_v3 ||
           (id == global_id::ordered_dict && args.items().empty());
  }
  bool consumes_persistent_ids() const override { return !legacy_; }
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
  /// Storages by the key torch files them under: the persistent id's key as written (the int 5
  /// and the str '5' would be two storages; pthsafe refuses the second, see storage_keys).
  /// Views included.
  const storage_keys& storages_by_key() const noexcept { return by_key_; }
  /// How a storage key value is spelt ("5" for the int 5 and the str '5'), or nullopt for a kind
  /// pthsafe does not accept as a key (neither str nor int).
  static std::optional<std::string> shown_storage_key(const value& key);

  /// One REDUCE or NEWOBJ of an allowed global, as its handler (dispatch.cpp) receives it.
  struct call {
    global_ref g;
    value& callable;  // the global called
    value& args;      // its argument tuple
    bool newobj;      // cls.__new__(cls, *args) rather than callable(*args)
  };

  result<value*> reduce(value& callable, value& args) override;
  result<value*> newobj(value& cls, value& args) override;
  result<void> build(value& inst, value& state) override;
  result<value*> persistent_load(value& pid) override;
  std::optional<global_ref> resolve_global(std::string_view full) override;
  bool rebuilds_tensor_v2_typed() const override { return true; }
  result<value*> rebuild_tensor_v2(value& storage, std::int64_t offset, std::span<const std::int64_t> size,
                                   std::span<const std::int64_t> stride, bool requires_grad) override;

 private:
  error fail(errc code, std::string msg) const;
  result<value*> alloc(value_kind k);
  result<value*> make_tensor(const value& storage, const value& offset, const value& size, const value& stride,
                             bool has_dtype, dtype type);
  // make_tensor from the tensor-count limit on, for `storage` a storage node: `fill(shape,
  // strides)` writes the dims (and may refuse them) once they are charged and made.
  template <class Fill>
  result<value*> tensor_of(const value& storage, std::int64_t offset, std::size_t ns, std::size_t nt, bool has_dtype, dtype type,
                           Fill&& fill);
  // as_subclass / Parameter(): a new tensor object over the same data; `keep_attrs` copies the
  // Python attributes (a new object made by as_subclass starts without them).
  result<value*> copy_tensor(const value& t, bool keep_attrs = true);
  result<value*> rebuild_from_type_v2(value& args);
  // dispatch.cpp: the route of every global_id to its handler; BUILD by the kind built.
  result<value*> dispatch(const call& c);
  result<value*> refuse(const call& c) const;
  // rebuild.cpp: tensors and parameters.
  result<value*> call_rebuild_tensor(const call& c);
  result<value*> call_rebuild_tensor_v2(const call& c);  // _rebuild_tensor_v2 and _v3
  result<value*> call_rebuild_parameter(const call& c);  // with and without state
  result<value*> call_parameter(const call& c);          // Parameter(tensor[, requires_grad])
  result<value*> call_empty_tensor(const call& c);       // torch.Tensor(), torch.FloatTensor()
  result<void> build_tensor(value& inst, const value& state);
  // containers.cpp: OrderedDict, Counter, set; caller-allowed and TorchScript objects.
  result<value*> call_mapping(const call& c);
  result<value*> call_set(const call& c);
  result<value*> call_object(const call& c);
  result<void> build_mapping(value& inst, const value& state);
  result<void> build_object(value& inst, value& state);
  result<void> set_obj_state(value& obj, const value& state);
  // scalars.cpp: complex, bytearray, _codecs.encode, torch.Size, torch.device, _get_layout.
  result<value*> call_complex(const call& c);
  result<value*> call_bytearray(const call& c);
  result<value*> call_encode(const call& c);
  result<value*> call_size(const call& c);
  result<value*> call_device(const call& c);
  result<value*> call_layout(const call& c);
  // torchscript.cpp: torch.jit._pickle helpers, which return their argument.
  result<value*> call_jit_build_list(const call& c);
  result<value*> call_restore_type_tag(const call& c);
  // numpy.cpp: TorchVersion, numpy scalars and arrays (beyond torch's allowlist).
  result<void> beyond_torch(const call& c);
  result<value*> call_torch_version(const call& c);
  result<void> build_torch_version(const value& state);
  result<value*> call_numpy_dtype(const call& c);
  result<void> build_numpy_dtype(value& inst, const value& state);
  result<value*> call_numpy_scalar(const call& c);
  result<value*> call_numpy_reconstruct(const call& c);
  result<void> build_ndarray(value& inst, const value& state);
  // tensor_state.cpp: torch 2.x's _set_obj_state on a tensor, attribute by attribute.
  result<void> apply_tensor_state(value& t, const value& state);
  result<void> set_tensor_attr(value& t, std::string_view name, const value& v);
  result<void> set_attr(value& obj, std::string_view name, const value* v);
  result<void> check_requires_grad(const tensor_record& t, bool requires_grad);
  result<void> apply_conj_neg(tensor_record& t, const value& meta);
  // A fresh tensor record (charged to the limits) and the value that holds it.
  result<tensor_record*> new_tensor_record();
  // A charged copy of `e` in the arena, for the record of a quantized, sparse or subclass tensor.
  result<const tensor_extra*> new_extra(const tensor_extra& e);
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
  result<void> set_sparse_shape(tensor_record& t, const value& size);
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
  // A tensor_state_version_dependent warning was given for this pickle (once is enough).
  bool warned_state_version_ = false;
  // A beyond_torch_allowlist warning was given for this global in this pickle (torch_version ...).
  std::array<bool, 5> warned_beyond_{};
  std::string prefix_ = "data/";
  storage_keys by_key_;
  // Indexed attribute names of objects with many attributes (set_attr).
  using attr_map = std::unordered_map<std::string, std::size_t, keyed_string_hash, std::equal_to<>>;
  std::unordered_map<const value*, attr_map> attr_index_;
};

/// True when a _set_obj_state state (a dict, or a (dict, slots) pair) names an attribute torch's
/// Tensor class defines (`data`, `requires_grad`, ...): applying it changes the tensor itself, not
/// just its Python attributes.
bool tensor_state_sets_class_attr(const value& state) noexcept;

/// torch's isDifferentiableType: floating and complex dtypes (requires_grad is refused on others).
bool can_require_grad(dtype t) noexcept;
/// dtypes whose negative bit pthsafe applies when it reports values (inspect's apply_bits); a
/// neg bit on any other dtype is refused (bool: torch loads it but cannot read its values).
bool neg_readable(dtype t) noexcept;

/// Checks a view against its storage (docs/policy.md "Tensors"); fills numel. Packed quantized
/// types (quint4x2, quint2x4) hold several elements per byte: their extent is counted in
/// elements and rounded up to bytes. Errors: tensor_bad_geometry, tensor_out_of_bounds.
result<void> validate_view(tensor_record& t, std::uint64_t storage_nbytes, const limits& lim);
/// validate_view's first checks: at most dims_limit sizes, as many strides as sizes (so that a
/// record can hold them: tensor_record::set_dims). Errors: limit_exceeded, tensor_bad_geometry.
result<void> check_dim_counts(std::size_t shape_n, std::size_t stride_n, const limits& lim);

/// torch device strings: "<type>" or "<type>:<index>", type a lowercase identifier
/// (scalars.cpp; also checks storage locations).
bool valid_device(std::string_view s);

/// Integers from a pickle value that must be a tuple, list or torch.Size of ints.
bool int_sequence(const value& v, std::vector<std::int64_t>& out);

}  // namespace pthsafe::detail
