// Internal records behind the public views, and the checkpoint's owned state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/source.hpp"
#include "pthsafe/checkpoint.hpp"
#include "pthsafe/value.hpp"
#include "zip/archive.hpp"

namespace pthsafe::detail {

/// 64-byte-aligned owned bytes.
class aligned_buffer {
 public:
  static constexpr std::size_t alignment = 64;
  aligned_buffer() = default;
  explicit aligned_buffer(std::size_t n);
  aligned_buffer(aligned_buffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  aligned_buffer& operator=(aligned_buffer&& o) noexcept;
  ~aligned_buffer();
  std::byte* data() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }

 private:
  std::byte* p_ = nullptr;
  std::size_t n_ = 0;
};

struct storage_record {
  std::string key;
  std::string record;                 // full record name
  dtype type = dtype::uint8;
  std::uint64_t nbytes = 0;
  std::optional<std::size_t> entry;   // zip entry index (zip format)
  // Legacy format: the storage's little-endian bytes lie in the file itself at this offset
  // (after their int64 size prefix). Reset, like `entry`, when the storage is unreachable.
  std::optional<std::uint64_t> file_offset;
  // Legacy view_metadata: this storage is bytes [alias_offset, alias_offset + nbytes) of another
  // (root) storage and is never placed itself; placement points it into the root's bytes.
  storage_record* alias_of = nullptr;
  std::uint64_t alias_offset = 0;
  // Built by pthsafe from pickle values (per-channel quantizer parameters given as lists, which
  // torch turns into tensors): bytes owned from the start, never placed, not counted.
  bool synthetic = false;
  const std::byte* data = nullptr;    // placed bytes (null until placed / in metadata mode)
  bool mapped = false;
  aligned_buffer owned;
};

struct tensor_record {
  dtype type = dtype::float32;
  std::vector<std::int64_t> shape, stride;
  std::int64_t offset = 0;
  std::string device;
  bool requires_grad = false, parameter = false, conj = false, neg = false;
  // False for a tensor torch's autograd sees as computed (as_subclass of a tensor that requires
  // grad is a view, not a leaf): torch refuses to change its requires_grad.
  bool leaf = true;
  storage_record* storage = nullptr;  // null: sparse, meta and wrapper-subclass tensors
  std::uint64_t numel = 0;
  tensor_layout layout = tensor_layout::strided;
  // Quantized tensors: the scheme torch reports after loading and its parameters.
  quant_scheme qscheme = quant_scheme::none;
  double q_scale = 0;
  std::int64_t q_zero_point = 0, q_axis = 0;
  // Component tensors, owned by the checkpoint like every record. Sparse: [0] indices (COO) or
  // compressed indices, [1] plain indices (compressed layouts), [2] values. Per-channel
  // quantized: [0] scales, [1] zero points.
  const tensor_record* parts[3] = {nullptr, nullptr, nullptr};
  std::int8_t coalesced = -1;         // sparse COO: is_coalesced as saved (-1: not saved)
  std::string subclass;               // _rebuild_wrapper_subclass: the class ("module.Name")
};

/// Builds and mutates value nodes (the only code allowed to).
struct value_access {
  static value_kind& kind(value& v) { return v.kind_; }
  static std::uint8_t& small(value& v) { return v.small_; }
  static std::int64_t& i(value& v) { return v.i_; }
  static double& f(value& v) { return v.f_; }
  static double& g(value& v) { return v.g_; }
  static std::string& text(value& v) { return v.text_; }
  static std::vector<const value*>& items(value& v) { return v.items_; }
  static std::vector<std::pair<std::string, const value*>>& attrs(value& v) { return v.attrs_; }
  static const tensor_record*& tensor(value& v) { return v.tensor_; }
  static const tensor_record* tensor(const value& v) { return v.tensor_; }
};

/// small_ flag bits beyond a boolean's value.
inline constexpr std::uint8_t flag_bytearray = 1;  // bytes value that is a bytearray (unhashable)
inline constexpr std::uint8_t flag_int_raw = 2;    // big integer kept as two's complement bytes
inline constexpr std::uint8_t flag_unhashable = 4;  // tuple holding an unhashable item (set when built)
inline constexpr std::uint8_t flag_hash_cached = 8; // tuple/frozenset/int/str/bytes whose key_hash sits in f_'s bits

/// Values with stable addresses, in chunks growing from 64 to 4096 values: one allocation per
/// chunk, where std::deque made one per 512-byte block (4 values) - 250,000 allocations for a
/// 100,000-tensor state_dict.
class value_arena {
 public:
  value& emplace() {
    if (used_ == cap_) {
      cap_ = chunks_.empty() ? 64 : (cap_ < 4096 ? cap_ * 2 : cap_);
      chunks_.push_back(std::make_unique<value[]>(cap_));
      used_ = 0;
    }
    return chunks_.back()[used_++];
  }

 private:
  std::vector<std::unique_ptr<value[]>> chunks_;
  std::size_t used_ = 0, cap_ = 0;
};

struct checkpoint_state {
  source src;
  std::unique_ptr<archive> zip;
  value_arena values;
  std::uint64_t tree_bytes = 0;  // charged against limits::max_tree_bytes
  // Nodes that dict-key and set-item comparisons may still visit (keys_equal). machine::run
  // sets it per pickle: min(max_key_compare_nodes, 4 per pickle byte + 256), so the work stays
  // linear in the file even when shared tuples would make one comparison exponential.
  std::uint64_t key_budget = 0;

  /// Charges n bytes of value-tree memory; false when the limit would be exceeded.
  bool charge(std::uint64_t n) {
    if (n > lim.max_tree_bytes || tree_bytes > lim.max_tree_bytes - n) return false;
    tree_bytes += n;
    return true;
  }
  std::deque<storage_record> storages;
  std::deque<tensor_record> tensors;
  const value* root = nullptr;
  const value* constants = nullptr;  // TorchScript archives: constants.pkl
  std::vector<const tensor_record*> reach_tensors;  // tensors reachable from root, first-reach order
  std::vector<storage_record*> reach_storages;      // their storages, first-reach order
  container_format format = container_format::zip;
  bool big_endian = false;
  load_mode mode = load_mode::copy;
  std::vector<std::string> warnings;
  limits lim;

  value& new_value(value_kind k) {
    value& v = values.emplace();
    value_access::kind(v) = k;
    return v;
  }
  static checkpoint make_checkpoint(std::unique_ptr<checkpoint_state> s);
};

}  // namespace pthsafe::detail
