// Tensors a file describes without bytes of their own:
//  * _rebuild_meta_tensor_no_storage(dtype, size, stride, requires_grad): a "meta" tensor;
//  * _rebuild_wrapper_subclass(cls, dtype, size, stride, storage_offset, layout, device,
//    requires_grad): a wrapper subclass whose data live elsewhere (its class must be a
//    caller-allowed global, as torch needs it allowlisted too);
//  * _rebuild_device_tensor_from_cpu_tensor(cpu_tensor, dtype, device, requires_grad): an
//    XLA/MAIA/MTIA tensor saved through a CPU copy: the CPU tensor's data, the recorded device.
// Geometry is checked as for any tensor (non-negative, no overflow); there is no storage bound.
#include <limits>
#include <vector>

#include "model/state.hpp"
#include "torch/rebuild.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

// The dtype of a dtype value; false for the shell dtypes (uint1-7, int1-7) no tensor can have.
bool tensor_dtype(const value& v, dtype& out) {
  if (v.kind() != value_kind::dtype || va::i(const_cast<value&>(v)) < 0) return false;
  out = v.as_dtype();
  return true;
}

// Gives t the dims and checks the view with no storage bound (only the geometry itself can be
// wrong; an unbounded "storage" checks overflow). The counts first, as validate_view checks
// them, so that the record can hold the dims; `dims` keeps the array until the record copies it.
result<void> storageless_geometry(tensor_record& t, const std::vector<std::int64_t>& shape,
                                  const std::vector<std::int64_t>& stride, std::vector<std::int64_t>& dims,
                                  const limits& lim) {
  PTHSAFE_TRY(check_dim_counts(shape.size(), stride.size(), lim));
  dims = shape;
  dims.insert(dims.end(), stride.begin(), stride.end());
  t.set_dims(dims.data(), shape.size(), stride.size());
  return validate_view(t, std::numeric_limits<std::uint64_t>::max(), lim);
}

}  // namespace

result<value*> torch_rebuilder::rebuild_meta(value& args) {
  const auto a = args.items();
  if (a.size() != 4) return fail(errc::bad_rebuild_args, "_rebuild_meta_tensor_no_storage takes 4 arguments");
  tensor_record t;
  if (!tensor_dtype(*a[0], t.type)) return fail(errc::bad_dtype, "meta tensor dtype is not a tensor dtype");
  std::vector<std::int64_t> shape, stride;
  if (!int_sequence(*a[1], shape) || !int_sequence(*a[2], stride))
    return fail(errc::bad_rebuild_args, "meta tensor size and stride must be tuples of ints");
  if (a[3]->kind() != value_kind::boolean) return fail(errc::bad_rebuild_args, "meta tensor requires_grad is not a bool");
  std::vector<std::int64_t> dims;
  if (auto r = storageless_geometry(t, shape, stride, dims, opts_.limits); !r)
    return fail(r.error_value().code, r.error_value().message + " (meta tensor)");
  t.set_device("meta");
  t.requires_grad = a[3]->as_bool();
  PTHSAFE_ASSIGN(auto rec, new_tensor_record());
  *rec = t;
  st_.own_dims(*rec);  // validated: at most max_dims, charged by new_tensor_record
  return tensor_value(rec);
}

result<value*> torch_rebuilder::rebuild_wrapper_subclass(value& args) {
  const auto a = args.items();
  if (a.size() != 8) return fail(errc::bad_rebuild_args, "_rebuild_wrapper_subclass takes 8 arguments");
  const value& cls = *a[0];
  if (cls.kind() != value_kind::global) return fail(errc::bad_rebuild_args, "wrapper subclass is not a class");
  const global_id cid = global_of(cls).id;
  if (cid != global_id::caller_allowed && cid != global_id::tensor)
    return fail(errc::pickle_call_refused, "wrapper subclass " + std::string(cls.text()) + " is not an allowed class");
  tensor_record t;
  if (!tensor_dtype(*a[1], t.type)) return fail(errc::bad_dtype, "wrapper subclass dtype is not a tensor dtype");
  std::vector<std::int64_t> shape, stride;
  if (!int_sequence(*a[2], shape) || !int_sequence(*a[3], stride))
    return fail(errc::bad_rebuild_args, "wrapper subclass size and stride must be tuples of ints");
  if (a[4]->kind() != value_kind::integer || !a[4]->fits_int64())
    return fail(errc::bad_rebuild_args, "wrapper subclass storage_offset is not an int");
  t.offset = a[4]->as_int64();
  if (a[5]->kind() != value_kind::layout) return fail(errc::bad_rebuild_args, "wrapper subclass layout is not a layout");
  if (a[5]->text() != "torch.strided")
    return fail(errc::unsupported_feature, "wrapper subclass with layout " + std::string(a[5]->text()) + " is not read");
  if (a[6]->kind() != value_kind::device && a[6]->kind() != value_kind::string)
    return fail(errc::bad_device, "wrapper subclass device is not a device");
  if (a[7]->kind() != value_kind::boolean) return fail(errc::bad_rebuild_args, "wrapper subclass requires_grad is not a bool");
  std::vector<std::int64_t> dims;
  if (auto r = storageless_geometry(t, shape, stride, dims, opts_.limits); !r)
    return fail(r.error_value().code, r.error_value().message + " (wrapper subclass)");
  t.set_device(a[6]->text());  // checked last (below)
  t.requires_grad = a[7]->as_bool();
  tensor_extra e;
  e.subclass = cls.text();
  PTHSAFE_ASSIGN(t.extra, new_extra(e));
  PTHSAFE_ASSIGN(auto rec, new_tensor_record());
  *rec = t;
  st_.own_dims(*rec);  // validated: at most max_dims, charged by new_tensor_record
  // Last, so that whatever was refused before is refused with the same code: torch.device
  // raises on these, and a record keeps a device of at most 65,535 bytes.
  if (!valid_device(a[6]->text())) return fail(errc::bad_device, "wrapper subclass device is not a device torch accepts");
  return tensor_value(rec);
}

result<value*> torch_rebuilder::rebuild_device_from_cpu(value& args) {
  const auto a = args.items();
  if (a.size() != 4) return fail(errc::bad_rebuild_args, "_rebuild_device_tensor_from_cpu_tensor takes 4 arguments");
  if (a[0]->kind() != value_kind::tensor) return fail(errc::bad_rebuild_args, "device tensor data is not a tensor");
  const tensor_record* src = va::tensor(*a[0]);
  if (src->layout != tensor_layout::strided || src->qscheme != quant_scheme::none || !src->storage)
    return fail(errc::bad_rebuild_args, "device tensor data must be a dense tensor");
  dtype type;
  if (!tensor_dtype(*a[1], type)) return fail(errc::bad_dtype, "device tensor dtype is not a tensor dtype");
  // torch calls data.to(dtype, device): pthsafe never converts element types on load.
  if (type != src->type)
    return fail(errc::unsupported_feature, "device tensor saved as " + std::string(dtype_name(src->type)) + " for dtype " +
                                               std::string(dtype_name(type)) + ": dtype conversion on load is not done");
  if (a[2]->kind() != value_kind::string && a[2]->kind() != value_kind::device)
    return fail(errc::bad_device, "device tensor device is not a string");
  if (a[3]->kind() != value_kind::boolean) return fail(errc::bad_rebuild_args, "device tensor requires_grad is not a bool");
  PTHSAFE_ASSIGN(auto rec, new_tensor_record());
  // After the checks above (codes as before): torch.device raises on these.
  if (!valid_device(a[2]->text())) return fail(errc::bad_device, "device tensor device is not a device torch accepts");
  *rec = *src;
  st_.own_dims(*rec);
  rec->set_device(a[2]->text());
  rec->requires_grad = a[3]->as_bool();
  rec->parameter = false;
  return tensor_value(rec);
}

}  // namespace pthsafe::detail
