// pthsafe/value.hpp - the unpickled object as a tree of inert values.
//
// A value is a node owned by its checkpoint (never by the caller); pointers and references to
// values stay valid for the checkpoint's lifetime. The graph is acyclic (a cycle is refused while
// loading) but may share nodes, exactly as the pickle memo shares objects.
#pragma once

#include <complex>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "pthsafe/dtype.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/tensor.hpp"

namespace pthsafe {

enum class value_kind : std::uint8_t {
  none, boolean, integer, floating, complex, string, bytes,
  tuple, list, set, frozenset, dict, ordered_dict,
  size,      ///< torch.Size: items are integers
  dtype,     ///< torch.<dtype>
  device,    ///< torch.device
  layout,    ///< torch.strided, torch.sparse_coo, ... (from _get_layout)
  qscheme,   ///< torch.per_tensor_affine, ...
  tensor,    ///< any rebuilt tensor or nn.Parameter
  object,    ///< a caller-allowed global, kept inert: class name, args, state
  global,    ///< a reference to an allowed class or function that was never called
  storage,   ///< a storage object that appears as a value itself (not through a tensor)
  ndarray,   ///< a numeric numpy array: numpy_dtype(), items() = shape (ints), text() = its bytes
             ///< in C order, little-endian
};

/// Name used in inspect --json ("none", "bool", "int", "OrderedDict", ...).
PTHSAFE_API std::string_view value_kind_name(value_kind k) noexcept;

namespace detail {
struct value_access;
struct storage_record;
struct attr_list;
}


class value;
/// An attribute set by BUILD: its name and value (both owned by the checkpoint).
using value_attr = std::pair<std::string_view, const value*>;

/// One node. Accessors that read one kind's payload (as_bool, as_int64, as_double, as_complex,
/// as_dtype, int_decimal, as_tensor) require that kind and throw precondition_error naming the
/// rule otherwise (a programming error: test kind() first). The members returning views into
/// the node (text, items, attrs, dict_class) are callable on an lvalue only: nodes live in
/// their checkpoint, and a view of a temporary copy would dangle.
class PTHSAFE_API value {
 public:
  value_kind kind() const noexcept { return kind_; }
  bool is(value_kind k) const noexcept { return kind_ == k; }

  // ---- scalars ------------------------------------------------------------------------
  /// Requires kind() == boolean.
  bool as_bool() const {
    detail::require(kind_ == value_kind::boolean, "value::as_bool(): requires kind() == boolean");
    return small_ != 0;
  }
  /// integer: true when it fits int64 (then as_int64 is exact).
  bool fits_int64() const noexcept { return kind_ == value_kind::integer && text_size_ == 0; }
  /// Requires fits_int64() (an integer beyond int64 has no int64 value: use int_decimal()).
  std::int64_t as_int64() const {
    detail::require(fits_int64(), "value::as_int64(): requires fits_int64()");
    return i_;
  }
  std::string int_decimal() const;  ///< any integer, in decimal; requires kind() == integer
  /// floating: the value; complex: the real part. Requires kind() floating or complex.
  double as_double() const {
    detail::require(kind_ == value_kind::floating || kind_ == value_kind::complex,
                    "value::as_double(): requires kind() == floating or complex");
    return f_;
  }
  /// complex: the value; floating: the value + 0i. Requires kind() complex or floating.
  std::complex<double> as_complex() const {
    detail::require(kind_ == value_kind::floating || kind_ == value_kind::complex,
                    "value::as_complex(): requires kind() == complex or floating");
    return {f_, kind_ == value_kind::complex ? g_ : 0.0};
  }
  /// string: UTF-8 (lone surrogates kept as CESU-style 3-byte sequences, like "surrogatepass");
  /// bytes: raw bytes; dtype/device/layout/qscheme/global/object: the name. Never throws;
  /// for other kinds the text is not part of the API (an integer's: use int_decimal()).
  std::string_view text() const& noexcept { return {text_, text_size_}; }
  std::string_view text() const&& = delete;
  /// dtype values: the element type. Requires kind() == dtype.
  pthsafe::dtype as_dtype() const {
    detail::require(kind_ == value_kind::dtype, "value::as_dtype(): requires kind() == dtype");
    return static_cast<pthsafe::dtype>(i_);
  }

  // ---- classes beyond torch's allowlist (docs/policy.md) -----------------------------------
  /// A str that was a torch.torch_version.TorchVersion (what torch.__version__ pickles as).
  bool is_torch_version() const noexcept { return kind_ == value_kind::string && tag_ == tag_torch_version; }
  /// numpy scalars (bool, int, float, complex values) and ndarrays: the numpy element type
  /// (bool, int8-64, uint8-64, float16/32/64, complex64/128); nullopt for any other value.
  std::optional<pthsafe::dtype> numpy_dtype() const noexcept {
    if ((tag_ & tag_numpy) == 0 || kind_ == value_kind::dtype) return std::nullopt;
    return static_cast<pthsafe::dtype>(tag_ & tag_dtype_mask);
  }

  // ---- containers ---------------------------------------------------------------------
  /// tuple, list, set, frozenset, size: the items. dict, ordered_dict: keys and values
  /// interleaved (k0, v0, k1, v1, ...). object: (args[, state]).
  std::span<const value* const> items() const& noexcept { return {items_, items_size_}; }
  std::span<const value* const> items() const&& = delete;
  std::size_t size() const noexcept {
    return (kind_ == value_kind::dict || kind_ == value_kind::ordered_dict) ? items_size_ / 2 : items_size_;
  }
  /// dict-like lookup by string key (first match); null when absent or not a dict.
  const value* find(std::string_view key) const noexcept;
  /// Attributes set by BUILD (an OrderedDict's `_metadata`) or on a tensor (subclass state,
  /// Parameter state); empty when none.
  std::span<const value_attr> attrs() const& noexcept;
  std::span<const value_attr> attrs() const&& = delete;
  /// A dict's class when it is a subclass the policy maps to dict ("collections.Counter").
  std::string_view dict_class() const& noexcept {
    return kind_ == value_kind::dict ? text() : std::string_view();
  }
  std::string_view dict_class() const&& = delete;

  // ---- tensors ------------------------------------------------------------------------
  /// tensor: the view. Requires kind() == tensor (precondition_error otherwise).
  tensor_view as_tensor() const;

 private:
  friend struct detail::value_access;
  static constexpr std::uint8_t tag_torch_version = 1;
  static constexpr std::uint8_t tag_numpy = 0x40;       // low bits: the dtype
  static constexpr std::uint8_t tag_big_endian = 0x80;  // a numpy dtype node ('>'), before decoding
  static constexpr std::uint8_t tag_built = 0x20;       // a numpy dtype or ndarray node BUILD has set
  static constexpr std::uint8_t tag_dtype_mask = 0x1f;
  // 56 bytes, trivially destructible: nodes, their text, item and attribute arrays live in the
  // checkpoint's arena (detail::arena) and are freed with it, never one by one. Two nodes per
  // tensor of a state_dict (its key and itself), so fields no kind uses together share a word
  // (bench/NOTES.md 37): the record pointers of tensor and storage nodes (which hold no integer,
  // dtype, global or height) and a complex value's imaginary part (it has no items).
  value_kind kind_ = value_kind::none;
  std::uint8_t small_ = 0;            // boolean value; detail::flag_* bits
  std::uint8_t tag_ = 0;              // Python class beyond the kind: tag_torch_version, tag_numpy | dtype
  std::uint32_t items_size_ = 0;      // capacity: see detail::value_access::capacity
  union {
    std::int64_t i_ = 0;                              // integer (small), dtype enum, packed global reference, height
    const detail::tensor_record* tensor_;             // value_kind::tensor
    detail::storage_record* storage_;                 // value_kind::storage
  };
  double f_ = 0;                      // float, complex real part; cached key hash
  const char* text_ = nullptr;        // str/bytes payload, big-int bytes, names
  std::size_t text_size_ = 0;
  union {
    const value** items_ = nullptr;   // containers
    double g_;                        // value_kind::complex: imaginary part
  };
  detail::attr_list* attrs_ = nullptr;
};

}  // namespace pthsafe
