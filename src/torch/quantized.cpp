// torch._utils._rebuild_qtensor, validated as current torch validates it: the storage must hold
// a quantized dtype; per-tensor parameters are (scale, zero_point); per-channel ones need an axis
// inside the shape and exactly shape[axis] scales and zero points, given as two 1-D tensors or
// two lists; the view is then checked against the storage like any other.
#include "torch/quantized.hpp"

#include <array>

#include <bit>
#include <cmath>
#include <cstring>

#include "model/state.hpp"
#include "io/checked.hpp"
#include "torch/rebuild.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

bool is_floating(dtype t) {
  return t == dtype::float64 || t == dtype::float32 || t == dtype::float16 || t == dtype::bfloat16;
}
bool is_integral(dtype t) {
  switch (t) {
    case dtype::int64: case dtype::int32: case dtype::int16: case dtype::int8:
    case dtype::uint8: case dtype::uint16: case dtype::uint32: case dtype::uint64: case dtype::boolean:
      return true;
    default: return false;
  }
}

const std::byte* element_ptr(const tensor_view& t, std::uint64_t i) {
  const auto stride = t.strides().empty() ? 1 : static_cast<std::uint64_t>(t.strides()[0]);
  return t.data() + i * stride * itemsize(t.element_type());
}

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

// The values torch's quantizer holds come from `scales.to(kDouble)` / `zero_points.to(kLong)`
// (or `.to(kFloat)`): the copy kernel casts first and then applies a pending negative bit in the
// destination dtype, so the sign flip happens after widening (an int32 -2^31 becomes +2^31, an
// int64 -2^63 wraps). A bool casts by truth: any non-zero byte is 1. The conjugate bit cannot reach
// here: it is only accepted on complex tensors, which are not parameter dtypes.
double element_as_double(const tensor_view& t, std::uint64_t i) noexcept {
  const std::byte* p = element_ptr(t, i);
  double d;
  switch (t.element_type()) {
    case dtype::float64: d = load<double>(p); break;
    case dtype::float32: d = load<float>(p); break;
    case dtype::float16: d = float16{load<std::uint16_t>(p)}.to_float(); break;
    case dtype::bfloat16: d = bfloat16{load<std::uint16_t>(p)}.to_float(); break;
    default: return static_cast<double>(element_as_int(t, i));
  }
  return t.is_neg() ? -d : d;
}

std::int64_t element_as_int(const tensor_view& t, std::uint64_t i) noexcept {
  const std::byte* p = element_ptr(t, i);
  std::int64_t v;
  switch (t.element_type()) {
    case dtype::int64: v = load<std::int64_t>(p); break;
    case dtype::int32: v = load<std::int32_t>(p); break;
    case dtype::int16: v = load<std::int16_t>(p); break;
    case dtype::int8: {  // two's complement byte, sign-extended as torch widens it
      const std::int64_t u = load<std::uint8_t>(p);
      v = u >= 128 ? u - 256 : u;
      break;
    }
    case dtype::uint8: v = load<std::uint8_t>(p); break;
    case dtype::boolean: v = load<std::uint8_t>(p) != 0; break;
    case dtype::uint16: v = load<std::uint16_t>(p); break;
    case dtype::uint32: v = load<std::uint32_t>(p); break;
    case dtype::uint64: v = static_cast<std::int64_t>(load<std::uint64_t>(p)); break;  // torch wraps too
    case dtype::float64: case dtype::float32: case dtype::float16: case dtype::bfloat16:
    {
      const double d = element_as_double(t, i);  // sign already applied; only odd files: avoid UB casts
      return d > -9.2e18 && d < 9.2e18 ? static_cast<std::int64_t>(d) : 0;
    }
    default: return 0;  // not a parameter dtype (checked when the tensor was rebuilt)
  }
  return t.is_neg() ? static_cast<std::int64_t>(std::uint64_t{0} - static_cast<std::uint64_t>(v)) : v;
}

std::vector<double> qparam_doubles(const tensor_view& t, bool to_float32) {
  std::vector<double> out;
  if (t.numel() > 0 && !t.data()) return out;
  for (std::uint64_t i = 0; i < t.numel(); ++i) {
    const double d = element_as_double(t, i);
    out.push_back(to_float32 ? static_cast<double>(static_cast<float>(d)) : d);
  }
  return out;
}

std::vector<std::int64_t> qparam_ints(const tensor_view& t) {
  std::vector<std::int64_t> out;
  if (t.numel() > 0 && !t.data()) return out;
  for (std::uint64_t i = 0; i < t.numel(); ++i) out.push_back(element_as_int(t, i));
  return out;
}

// One per-channel parameter: a 1-D tensor of `length` elements (scales floating, zero points
// floating or integral), or a list that torch.tensor() turns into float64 / int64 (affine) or
// float32 (float qparams), which is built here the same way.
result<const tensor_record*> torch_rebuilder::qparam_tensor(const value& v, bool scales, bool float_qparams,
                                                           std::int64_t length) {
  const char* what = scales ? "scales" : "zero_points";
  if (v.kind() == value_kind::tensor) {
    const tensor_record* t = va::tensor(v);
    if (t->layout != tensor_layout::strided || t->qscheme != quant_scheme::none || !t->storage)
      return fail(errc::quantizer_invalid, std::string("per-channel ") + what + " must be a dense tensor");
    if (t->shape().size() != 1)
      return fail(errc::quantizer_invalid, std::string(what) + " tensor must have dimension 1");
    if (t->numel != static_cast<std::uint64_t>(length))
      return fail(errc::quantizer_invalid, std::string("per-channel ") + what + " length must equal size[axis]=" +
                                               std::to_string(length) + ", got " + std::to_string(t->numel));
    if (scales ? !is_floating(t->type) : !(is_floating(t->type) || is_integral(t->type)))
      return fail(errc::quantizer_invalid, std::string(what) + " tensor of dtype " + std::string(dtype_name(t->type)) +
                                               " is not accepted by torch's quantizer");
    return t;
  }
  if (v.kind() != value_kind::list)
    return fail(errc::quantizer_invalid, std::string("per-channel ") + what + " must be a tensor or a list");
  if (v.items().size() != static_cast<std::uint64_t>(length))
    return fail(errc::quantizer_invalid, std::string("per-channel ") + what + " length must equal size[axis]=" +
                                             std::to_string(length) + ", got " + std::to_string(v.items().size()));
  const dtype type = float_qparams ? dtype::float32 : scales ? dtype::float64 : dtype::int64;
  const std::uint64_t n = v.items().size();
  const auto nbytes = checked_mul<std::uint64_t>(n, itemsize(type));
  if (!nbytes || !st_.charge(*nbytes + charged_storage_record_bytes))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  st_.storages.emplace_back();
  storage_record& s = st_.storages.back();
  s.type = type;
  s.nbytes = *nbytes;
  s.synthetic = true;
  std::byte* bytes = st_.own(static_cast<std::size_t>(*nbytes));
  s.data = bytes;
  for (std::uint64_t i = 0; i < n; ++i) {
    const value& x = *v.items()[i];
    const bool num = x.kind() == value_kind::floating || x.kind() == value_kind::boolean ||
                     (x.kind() == value_kind::integer && x.fits_int64());
    // torch.tensor(list, dtype=torch.long) would truncate floats; a file that relies on it is odd
    // enough to refuse.
    if (!num || (type == dtype::int64 && x.kind() == value_kind::floating))
      return fail(errc::quantizer_invalid, std::string("per-channel ") + what + " list holds a non-number");
    const double d = x.kind() == value_kind::floating ? x.as_double()
                     : x.kind() == value_kind::boolean ? (x.as_bool() ? 1.0 : 0.0)
                                                       : static_cast<double>(x.as_int64());
    std::byte* dst = bytes + i * itemsize(type);
    if (type == dtype::float64) {
      std::memcpy(dst, &d, 8);
    } else if (type == dtype::float32) {
      const float f = static_cast<float>(d);
      std::memcpy(dst, &f, 4);
    } else {
      const std::int64_t iv = x.kind() == value_kind::boolean ? x.as_bool() : x.as_int64();
      std::memcpy(dst, &iv, 8);
    }
  }
  PTHSAFE_ASSIGN(auto rec, new_tensor_record());
  tensor_record& t = *rec;
  t.type = type;
  st_.set_dims(t, std::array<std::int64_t, 1>{static_cast<std::int64_t>(n)}, std::array<std::int64_t, 1>{1});
  t.set_device("cpu");
  t.storage = &s;
  t.numel = n;
  return &t;
}

result<value*> torch_rebuilder::rebuild_qtensor(value& args) {
  // (storage, storage_offset, size, stride, quantizer_params, requires_grad, backward_hooks)
  const auto a = args.items();
  if (a.size() != 7) return fail(errc::bad_rebuild_args, "_rebuild_qtensor takes 7 arguments");
  if (a[0]->kind() != value_kind::storage) return fail(errc::bad_rebuild_args, "qtensor storage is not a storage");
  const auto* srec = va::storage(*a[0]);
  if (!is_quantized_dtype(srec->type))
    return fail(errc::quantizer_invalid, "quantized tensor over a " + std::string(dtype_name(srec->type)) +
                                             " storage (torch needs qint8, quint8, qint32, quint4x2 or quint2x4)");
  std::vector<std::int64_t> size;
  if (!int_sequence(*a[2], size)) return fail(errc::bad_rebuild_args, "qtensor size must be a tuple of ints");
  if (a[5]->kind() != value_kind::boolean) return fail(errc::bad_rebuild_args, "qtensor requires_grad is not a bool");
  const value& qp = *a[4];
  if (qp.kind() != value_kind::tuple || qp.items().empty() || qp.items()[0]->kind() != value_kind::qscheme)
    return fail(errc::quantizer_invalid, "quantizer_params must be a tuple starting with a qscheme");
  const auto p = qp.items();
  const std::string_view scheme = p[0]->text();

  quant_scheme qs = quant_scheme::none;
  double scale = 0;
  std::int64_t zero_point = 0, axis = 0;
  const tensor_record* parts[2] = {nullptr, nullptr};
  if (scheme == "per_tensor_affine") {
    if (p.size() != 3) return fail(errc::quantizer_invalid, "per_tensor_affine needs (qscheme, scale, zero_point)");
    const value& sv = *p[1];
    if (sv.kind() == value_kind::floating) scale = sv.as_double();
    else if (sv.kind() == value_kind::integer && sv.fits_int64()) scale = static_cast<double>(sv.as_int64());
    else return fail(errc::quantizer_invalid, "per_tensor_affine scale is not a number");
    if (p[2]->kind() != value_kind::integer || !p[2]->fits_int64())
      return fail(errc::quantizer_invalid, "per_tensor_affine zero_point is not an int");
    zero_point = p[2]->as_int64();
    qs = quant_scheme::per_tensor_affine;
  } else if (scheme == "per_channel_affine" || scheme == "per_channel_affine_float_qparams") {
    if (p.size() != 4) return fail(errc::quantizer_invalid, std::string(scheme) + " needs (qscheme, scales, zero_points, axis)");
    if (p[3]->kind() != value_kind::integer || !p[3]->fits_int64())
      return fail(errc::quantizer_invalid, "per-channel axis is not an int");
    axis = p[3]->as_int64();
    if (axis < 0 || static_cast<std::uint64_t>(axis) >= size.size())
      return fail(errc::quantizer_invalid, "per-channel axis " + std::to_string(axis) + " out of range for " +
                                               std::to_string(size.size()) + " dims");
    const std::int64_t length = size[static_cast<std::size_t>(axis)];
    const bool lists = p[1]->kind() == value_kind::list && p[2]->kind() == value_kind::list;
    if (!lists && !(p[1]->kind() == value_kind::tensor && p[2]->kind() == value_kind::tensor))
      return fail(errc::quantizer_invalid, "per-channel scales and zero_points must be two tensors or two lists");
    // Lists follow the named scheme; tensors decide by the zero points' dtype, as torch's
    // make_per_channel_affine_quantizer does (which is how float-qparams tensors, written as
    // per_channel_affine, come back as per_channel_affine_float_qparams).
    bool float_q = scheme == "per_channel_affine_float_qparams";
    if (!lists) {
      const dtype zt = va::tensor(*p[2])->type;
      float_q = zt == dtype::float64 || zt == dtype::float32 || zt == dtype::float16 || zt == dtype::bfloat16;
    }
    PTHSAFE_ASSIGN(auto sc, qparam_tensor(*p[1], true, float_q, length));
    PTHSAFE_ASSIGN(auto zp, qparam_tensor(*p[2], false, float_q, length));
    parts[0] = sc;
    parts[1] = zp;
    qs = float_q ? quant_scheme::per_channel_affine_float_qparams : quant_scheme::per_channel_affine;
  } else {
    return fail(errc::quantizer_invalid, "can't deserialize quantized tensor with qscheme " + std::string(scheme));
  }

  PTHSAFE_ASSIGN(value* t, make_tensor(*a[0], *a[1], *a[2], *a[3], false, dtype::uint8));
  auto* rec = const_cast<tensor_record*>(va::tensor(*t));
  // torch: `tensor.requires_grad = requires_grad` (raises for a quantized dtype, which is not
  // floating) and `tensor._backward_hooks = backward_hooks`, refused as on every other rebuild.
  PTHSAFE_TRY(check_requires_grad(*rec, a[5]->as_bool()));
  rec->requires_grad = a[5]->as_bool();
  if (const value& hooks = *a[6];
      !(hooks.kind() == value_kind::none ||
        ((hooks.kind() == value_kind::dict || hooks.kind() == value_kind::ordered_dict) && hooks.items().empty())))
    return fail(errc::tensor_state_refused, "_rebuild_qtensor installs backward hooks");
  rec->qscheme = qs;
  tensor_extra e;
  e.q_scale = scale;
  e.q_zero_point = zero_point;
  e.q_axis = axis;
  e.parts[0] = parts[0];
  e.parts[1] = parts[1];
  PTHSAFE_ASSIGN(rec->extra, new_extra(e));
  return t;
}

}  // namespace pthsafe::detail
