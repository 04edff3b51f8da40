// Internal records behind the public views, and the checkpoint's owned state.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "io/source.hpp"
#include "model/arena.hpp"
#include "pthsafe/checkpoint.hpp"
#include "pthsafe/value.hpp"
#include "zip/archive.hpp"

namespace pthsafe::detail {

/// Bytes of one item slot (a `const value*`): what the tree budget charges per reference. Spelt
/// as sizeof(void*) because sizeof of a pointer-to-class type reads like a mistake.
inline constexpr std::size_t slot_bytes = sizeof(void*);
static_assert(sizeof(const value*) == slot_bytes);  // NOLINT(bugprone-sizeof-expression)

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

/// An optional entry index or file offset in 4 or 8 bytes (std::optional<std::uint64_t> takes
/// 16, and a 100,000-storage checkpoint holds two per storage): none is the type's maximum,
/// which no zip entry index (the directory walk refuses 2^32 - 1 entries or more) and no file
/// offset can be.
template <class T>
class opt_uint {
 public:
  opt_uint() = default;
  opt_uint(T v) noexcept : v_(v) {}  // NOLINT(google-explicit-constructor,hicpp-explicit-conversions): as std::optional
  // From a std::optional of a wider type: the value must be below T's maximum (see above).
  template <class U, class = std::enable_if_t<std::is_unsigned_v<U>>>
  opt_uint(std::optional<U> v) noexcept : v_(v ? static_cast<T>(*v) : none) {}  // NOLINT(google-explicit-constructor,hicpp-explicit-conversions)
  explicit operator bool() const noexcept { return v_ != none; }
  bool has_value() const noexcept { return v_ != none; }
  T operator*() const noexcept { return v_; }
  void reset() noexcept { v_ = none; }

 private:
  static constexpr T none = std::numeric_limits<T>::max();
  T v_ = none;
};
using opt_u64 = opt_uint<std::uint64_t>;
using opt_u32 = opt_uint<std::uint32_t>;

struct storage_record;
/// Legacy view_metadata: a storage that is bytes [offset, offset + nbytes) of another (root)
/// storage, never placed itself; placement points it into the root's bytes. In the arena.
struct storage_alias {
  storage_record* of = nullptr;
  std::uint64_t offset = 0;
};

// 64 bytes (bench/NOTES.md 31, 37): one per storage, 100,000s in a checkpoint of many tensors.
struct storage_record {
  std::string_view key;               // in the checkpoint's arena
  std::uint64_t nbytes = 0;
  // Legacy format: the storage's little-endian bytes lie in the file itself at this offset
  // (after their int64 size prefix). Reset, like `entry`, when the storage is unreachable.
  opt_u64 file_offset;
  const std::byte* data = nullptr;    // placed bytes (null until placed / in metadata mode)
  const storage_alias* alias = nullptr;  // legacy views only
  storage_record* alias_of() const noexcept { return alias ? alias->of : nullptr; }
  std::uint64_t alias_offset() const noexcept { return alias ? alias->offset : 0; }
  /// Full record name: the zip entry's name (in the file); empty for legacy storages.
  std::string_view record() const noexcept { return {record_, record_len_}; }
  /// `name` must live as long as the checkpoint; zip names are at most 65,535 bytes (the
  /// directory's name length is 16 bits), longer text is cut.
  void set_record(std::string_view name) noexcept {
    record_ = name.data();
    record_len_ = static_cast<std::uint16_t>(std::min<std::size_t>(name.size(), UINT16_MAX));
  }

 private:
  const char* record_ = nullptr;

 public:
  opt_u32 entry;                      // zip entry index (zip format)

 private:
  std::uint16_t record_len_ = 0;

 public:
  dtype type = dtype::uint8;
  bool int_key : 1 = false;           // the pickle's key was the int `key` spells (else a str)
  bool reached : 1 = false;           // set by the load's reachability walk (open.cpp): placed
  // Built by pthsafe from pickle values (per-channel quantizer parameters given as lists, which
  // torch turns into tensors): bytes owned from the start, never placed, not counted.
  bool synthetic : 1 = false;
  bool mapped : 1 = false;
  // Copied or synthetic bytes live in checkpoint_state::owned (never here): records are
  // trivially destructible and freed with the arena.
};
static_assert(sizeof(storage_record) <= 64);

// The storage records of a checkpoint: stable addresses (tensor records and the key index point
// at them), positions for storage_keys, chunks of 256 records in the arena, so that a
// 100,000-storage checkpoint frees its records with the arena's blocks, not one by one (a
// std::deque freed ~27,000 blocks, bench/NOTES.md 18).
class storage_list {
 public:
  static constexpr std::size_t chunk = 256;
  explicit storage_list(arena& mem) : mem_(mem) {}
  storage_list(const storage_list&) = delete;
  storage_list& operator=(const storage_list&) = delete;

  /// A new default record at position size() - 1 (charged by the caller).
  storage_record& emplace_back() {
    // Raw chunks, each record constructed as it is added: a checkpoint of 94 storages touches
    // the two pages its records need, not the five of a value-initialised chunk.
    if (n_ % chunk == 0)
      chunks_.push_back(static_cast<storage_record*>(mem_.allocate(chunk * sizeof(storage_record), alignof(storage_record))));
    storage_record* r = ::new (static_cast<void*>(chunks_.back() + n_ % chunk)) storage_record();
    ++n_;
    return *r;
  }
  storage_record& back() noexcept { return (*this)[n_ - 1]; }
  std::size_t size() const noexcept { return n_; }
  storage_record& operator[](std::size_t i) const noexcept { return chunks_[i / chunk][i % chunk]; }

  class iterator {
   public:
    using value_type = storage_record;
    using difference_type = std::ptrdiff_t;
    iterator(const storage_list* l, std::size_t i) : l_(l), i_(i) {}
    storage_record& operator*() const noexcept { return (*l_)[i_]; }
    storage_record* operator->() const noexcept { return &(*l_)[i_]; }
    iterator& operator++() noexcept { ++i_; return *this; }
    bool operator==(const iterator& o) const noexcept { return i_ == o.i_; }
   private:
    const storage_list* l_;
    std::size_t i_;
  };
  iterator begin() const noexcept { return {this, 0}; }
  iterator end() const noexcept { return {this, n_}; }

 private:
  arena& mem_;
  std::vector<storage_record*> chunks_;
  std::size_t n_ = 0;
};

struct tensor_record;

/// What only quantized, sparse and wrapper-subclass tensors carry, out of line so that the
/// record of a plain tensor (100,000s in one state_dict) stays small (bench/NOTES.md 31).
/// Immutable once a record points at it: copies of a record share it.
struct tensor_extra {
  double q_scale = 0;
  std::int64_t q_zero_point = 0, q_axis = 0;
  // Component tensors, owned by the checkpoint like every record. Sparse: [0] indices (COO) or
  // compressed indices, [1] plain indices (compressed layouts), [2] values. Per-channel
  // quantized: [0] scales, [1] zero points.
  std::array<const tensor_record*, 3> parts = {nullptr, nullptr, nullptr};
  std::string_view subclass;          // _rebuild_wrapper_subclass: the class ("module.Name")
};
/// The extra of every record that has none.
inline constexpr tensor_extra no_tensor_extra{};

// Trivially destructible: records live in the checkpoint's arena; the dims, device and subclass
// point into it (or, for device, into the storage value's text, also there). 64 bytes (a record
// per tensor of a 100,000-tensor state_dict, bench/NOTES.md 37): the shape and stride share one
// array and their lengths and the device's are 16-bit (max_record_dims, valid_device).
struct tensor_record {
  std::int64_t offset = 0;
  storage_record* storage = nullptr;  // null: sparse, meta and wrapper-subclass tensors
  std::uint64_t numel = 0;
  const tensor_extra* extra = &no_tensor_extra;  // never null; in the arena or no_tensor_extra
  dtype type = dtype::float32;
  bool requires_grad = false, parameter = false, conj = false, neg = false;
  // False for a tensor torch's autograd sees as computed (as_subclass of a tensor that requires
  // grad is a view, not a leaf): torch refuses to change its requires_grad.
  bool leaf = true;
  bool reached = false;  // set by the load's reachability walk (open.cpp), once per record
  tensor_layout layout = tensor_layout::strided;
  // Quantized tensors: the scheme torch reports after loading (its parameters are in extra).
  quant_scheme qscheme = quant_scheme::none;
  std::int8_t coalesced = -1;         // sparse COO: is_coalesced as saved (-1: not saved)

  std::span<std::int64_t> shape() const noexcept { return {dims_, shape_n_}; }
  /// Empty for sparse layouts (which have no strides).
  std::span<std::int64_t> stride() const noexcept { return {shape_n_ ? dims_ + shape_n_ : dims_, stride_n_}; }
  std::string_view device() const noexcept { return {device_, device_n_}; }
  /// `d` lives as long as the checkpoint; valid_device bounds it to 74 bytes.
  void set_device(std::string_view d) noexcept {
    device_ = d.data();
    device_n_ = static_cast<std::uint16_t>(std::min<std::size_t>(d.size(), UINT16_MAX));
  }
  /// `dims` holds shape_n sizes then stride_n strides and lives as long as the checkpoint
  /// (checkpoint_state::set_dims makes it). Both counts are at most max_record_dims.
  void set_dims(std::int64_t* dims, std::size_t shape_n, std::size_t stride_n) noexcept {
    dims_ = dims;
    shape_n_ = static_cast<std::uint16_t>(shape_n);
    stride_n_ = static_cast<std::uint16_t>(stride_n);
  }

 private:
  std::uint16_t shape_n_ = 0, stride_n_ = 0, device_n_ = 0;
  std::int64_t* dims_ = nullptr;
  const char* device_ = nullptr;
};
/// The most dims a record holds, whatever limits::max_dims says (its counts are 16-bit).
inline constexpr std::uint32_t max_record_dims = UINT16_MAX;
/// limits::max_dims as the loader applies it.
inline std::uint32_t dims_limit(const limits& lim) noexcept { return std::min(lim.max_dims, max_record_dims); }
static_assert(sizeof(tensor_record) <= 64);

static_assert(std::is_trivially_destructible_v<tensor_record>);
static_assert(std::is_trivially_destructible_v<value> && sizeof(value) <= 56);

// What max_tree_bytes is charged for a value node, a tensor record and a storage record: fixed
// units (their sizes before bench/NOTES.md 37), not sizeof, so that no verdict near a limit (and
// no walk budget, checkpoint::walk_budget) moves when a layout shrinks. Never below the sizes:
// the charge bounds the memory.
inline constexpr std::uint64_t charged_value_bytes = 64;
inline constexpr std::uint64_t charged_tensor_record_bytes = 96;
inline constexpr std::uint64_t charged_storage_record_bytes = 80;
static_assert(charged_value_bytes >= sizeof(value) && charged_tensor_record_bytes >= sizeof(tensor_record) &&
              charged_storage_record_bytes >= sizeof(storage_record));

/// A value's attributes (value::attrs), in the arena.
struct attr_list {
  value_attr* data = nullptr;
  std::uint32_t size = 0, cap = 0;
};

/// small_ flag bits beyond a boolean's value.
inline constexpr std::uint8_t flag_bytearray = 1;  // bytes value that is a bytearray (unhashable)
inline constexpr std::uint8_t flag_int_raw = 2;    // big integer kept as two's complement bytes
inline constexpr std::uint8_t flag_unhashable = 4;  // tuple holding an unhashable item (set when built)
inline constexpr std::uint8_t flag_hash_cached = 8; // tuple/frozenset/int/str/bytes whose key_hash sits in f_'s bits
inline constexpr std::uint8_t flag_exact_items = 16; // items_ holds exactly items_size_ slots (set_items)
// A node the machine made and only one stack slot or one fresh tuple holds: reusable once a
// consuming call has taken it (pickle/machine.cpp, recycle()). Cleared by anything that could
// give it a second holder (DUP, a memo entry that is read back, any other call).
inline constexpr std::uint8_t flag_fresh = 32;

/// Builds and mutates value nodes (the only code allowed to). Text and item arrays are copied
/// into the checkpoint's arena; the callers charge limits::max_tree_bytes first.
struct value_access {
  static value_kind& kind(value& v) { return v.kind_; }
  static std::uint8_t& small(value& v) { return v.small_; }
  static std::uint8_t& tag(value& v) { return v.tag_; }
  static std::uint8_t tag(const value& v) { return v.tag_; }
  static constexpr std::uint8_t tag_torch_version = value::tag_torch_version;
  static constexpr std::uint8_t tag_numpy = value::tag_numpy;
  static constexpr std::uint8_t tag_big_endian = value::tag_big_endian;
  static constexpr std::uint8_t tag_dtype_mask = value::tag_dtype_mask;
  static constexpr std::uint8_t tag_built = value::tag_built;
  static std::int64_t& i(value& v) { return v.i_; }
  static double& f(value& v) { return v.f_; }
  static double& g(value& v) { return v.g_; }  // complex values only
  static void set_text(arena& a, value& v, std::string_view s) {
    const std::string_view c = a.copy(s);
    v.text_ = c.data();
    v.text_size_ = c.size();
  }
  /// Text that already lives as long as the checkpoint (the arena, a static string).
  static void share_text(value& v, std::string_view s) {
    v.text_ = s.data();
    v.text_size_ = s.size();
  }
  /// n bytes of text to fill in place.
  static char* make_text(arena& a, value& v, std::size_t n) {
    char* p = n ? static_cast<char*>(a.allocate(n, 1)) : nullptr;
    v.text_ = p;
    v.text_size_ = n;
    return p;
  }
  /// Replaces the items with a copy of `items` (exact capacity). False past 2^32 - 1 items.
  /// `slots`, when given, is a reused array of exactly items.size() slots.
  static bool set_items(arena& a, value& v, std::span<const value* const> items, const value** slots = nullptr) {
    if (items.size() > UINT32_MAX) return false;
    v.items_ = slots ? slots : a.make_array<const value*>(items.size());
    if (!items.empty()) std::memcpy(static_cast<void*>(v.items_), items.data(), items.size() * slot_bytes);
    v.items_size_ = static_cast<std::uint32_t>(items.size());
    v.small_ |= flag_exact_items;
    return true;
  }
  /// Bytes that appending n items allocates (0 when the capacity suffices): what callers charge.
  static std::uint64_t grow_cost(const value& v, std::size_t n) {
    const std::uint64_t need = std::uint64_t{v.items_size_} + n;
    if (need <= capacity(v)) return 0;
    return new_cap(need) * slot_bytes;
  }
  /// Slots allocated for items_: exact for arrays made by set_items, otherwise the power of two
  /// (at least 4) that append grows to, so that no capacity field is stored per node.
  static std::uint64_t capacity(const value& v) {
    if (v.items_size_ == 0 || (v.small_ & flag_exact_items)) return v.items_size_;
    return new_cap(v.items_size_);
  }
  /// Appends items, growing the array geometrically. False past 2^32 - 1 items.
  static bool append(arena& a, value& v, std::span<const value* const> items) {
    const std::uint64_t need = std::uint64_t{v.items_size_} + items.size();
    if (need > UINT32_MAX) return false;
    if (need > capacity(v)) {
      const std::uint64_t cap = new_cap(need);
      // Not value-initialised: slots past items_size_ are never read, and a large array's
      // unwritten tail then stays untouched (not resident) memory (bench/NOTES.md 37).
      const value** bigger = static_cast<const value**>(a.allocate(static_cast<std::size_t>(cap) * slot_bytes, alignof(const value*)));
      if (v.items_size_) std::memcpy(static_cast<void*>(bigger), v.items_, v.items_size_ * slot_bytes);
      // Only this node points at a growing array (reused arrays are exact and small), so an
      // outgrown one that had a block of its own goes back now.
      a.release_large(v.items_);
      v.items_ = bigger;
      v.small_ &= static_cast<std::uint8_t>(~flag_exact_items);
    }
    if (!items.empty()) std::memcpy(static_cast<void*>(v.items_ + v.items_size_), items.data(), items.size() * slot_bytes);
    v.items_size_ = static_cast<std::uint32_t>(need);
    return true;
  }
  static bool push_item(arena& a, value& v, const value* item) { return append(a, v, std::span<const value* const>(&item, 1)); }
  static const value*& item(value& v, std::size_t i) { return v.items_[i]; }
  /// The item array itself when it holds exactly size() slots (set_items), else null.
  static const value** exact_items(value& v) { return (v.small_ & flag_exact_items) ? v.items_ : nullptr; }
  /// Appends an attribute (the name must live as long as the checkpoint).
  static void push_attr(arena& a, value& v, std::string_view name, const value* val) {
    if (!v.attrs_) v.attrs_ = a.make<attr_list>();
    attr_list& l = *v.attrs_;
    if (l.size == l.cap) {
      const std::uint32_t cap = l.cap ? 2 * l.cap : 2;
      value_attr* bigger = a.make_array<value_attr>(cap);
      for (std::uint32_t i = 0; i < l.size; ++i) bigger[i] = l.data[i];
      l.data = bigger;
      l.cap = cap;
    }
    l.data[l.size++] = {name, val};
  }
  static value_attr& attr(value& v, std::size_t i) { return v.attrs_->data[i]; }
  static const tensor_record*& tensor(value& v) { return v.tensor_; }
  static const tensor_record* tensor(const value& v) { return v.tensor_; }
  static storage_record*& storage(value& v) { return v.storage_; }
  static storage_record* storage(const value& v) { return v.storage_; }

 private:
  static std::uint64_t new_cap(std::uint64_t need) {
    std::uint64_t cap = 4;
    while (cap < need) cap *= 2;
    return cap;
  }
};

struct checkpoint_state {
  source src;
  std::unique_ptr<archive> zip;
  // A load skips libzip for plain all-stored archives; the gate asks libzip always (docs/zip.md).
  zip_check zip_checked_by = zip_check::strict_when_stored;
  // Value nodes, their text and item arrays, tensor records and their shapes: freed together.
  // Declared before everything that may point into it.
  arena mem;
  std::uint64_t tree_bytes = 0;  // charged against limits::max_tree_bytes
  // Nodes that dict-key and set-item comparisons may still visit (keys_equal). machine::run
  // sets it per pickle: min(max_key_compare_nodes, 4 per pickle byte + 256), so the work stays
  // linear in the file even when shared tuples would make one comparison exponential.
  std::uint64_t key_budget = 0;

  /// Charges n bytes of value-tree memory; false when the limit would be exceeded.
  bool charge(std::uint64_t n) {
    if (!can_charge(n)) return false;
    tree_bytes += n;
    return true;
  }
  /// True when charge(n) would succeed (nothing is charged).
  bool can_charge(std::uint64_t n) const noexcept { return n <= lim.max_tree_bytes && tree_bytes <= lim.max_tree_bytes - n; }
  storage_list storages{mem};
  // Bytes of copied (copy mode, deflated, unaligned) and synthetic storages: one buffer per large
  // storage, one pool for all small copied ones (place/placement.cpp).
  std::vector<aligned_buffer> owned;
  /// A new owned buffer of n bytes (aligned_buffer::alignment), kept until the checkpoint dies.
  std::byte* own(std::size_t n) {
    owned.emplace_back(n);
    return owned.back().data();
  }
  std::size_t tensor_count = 0;  // records made (max_tensors); the records live in the arena
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
    value* v;
    if (!free_nodes.empty()) {
      v = free_nodes.back();
      free_nodes.pop_back();
      ::new (static_cast<void*>(v)) value();
    } else {
      v = mem.make<value>();
    }
    value_access::kind(*v) = k;
    return *v;
  }
  // Nodes and exact item arrays of 1..max_reused_slots slots that the machine no longer holds
  // (flag_fresh): reused before the arena grows. Their charge to max_tree_bytes is kept, so the
  // limits see what they saw before; only the memory is saved. At most a handful wait here at a
  // time (one tensor's arguments).
  static constexpr std::size_t max_reused_slots = 8;
  std::vector<value*> free_nodes;
  std::array<std::vector<const value**>, max_reused_slots + 1> free_slots;
  /// A new tensor record (charged by the caller) in the arena.
  tensor_record& new_tensor() {
    tensor_record* t = mem.make<tensor_record>();
    ++tensor_count;
    return *t;
  }
  /// A copy of `e` in the arena (charged by the caller).
  const tensor_extra* new_extra(const tensor_extra& e) {
    tensor_extra* x = mem.make<tensor_extra>();
    *x = e;
    return x;
  }
  /// A copy of `dims` in the arena (charged by the caller).
  /// Gives `t` its own copy of `shape` and `stride` (charged by the caller; each at most
  /// max_record_dims long: the callers check dims_limit first).
  void set_dims(tensor_record& t, std::span<const std::int64_t> shape, std::span<const std::int64_t> stride) {
    const std::size_t n = shape.size() + stride.size();
    std::int64_t* p = mem.make_array<std::int64_t>(n);
    if (!shape.empty()) std::memcpy(p, shape.data(), shape.size() * sizeof(std::int64_t));
    if (!stride.empty()) std::memcpy(p + shape.size(), stride.data(), stride.size() * sizeof(std::int64_t));
    t.set_dims(p, shape.size(), stride.size());
  }
  /// A record's dims as their own copy (so that no two records share them).
  void own_dims(tensor_record& t) { set_dims(t, t.shape(), t.stride()); }
  static checkpoint make_checkpoint(std::unique_ptr<checkpoint_state> s);
  /// The state behind a checkpoint (tests compare what two ways of loading charged).
  static const checkpoint_state& of(const checkpoint& c);
};

}  // namespace pthsafe::detail
