// Sparse tensors: torch._utils._rebuild_sparse_tensor(layout, data) for COO
// (indices, values, size[, is_coalesced]) and the compressed layouts CSR/CSC/BSR/BSC
// (compressed_indices, plain_indices, values, size); torch 1.13's
// _rebuild_sparse_csr_tensor(layout, (crow, col, values, size)); TorchScript's
// _rebuild_sparse_tensor(layout_int, size, requires_grad, indices, values[, ...]).
//
// Unvalidated sparse indices are a published memory-safety hole (CVE-2025-62164): a consumer
// that densifies or multiplies trusts them as offsets. Every invariant of torch's
// _validate_sparse_coo_tensor_args and _validate_sparse_compressed_tensor_args is checked here:
// the shape rules when the tensor is rebuilt, the index values once the storages can be read
// (validate_sparse_tensors, which runs in every load mode before the checkpoint exists).
#include "torch/sparse.hpp"
#include "util/try.hpp"

#include <array>
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "io/checked.hpp"
#include "torch/rebuild.hpp"
#include "torch/storage_bytes.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

// torch's messages for the two per-row invariants of compressed indices (built once, on failure).
std::string compressed_step_message(const std::string& cname, bool row) {
  std::string m = "`0 <= ";
  m += cname;
  m += "[..., 1:] - ";
  m += cname;
  m += "[..., :-1] <= ";
  m += row ? "ncols" : "nrows";
  m += "` is not satisfied.";
  return m;
}
std::string plain_order_message(const std::string& pname, const std::string& cname, bool row) {
  std::string m = "`";
  m += pname;
  m += "[..., ";
  m += cname;
  m += "[..., i - 1]:";
  m += cname;
  m += "[..., i]] for all i = 1, ..., ";
  m += row ? "nrows" : "ncols";
  m += " are sorted and distinct along the last dimension values` is not satisfied.";
  return m;
}

using va = value_access;

bool parse_layout(std::string_view name, tensor_layout& out) {
  constexpr std::pair<std::string_view, tensor_layout> names[] = {
      {"torch.sparse_coo", tensor_layout::sparse_coo}, {"torch.sparse_csr", tensor_layout::sparse_csr},
      {"torch.sparse_csc", tensor_layout::sparse_csc}, {"torch.sparse_bsr", tensor_layout::sparse_bsr},
      {"torch.sparse_bsc", tensor_layout::sparse_bsc}};
  for (const auto& [n, l] : names)
    if (n == name) { out = l; return true; }
  return false;
}

bool row_compressed(tensor_layout l) { return l == tensor_layout::sparse_csr || l == tensor_layout::sparse_bsr; }
bool blocked(tensor_layout l) { return l == tensor_layout::sparse_bsr || l == tensor_layout::sparse_bsc; }

std::string dims_text(std::span<const std::int64_t> v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::vector<std::int64_t> slice(std::span<const std::int64_t> v, std::size_t from, std::size_t n) {
  return std::vector<std::int64_t>(v.begin() + static_cast<std::ptrdiff_t>(from),
                                   v.begin() + static_cast<std::ptrdiff_t>(from + n));
}

// Shape-only invariants (what torch checks when the tensor is built, before any index is read).
result<void> check_coo_shape(const tensor_record& t) {
  const tensor_record& idx = *t.extra->parts[0];
  const tensor_record& val = *t.extra->parts[2];
  if (idx.type != dtype::int64) return make_error(errc::sparse_invalid, "indices must be an int64 tensor");
  if (idx.shape().size() != 2) return make_error(errc::sparse_invalid, "indices must be sparse_dim x nnz, but got: " + dims_text(idx.shape()));
  if (val.shape().empty()) return make_error(errc::sparse_invalid, "values must have at least one dimension (nnz)");
  const auto sparse_dim = static_cast<std::size_t>(idx.shape()[0]);
  const std::size_t dense_dim = val.shape().size() - 1;
  if (t.shape().size() != sparse_dim + dense_dim)
    return make_error(errc::sparse_invalid, "number of dimensions must be sparse_dim (" + std::to_string(sparse_dim) +
                                                ") + dense_dim (" + std::to_string(dense_dim) + "), but got " +
                                                std::to_string(t.shape().size()));
  if (idx.shape()[1] != val.shape()[0])
    return make_error(errc::sparse_invalid, "indices and values must have same nnz, but got nnz from indices: " +
                                                std::to_string(idx.shape()[1]) + ", nnz from values: " + std::to_string(val.shape()[0]));
  if (slice(val.shape(), 1, dense_dim) != slice(t.shape(), sparse_dim, dense_dim))
    return make_error(errc::sparse_invalid, "values has incorrect size, expected " + dims_text(slice(t.shape(), sparse_dim, dense_dim)) +
                                                ", got " + dims_text(slice(val.shape(), 1, dense_dim)));
  return {};
}

struct compressed_geometry {
  std::size_t batch_ndim = 0;
  std::int64_t compressed_dim = 0, plain_dim = 0, nnz = 0;
  std::uint64_t batches = 1;
};

result<compressed_geometry> check_compressed_shape(const tensor_record& t) {
  const tensor_record& cidx = *t.extra->parts[0];
  const tensor_record& pidx = *t.extra->parts[1];
  const tensor_record& val = *t.extra->parts[2];
  const bool row = row_compressed(t.layout);
  const std::string cname = row ? "crow_indices" : "ccol_indices", pname = row ? "col_indices" : "row_indices";
  if (cidx.type != pidx.type)
    return make_error(errc::sparse_invalid, cname + " and " + pname + " must have the same dtype");
  if (cidx.type != dtype::int32 && cidx.type != dtype::int64)
    return make_error(errc::sparse_invalid, cname + " and " + pname + " dtype must be Int or Long");
  if (cidx.shape().empty() || pidx.shape().empty())
    return make_error(errc::sparse_invalid, cname + " and " + pname + " must have dimensionality >= 1");
  if (cidx.shape().size() != pidx.shape().size())
    return make_error(errc::sparse_invalid, cname + " and " + pname + " dimensionalities must be equal");
  compressed_geometry g;
  g.batch_ndim = cidx.shape().size() - 1;
  const std::size_t block_ndim = blocked(t.layout) ? 2 : 0;
  if (val.shape().size() < g.batch_ndim + block_ndim + 1)
    return make_error(errc::sparse_invalid, "values must have dimensionality > sum of batch and block dimensionalities");
  const std::size_t dense_ndim = val.shape().size() - g.batch_ndim - block_ndim - 1;
  if (t.shape().size() != g.batch_ndim + 2 + dense_ndim)
    return make_error(errc::sparse_invalid, "tensor dimensionality must be sum of batch, base, and dense dimensionalities (=" +
                                                std::to_string(g.batch_ndim + 2 + dense_ndim) + ") but got " +
                                                std::to_string(t.shape().size()));
  const auto batch = slice(t.shape(), 0, g.batch_ndim);
  if (slice(cidx.shape(), 0, g.batch_ndim) != batch || slice(pidx.shape(), 0, g.batch_ndim) != batch ||
      slice(val.shape(), 0, g.batch_ndim) != batch)
    return make_error(errc::sparse_invalid, "all batch dimensions of " + cname + ", " + pname +
                                                ", and values must be equal to tensor batch dimensions " + dims_text(batch));
  std::int64_t block[2] = {1, 1};
  if (block_ndim == 2) {
    block[0] = std::max<std::int64_t>(1, val.shape()[g.batch_ndim + 1]);
    block[1] = std::max<std::int64_t>(1, val.shape()[g.batch_ndim + 2]);
  }
  for (std::size_t i = 0; i < 2; ++i)
    if (t.shape()[g.batch_ndim + i] % block[i] != 0)
      return make_error(errc::sparse_invalid, "tensor shape[" + std::to_string(g.batch_ndim + i) + "] (=" +
                                                  std::to_string(t.shape()[g.batch_ndim + i]) + ") must be divisible with blocksize[" +
                                                  std::to_string(i) + "] (=" + std::to_string(block[i]) + ")");
  const std::int64_t nrows = t.shape()[g.batch_ndim] / block[0], ncols = t.shape()[g.batch_ndim + 1] / block[1];
  g.compressed_dim = row ? nrows : ncols;
  g.plain_dim = row ? ncols : nrows;
  g.nnz = val.shape()[g.batch_ndim];
  const auto clen = checked_add<std::int64_t>(g.compressed_dim, 1);
  if (!clen || cidx.shape().back() != *clen)
    return make_error(errc::sparse_invalid, cname + ".shape[-1] must be equal to the number of " + (row ? "row" : "column") +
                                                "s + 1 (=" + (clen ? std::to_string(*clen) : std::string("> 2^63")) + "), but got " +
                                                std::to_string(cidx.shape().back()));
  if (pidx.shape().back() != g.nnz)
    return make_error(errc::sparse_invalid, pname + ".shape[-1] must be equal to nnz (=" + std::to_string(g.nnz) +
                                                ") as defined by values.shape[" + std::to_string(g.batch_ndim) + "], but got " +
                                                std::to_string(pidx.shape().back()));
  if (slice(val.shape(), g.batch_ndim + 1 + block_ndim, dense_ndim) != slice(t.shape(), g.batch_ndim + 2, dense_ndim))
    return make_error(errc::sparse_invalid, "values dense dimensions must equal the tensor's trailing dimensions " +
                                                dims_text(slice(t.shape(), g.batch_ndim + 2, dense_ndim)));
  if (cidx.type == dtype::int32) {
    constexpr std::int64_t i32 = std::numeric_limits<std::int32_t>::max();
    if (g.compressed_dim > i32 || g.plain_dim > i32 || g.nnz > i32)
      return make_error(errc::sparse_invalid, "int32 " + cname + " cannot index " + std::to_string(g.nnz) + " values in " +
                                                  std::to_string(g.compressed_dim) + " x " + std::to_string(g.plain_dim));
  }
  for (std::size_t i = 0; i < g.batch_ndim; ++i) {
    const auto b = checked_mul<std::uint64_t>(g.batches, static_cast<std::uint64_t>(batch[i]));
    if (!b) return make_error(errc::sparse_invalid, "batch dimensions overflow");
    g.batches = *b;
  }
  return g;
}

// The elements of an index tensor in row-major logical order. Its extent was validated against
// its storage; a view whose elements overlap (stride 0) would let a tiny file demand unbounded
// work, and no writer produces one, so it is refused.
result<std::vector<std::int64_t>> read_indices(const checkpoint_state& st, const tensor_record& t, const char* name,
                                               const limits& lim) {
  std::vector<std::int64_t> out;
  const std::size_t item = itemsize(t.type);
  if (t.numel == 0) return out;
  if (t.numel > t.storage->nbytes / item)
    return make_error(errc::sparse_invalid, std::string(name) + " is a view with more elements than its storage holds");
  std::vector<std::byte> scratch;
  PTHSAFE_ASSIGN(auto bytes, storage_le_bytes(st, *t.storage, scratch, lim));
  out.reserve(static_cast<std::size_t>(t.numel));
  const std::size_t nd = t.shape().size();
  std::vector<std::int64_t> pos(nd, 0);
  std::uint64_t off = static_cast<std::uint64_t>(t.offset);
  for (std::uint64_t i = 0; i < t.numel; ++i) {
    const std::byte* p = bytes.data() + off * item;
    if (item == 8) {
      std::int64_t v;
      std::memcpy(&v, p, 8);
      out.push_back(v);
    } else {
      std::int32_t v;
      std::memcpy(&v, p, 4);
      out.push_back(v);
    }
    for (std::size_t d = nd; d-- > 0;) {
      if (++pos[d] < t.shape()[d]) {
        off += static_cast<std::uint64_t>(t.stride()[d]);
        break;
      }
      off -= static_cast<std::uint64_t>(t.stride()[d]) * static_cast<std::uint64_t>(t.shape()[d] - 1);
      pos[d] = 0;
    }
  }
  return out;
}

result<void> check_coo_indices(const checkpoint_state& st, const tensor_record& t, const limits& lim) {
  PTHSAFE_ASSIGN(auto idx, read_indices(st, *t.extra->parts[0], "indices", lim));
  const auto sparse_dim = static_cast<std::size_t>(t.extra->parts[0]->shape()[0]);
  const auto nnz = static_cast<std::size_t>(t.extra->parts[0]->shape()[1]);
  for (std::size_t d = 0; d < sparse_dim; ++d) {
    for (std::size_t j = 0; j < nnz; ++j) {
      const std::int64_t v = idx[d * nnz + j];
      if (v < 0) return make_error(errc::sparse_invalid, "found negative index " + std::to_string(v) + " for dim " + std::to_string(d));
      if (v >= t.shape()[d])
        return make_error(errc::sparse_invalid, "size is inconsistent with indices: for dim " + std::to_string(d) + ", size is " +
                                                    std::to_string(t.shape()[d]) + " but found index " + std::to_string(v));
    }
  }
  if (t.coalesced == 1) {
    // Coalesced means sorted and unique: each index column strictly greater than the previous
    // one in lexicographic order (what torch's flattened-index comparison amounts to).
    for (std::size_t j = 1; j < nnz; ++j) {
      int cmp = 0;
      for (std::size_t d = 0; d < sparse_dim && cmp == 0; ++d) {
        const std::int64_t a = idx[d * nnz + j - 1], b = idx[d * nnz + j];
        cmp = a < b ? -1 : a > b ? 1 : 0;
      }
      if (cmp >= 0)
        return make_error(errc::sparse_invalid, "cannot set is_coalesced to true if indices correspond to uncoalesced COO tensor");
    }
  }
  return {};
}

result<void> check_compressed_indices(const checkpoint_state& st, const tensor_record& t, const compressed_geometry& g,
                                      const limits& lim) {
  const bool row = row_compressed(t.layout);
  const std::string cname = row ? "crow_indices" : "ccol_indices", pname = row ? "col_indices" : "row_indices";
  PTHSAFE_ASSIGN(auto cidx, read_indices(st, *t.extra->parts[0], cname.c_str(), lim));
  PTHSAFE_ASSIGN(auto pidx, read_indices(st, *t.extra->parts[1], pname.c_str(), lim));
  const auto clen = static_cast<std::size_t>(g.compressed_dim + 1), plen = static_cast<std::size_t>(g.nnz);
  for (std::uint64_t b = 0; b < g.batches; ++b) {
    const std::int64_t* c = cidx.data() + b * clen;
    const std::int64_t* p = pidx.data() + b * plen;
    if (c[0] != 0) return make_error(errc::sparse_invalid, "`" + cname + "[..., 0] == 0` is not satisfied.");
    if (c[clen - 1] != g.nnz) return make_error(errc::sparse_invalid, "`" + cname + "[..., -1] == nnz` is not satisfied.");
    for (std::size_t i = 1; i < clen; ++i) {
      // c[i - 1] >= 0 by induction, so c[i] - c[i - 1] cannot overflow once c[i] >= c[i - 1].
      if (c[i] < c[i - 1] || c[i] - c[i - 1] > g.plain_dim)
        return make_error(errc::sparse_invalid, compressed_step_message(cname, row));
    }
    for (std::size_t j = 0; j < plen; ++j)
      if (p[j] < 0 || p[j] >= g.plain_dim)
        return make_error(errc::sparse_invalid, "`0 <= " + pname + " < " + (row ? "ncols" : "nrows") + "` is not satisfied.");
    for (std::size_t i = 1; i < clen; ++i)
      for (auto j = static_cast<std::size_t>(c[i - 1]) + 1; j < static_cast<std::size_t>(c[i]); ++j)
        if (p[j] <= p[j - 1])
          return make_error(errc::sparse_invalid, plain_order_message(pname, cname, row));
  }
  return {};
}

}  // namespace

// The sparse tensor record: dense shape, values' dtype and device, components as parts.
result<value*> torch_rebuilder::rebuild_sparse(value& args, bool csr_113) {
  const auto a = args.items();
  if (torchscript_ && !a.empty() && a[0]->kind() == value_kind::integer) return rebuild_sparse_torchscript(args);
  if (a.size() != 2) return fail(errc::bad_rebuild_args, "_rebuild_sparse_tensor takes (layout, data)");
  tensor_layout layout;
  if (a[0]->kind() != value_kind::layout || !parse_layout(a[0]->text(), layout))
    return fail(errc::bad_rebuild_args, "sparse layout is not a sparse torch.layout");
  if (csr_113 && layout != tensor_layout::sparse_csr)
    return fail(errc::bad_rebuild_args, "_rebuild_sparse_csr_tensor only rebuilds sparse_csr tensors");
  const value& data = *a[1];
  if (data.kind() != value_kind::tuple) return fail(errc::bad_rebuild_args, "sparse data is not a tuple");
  const auto d = data.items();
  const value* parts[3] = {nullptr, nullptr, nullptr};
  const value* size = nullptr;
  std::int8_t coalesced = -1;
  if (layout == tensor_layout::sparse_coo) {
    if (d.size() != 3 && d.size() != 4) return fail(errc::bad_rebuild_args, "sparse COO data must be (indices, values, size[, is_coalesced])");
    parts[0] = d[0];
    parts[2] = d[1];
    size = d[2];
    if (d.size() == 4 && d[3]->kind() != value_kind::none) {
      if (d[3]->kind() != value_kind::boolean) return fail(errc::bad_rebuild_args, "is_coalesced is not a bool");
      coalesced = d[3]->as_bool() ? 1 : 0;
    }
  } else {
    if (d.size() != 4) return fail(errc::bad_rebuild_args, "sparse compressed data must be (compressed_indices, plain_indices, values, size)");
    parts[0] = d[0];
    parts[1] = d[1];
    parts[2] = d[2];
    size = d[3];
  }
  PTHSAFE_ASSIGN(auto rec, new_tensor_record());
  tensor_record& t = *rec;
  t.layout = layout;
  t.coalesced = coalesced;
  tensor_extra e;
  for (std::size_t i = 0; i < 3; ++i) {
    if (!parts[i]) continue;
    if (parts[i]->kind() != value_kind::tensor) return fail(errc::bad_rebuild_args, "sparse component is not a tensor");
    const tensor_record* p = va::tensor(*parts[i]);
    if (p->layout != tensor_layout::strided || p->qscheme != quant_scheme::none || !p->storage)
      return fail(errc::sparse_invalid, "sparse components must be dense tensors with storage");
    e.parts[i] = p;
  }
  PTHSAFE_ASSIGN(t.extra, new_extra(e));
  PTHSAFE_TRY(set_sparse_shape(t, *size));
  PTHSAFE_TRY(finish_sparse(t));
  return tensor_value(&t);
}

// The dense shape, copied into the arena (new_tensor_record charged max_dims of it).
result<void> torch_rebuilder::set_sparse_shape(tensor_record& t, const value& size) {
  std::vector<std::int64_t> dims;
  if (!int_sequence(size, dims)) return fail(errc::bad_rebuild_args, "sparse size must be a tuple of ints");
  if (dims.size() > dims_limit(opts_.limits))
    return fail(errc::limit_exceeded, "limit max_dims (" + std::to_string(dims_limit(opts_.limits)) + ") exceeded");
  st_.set_dims(t, dims, {});
  return {};
}

// Common tail: geometry of the dense shape, shape invariants, device agreement.
result<void> torch_rebuilder::finish_sparse(tensor_record& t) {
  const tensor_record& values = *t.extra->parts[2];
  t.type = values.type;
  t.set_device(values.device());
  for (const auto* p : t.extra->parts)
    if (p && p->device() != t.device())
      return fail(errc::sparse_invalid, "device of sparse indices (" + std::string(p->device()) + ") must match device of values (" +
                                            std::string(t.device()) + ")");
  // A sparse tensor's dense shape may be far larger than its data; only overflow is refused.
  tensor_record probe;
  probe.type = t.type;
  std::vector<std::int64_t> dims(t.shape().begin(), t.shape().end());
  dims.resize(2 * dims.size(), 0);  // the shape, then zero strides
  probe.set_dims(dims.data(), t.shape().size(), t.shape().size());
  if (auto r = validate_view(probe, std::numeric_limits<std::uint64_t>::max(), opts_.limits); !r)
    return fail(r.error_value().code, r.error_value().message + " (sparse tensor size)");
  t.numel = probe.numel;
  if (t.layout == tensor_layout::sparse_coo) {
    if (auto r = check_coo_shape(t); !r) return fail(r.error_value().code, r.error_value().message);
  } else if (auto g = check_compressed_shape(t); !g) {
    return fail(g.error_value().code, g.error_value().message);
  }
  if (t.layout == tensor_layout::sparse_coo && t.coalesced < 0) t.coalesced = t.extra->parts[0]->shape()[1] <= 1 ? 1 : 0;
  return {};
}

// TorchScript's C++ pickler: (layout_int, size, requires_grad, indices, values[, hooks]) for COO
// and (layout_int, size, requires_grad, compressed, plain, values[, hooks]) for CSR.
result<value*> torch_rebuilder::rebuild_sparse_torchscript(value& args) {
  const auto a = args.items();
  if (!a[0]->fits_int64()) return fail(errc::bad_rebuild_args, "TorchScript sparse layout is an int beyond int64");
  const std::int64_t code = a[0]->as_int64();
  // c10::Layout: Strided 0, Sparse 1, SparseCsr 2, Mkldnn 3, SparseCsc 4, SparseBsr 5, SparseBsc 6.
  tensor_layout layout;
  switch (code) {
    case 1: layout = tensor_layout::sparse_coo; break;
    case 2: layout = tensor_layout::sparse_csr; break;
    case 4: layout = tensor_layout::sparse_csc; break;
    case 5: layout = tensor_layout::sparse_bsr; break;
    case 6: layout = tensor_layout::sparse_bsc; break;
    default: return fail(errc::bad_rebuild_args, "TorchScript sparse layout " + std::to_string(code) + " is not sparse");
  }
  const std::size_t ncomp = layout == tensor_layout::sparse_coo ? 2 : 3;
  if (a.size() != 3 + ncomp && a.size() != 4 + ncomp)
    return fail(errc::bad_rebuild_args, "TorchScript _rebuild_sparse_tensor: wrong argument count");
  PTHSAFE_ASSIGN(auto rec, new_tensor_record());
  tensor_record& t = *rec;
  t.layout = layout;
  PTHSAFE_TRY(set_sparse_shape(t, *a[1]));
  if (a[2]->kind() != value_kind::boolean) return fail(errc::bad_rebuild_args, "sparse requires_grad is not a bool");
  t.requires_grad = a[2]->as_bool();
  // COO: (indices, values) -> parts 0 and 2; compressed: (compressed, plain, values) -> 0, 1, 2.
  constexpr std::array<std::size_t, 2> slots_coo = {0, 2};
  constexpr std::array<std::size_t, 3> slots_compressed = {0, 1, 2};
  const std::size_t* slots = ncomp == 2 ? slots_coo.data() : slots_compressed.data();
  tensor_extra e;
  for (std::size_t i = 0; i < ncomp; ++i) {
    const value& c = *a[3 + i];
    if (c.kind() != value_kind::tensor) return fail(errc::bad_rebuild_args, "sparse component is not a tensor");
    const tensor_record* p = va::tensor(c);
    if (p->layout != tensor_layout::strided || p->qscheme != quant_scheme::none || !p->storage)
      return fail(errc::sparse_invalid, "sparse components must be dense tensors with storage");
    e.parts[slots[i]] = p;
  }
  PTHSAFE_ASSIGN(t.extra, new_extra(e));
  PTHSAFE_TRY(finish_sparse(t));
  return tensor_value(&t);
}

result<void> validate_sparse_tensors(const checkpoint_state& st, const limits& lim) {
  for (const tensor_record* t : st.reach_tensors) {
    if (t->layout == tensor_layout::strided) continue;
    result<void> r;
    if (t->layout == tensor_layout::sparse_coo) {
      r = check_coo_indices(st, *t, lim);
    } else {
      auto g = check_compressed_shape(*t);
      r = g ? check_compressed_indices(st, *t, *g, lim) : result<void>(g.error_value());
    }
    if (!r) {
      error e = std::move(r).error_value();
      e.message += " (sparse " + std::string(layout_name(t->layout)) + " tensor)";
      return e;
    }
  }
  return {};
}

}  // namespace pthsafe::detail
