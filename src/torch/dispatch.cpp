// Which handler rebuilds each allowed global: one row per global_id, in enum order
// (static_assert), saying whether REDUCE alone or NEWOBJ too may call it. A global whose row
// says `refused` (dtypes, storage classes, qschemes: values, not callables) is never called.
// BUILD is dispatched on the kind of the object built.
#include <array>

#include "torch/rebuild.hpp"

namespace pthsafe::detail {
namespace {

using rebuilder = torch_rebuilder;
using handler = result<value*> (*)(rebuilder&, const rebuilder::call&);

// Which opcodes may call a global: functions only by REDUCE (`NEWOBJ` would be `f.__new__`),
// classes by REDUCE (`cls(*args)`) and NEWOBJ (`cls.__new__(cls, *args)`).
enum class callers : std::uint8_t { refused, by_reduce, by_reduce_or_newobj };

struct route {
  global_id id;
  callers by;
  handler fn;
};

template <std::size_t N>
constexpr bool one_row_per_id_in_order(const std::array<route, N>& rows) {
  for (std::size_t i = 0; i < N; ++i)
    if (static_cast<std::size_t>(rows[i].id) != i || (rows[i].by != callers::refused) != (rows[i].fn != nullptr)) return false;
  return N == global_id_count;
}

}  // namespace

result<value*> torch_rebuilder::reduce(value& callable, value& args) {
  if (callable.kind() != value_kind::global)
    return fail(errc::pickle_call_refused, "REDUCE on a " + std::string(value_kind_name(callable.kind())) + ", which is not callable");
  return dispatch({global_of(callable), callable, args, false});
}

result<value*> torch_rebuilder::newobj(value& cls, value& args) {
  if (cls.kind() != value_kind::global)
    return fail(errc::pickle_call_refused, "NEWOBJ on a " + std::string(value_kind_name(cls.kind())) + ", which is not a class");
  return dispatch({global_of(cls), cls, args, true});
}

result<value*> torch_rebuilder::refuse(const call& c) const {
  return fail(errc::pickle_call_refused,
              std::string(c.newobj ? "NEWOBJ" : "REDUCE") + " on " + std::string(c.callable.text()) + " is refused");
}

result<value*> torch_rebuilder::dispatch(const call& request) {
  using enum callers;
  using g = global_id;
  using r = rebuilder;
  using k = const call&;
  static constexpr std::array<route, global_id_count> routes{{
      {g::ordered_dict, by_reduce_or_newobj, [](r& t, k c) { return t.call_mapping(c); }},
      {g::counter, by_reduce_or_newobj, [](r& t, k c) { return t.call_mapping(c); }},
      {g::parameter, by_reduce_or_newobj, [](r& t, k c) { return t.call_parameter(c); }},
      {g::get_layout, by_reduce, [](r& t, k c) { return t.call_layout(c); }},
      {g::size, by_reduce_or_newobj, [](r& t, k c) { return t.call_size(c); }},
      {g::tensor, by_reduce_or_newobj, [](r& t, k c) { return t.call_empty_tensor(c); }},
      {g::device, by_reduce, [](r& t, k c) { return t.call_device(c); }},
      {g::codecs_encode, by_reduce, [](r& t, k c) { return t.call_encode(c); }},
      {g::bytearray, by_reduce_or_newobj, [](r& t, k c) { return t.call_bytearray(c); }},
      {g::set, by_reduce_or_newobj, [](r& t, k c) { return t.call_set(c); }},
      {g::complex, by_reduce_or_newobj, [](r& t, k c) { return t.call_complex(c); }},
      {g::dtype, refused, nullptr},
      {g::tensor_class, by_reduce_or_newobj, [](r& t, k c) { return t.call_empty_tensor(c); }},
      {g::storage_class, refused, nullptr},
      {g::typed_storage, refused, nullptr},
      {g::untyped_storage, refused, nullptr},
      {g::qscheme, refused, nullptr},
      {g::rebuild_parameter, by_reduce, [](r& t, k c) { return t.call_rebuild_parameter(c); }},
      {g::rebuild_parameter_with_state, by_reduce, [](r& t, k c) { return t.call_rebuild_parameter(c); }},
      {g::rebuild_qtensor, by_reduce, [](r& t, k c) { return t.rebuild_qtensor(c.args); }},
      {g::rebuild_tensor, by_reduce, [](r& t, k c) { return t.call_rebuild_tensor(c); }},
      {g::rebuild_tensor_v2, by_reduce, [](r& t, k c) { return t.call_rebuild_tensor_v2(c); }},
      {g::rebuild_tensor_v3, by_reduce, [](r& t, k c) { return t.call_rebuild_tensor_v2(c); }},
      {g::rebuild_sparse_tensor, by_reduce, [](r& t, k c) { return t.rebuild_sparse(c.args, false); }},
      {g::rebuild_meta_tensor_no_storage, by_reduce, [](r& t, k c) { return t.rebuild_meta(c.args); }},
      {g::rebuild_wrapper_subclass, by_reduce, [](r& t, k c) { return t.rebuild_wrapper_subclass(c.args); }},
      {g::rebuild_device_tensor_from_numpy, by_reduce,
       [](r& t, k c) -> result<value*> {
         return t.fail(errc::pickle_call_refused, std::string(c.callable.text()) + " needs numpy arrays; refused by policy");
       }},
      {g::rebuild_device_tensor_from_cpu_tensor, by_reduce, [](r& t, k c) { return t.rebuild_device_from_cpu(c.args); }},
      {g::rebuild_from_type_v2, by_reduce, [](r& t, k c) { return t.rebuild_from_type_v2(c.args); }},
      {g::caller_allowed, by_reduce_or_newobj, [](r& t, k c) { return t.call_object(c); }},
      {g::rebuild_sparse_csr_tensor, by_reduce, [](r& t, k c) { return t.rebuild_sparse(c.args, true); }},
      {g::jit_build_list, by_reduce, [](r& t, k c) { return t.call_jit_build_list(c); }},
      {g::jit_restore_type_tag, by_reduce, [](r& t, k c) { return t.call_restore_type_tag(c); }},
      {g::torchscript_class, by_reduce_or_newobj, [](r& t, k c) { return t.call_object(c); }},
      {g::torch_version, by_reduce_or_newobj, [](r& t, k c) { return t.call_torch_version(c); }},
      {g::numpy_scalar, by_reduce, [](r& t, k c) { return t.call_numpy_scalar(c); }},
      {g::numpy_dtype, by_reduce, [](r& t, k c) { return t.call_numpy_dtype(c); }},
      {g::numpy_reconstruct, by_reduce, [](r& t, k c) { return t.call_numpy_reconstruct(c); }},
      {g::numpy_ndarray, refused, nullptr},
  }};
  static_assert(one_row_per_id_in_order(routes), "one route per global_id, in enum order");
  const auto i = static_cast<std::size_t>(request.g.id);
  if (i >= routes.size() || routes[i].by == refused || (request.newobj && routes[i].by == by_reduce)) return refuse(request);
  return routes[i].fn(*this, request);
}

result<void> torch_rebuilder::build(value& inst, value& state) {
  switch (inst.kind()) {
    case value_kind::ordered_dict:
    case value_kind::dict: return build_mapping(inst, state);
    case value_kind::object: return build_object(inst, state);
    case value_kind::tensor: return build_tensor(inst, state);
    case value_kind::string:
      if (inst.is_torch_version()) return build_torch_version(state);
      break;
    case value_kind::dtype:
      if (value_access::tag(inst) & value_access::tag_numpy) return build_numpy_dtype(inst, state);
      break;
    case value_kind::ndarray: return build_ndarray(inst, state);
    default: break;
  }
  return fail(errc::pickle_build_refused,
                  "BUILD on a " + std::string(value_kind_name(inst.kind())) + "; only Tensor, Parameter and OrderedDict are built");
}

}  // namespace pthsafe::detail
