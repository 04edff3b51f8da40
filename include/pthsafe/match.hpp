// pthsafe/match.hpp - checking a state_dict against a model the way torch's
// Module.load_state_dict does, and copying the matched tensors into the caller's buffers.
//
// The model is described by a reference: its state_dict names in Module.state_dict() order, each
// with a dtype and a shape (from another checkpoint, a safetensors file or a JSON manifest). The
// module tree is inferred from the dotted names ("encoder.0.weight": module "encoder.0", local
// name "weight"); docs/match.md states what can and cannot be decided that way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pthsafe/dtype.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/options.hpp"
#include "pthsafe/safetensors.hpp"
#include "pthsafe/state_dict.hpp"

namespace pthsafe {

/// One tensor the model expects.
struct reference_entry {
  std::string name;
  dtype type = dtype::float32;
  std::vector<std::int64_t> shape;
};

/// What the model expects, in its state_dict order: for each module its parameters, then its
/// persistent buffers, then its `_extra_state`, then its children in registration order (the
/// order Module.state_dict() writes and every file kind below keeps).
struct reference {
  std::vector<reference_entry> entries;
};

/// The reference another state_dict describes (file order). Owns its strings.
PTHSAFE_API reference reference_from_state_dict(const state_dict& sd);
/// The reference a safetensors file describes, in its header's order (not the model's
/// state_dict order when the safetensors package wrote it: docs/match.md).
PTHSAFE_API reference reference_from_safetensors(const safetensors_file& file);
/// A JSON manifest `{"name": {"dtype": "float32", "shape": [64, 32]}, ...}`, in the order its
/// text lists the names (dtype names as torch's without "torch."; shape entries >= 0). Errors:
/// json_malformed / json_duplicate_key / limit_exceeded (the text), manifest_invalid (the
/// schema: anything else than such an object, an unknown dtype, a negative dimension, more
/// than max_dims dimensions, unknown member names).
PTHSAFE_API result<reference> reference_from_manifest(std::string_view json_text, const limits& lim = {});

/// One "size mismatch" torch reports (an error even with strict=False).
struct size_mismatch {
  std::string key;
  std::vector<std::int64_t> checkpoint;  ///< the shape in the checkpoint
  std::vector<std::int64_t> expected;    ///< the shape in the model
};

/// A dtype difference torch casts silently (param.copy_): reported as a warning.
struct dtype_mismatch {
  std::string key;
  dtype checkpoint = dtype::float32;
  dtype expected = dtype::float32;
};

/// torch's load_state_dict result. missing_keys and unexpected_keys are computed whatever
/// `strict` says (torch does too: strict only decides whether they raise).
struct match_report {
  std::vector<std::string> missing_keys;     ///< per module in preorder, in the model's order
  std::vector<std::string> unexpected_keys;  ///< per module in preorder, in the checkpoint's order
  std::vector<size_mismatch> size_mismatches;
  std::vector<dtype_mismatch> dtype_mismatches;
  bool strict = true;
  /// What torch would accept: strict, no missing or unexpected key and no size mismatch;
  /// non-strict, no size mismatch. dtype mismatches never count.
  bool ok() const noexcept {
    return size_mismatches.empty() && (!strict || (missing_keys.empty() && unexpected_keys.empty()));
  }
};

struct match_options {
  bool strict = true;
};

/// Matches `sd` against `ref` exactly as `model.load_state_dict(sd, strict)` does (see
/// docs/match.md for the order of the lists and the special cases: 0-d parameters accepting a
/// one-element 1-d tensor, `_extra_state`, BatchNorm's num_batches_tracked under an old
/// `_metadata` version). Never fails: every input yields a report.
PTHSAFE_API match_report match_state_dict(const state_dict& sd, const reference& ref, const match_options& opts = {});

// ---- copying into the caller's memory ------------------------------------------------------

/// Where a destination's bytes live. Host memory only today; a device backend adds its kind.
enum class destination_kind : std::uint8_t {
  host,  ///< ordinary CPU memory, written with plain stores
};

/// One tensor's destination: the name it has in the state_dict, the dtype and shape the caller
/// wants, and exactly numel * itemsize(type) bytes of memory (C order, no alignment required).
struct destination {
  std::string name;
  dtype type = dtype::float32;
  std::vector<std::int64_t> shape;
  std::span<std::byte> bytes;
  destination_kind kind = destination_kind::host;
};

/// Copies each destination's tensor from `sd` (any strides; written contiguous in C order),
/// converting between float32, float16 and bfloat16 exactly as torch's `.to(dtype)` does
/// (round to nearest even; overflow becomes infinity, subnormals are kept; NaN stays NaN, with the
/// bits torch 2.x writes on x86-64: docs/match.md); other
/// dtypes must be equal. The shapes must match as load_state_dict would accept them (a 0-d
/// destination takes a one-element 1-d tensor). Errors, before any byte is written:
/// destination_mismatch (a name absent from `sd`, a shape, a dtype pair or a buffer size that
/// does not fit), unsupported_feature (a tensor without plain strided bytes: sparse, quantized,
/// packed sub-byte types, or a checkpoint opened in load_mode::metadata).
PTHSAFE_API result<void> load_into(const state_dict& sd, std::span<const destination> destinations);

}  // namespace pthsafe
