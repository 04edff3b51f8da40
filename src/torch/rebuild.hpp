// torch's side of unpickling: persistent ids -> storages, allowed globals -> tensors and values.
// Implements the machine's call_target; never calls anything a file names.
#pragma once

#include <string>
#include <unordered_map>

#include "core/state.hpp"
#include "pickle/machine.hpp"

namespace pthsafe::detail {

class torch_rebuilder final : public call_target {
 public:
  /// `zip` may be null (a bare pickle has no storages: persistent ids then fail).
  torch_rebuilder(checkpoint_state& st, const archive* zip, const load_options& opts) : st_(st), zip_(zip), opts_(opts) {}
  void attach(const machine* m) { m_ = m; }
  /// Gate only: persistent ids of a pickle examined outside its archive (an extra record, bytes
  /// after STOP) name storages that cannot be read; they become empty placeholders so that the
  /// rest of the pickle is still judged.
  void use_placeholder_storages() { placeholders_ = true; }

  result<value*> reduce(value& callable, value& args) override;
  result<value*> newobj(value& cls, value& args) override;
  result<void> build(value& inst, value& state) override;
  result<value*> persistent_load(value& pid) override;

 private:
  error fail(errc code, std::string msg) const;
  result<value*> alloc(value_kind k);
  result<value*> make_tensor(const value& storage, const value& offset, const value& size, const value& stride,
                             bool has_dtype, dtype type);
  result<value*> copy_tensor(const value& t);
  result<value*> rebuild_from_type_v2(value& args);
  result<void> set_obj_state(value& obj, const value& state);
  result<value*> call_class(global_ref g, value& callable, value& args, bool newobj);

  checkpoint_state& st_;
  const archive* zip_;
  const load_options& opts_;
  const machine* m_ = nullptr;
  bool placeholders_ = false;
  std::unordered_map<std::string, storage_record*> by_key_;
};

/// Checks a view against its storage (policy.md "Tensors"); fills numel.
/// Errors: tensor_bad_geometry, tensor_out_of_bounds.
result<void> validate_view(tensor_record& t, std::uint64_t storage_nbytes, const limits& lim);

}  // namespace pthsafe::detail
