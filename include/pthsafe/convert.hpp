// pthsafe/convert.hpp - one checkpoint file written as another: .pth (zip or legacy),
// pytorch_model.bin or .safetensors in; .pth (as torch.save writes it) or .safetensors (as
// safetensors' save_file writes it) out; the output read back and compared before it replaces
// anything (docs/save.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pthsafe/dtype.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"
#include "pthsafe/options.hpp"
#include "pthsafe/state_dict.hpp"

namespace pthsafe {

struct convert_options {
  /// How the input is read (limits, allowed globals, strict_torch). The mode is mmap unless
  /// set to copy: storages then stream from the mapping and leave memory once written.
  load_options load = [] {
    load_options o;
    o.mode = load_mode::mmap;
    return o;
  }();
  /// Write only the state_dict (found as find_state_dict finds it, with these options) instead
  /// of the whole tree. Always the case for a .safetensors output or input.
  bool state_dict_only = false;
  state_dict_options state_dict;
  /// Convert float32/float16/bfloat16 tensors to this dtype as torch's .to(dtype) does (other
  /// dtypes are written as they are). Implies state_dict_only.
  std::optional<dtype> to_dtype;
  /// Progress of the output (save_options::progress).
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

struct convert_summary {
  std::size_t tensors = 0;        ///< tensors written (tied ones counted once for safetensors)
  std::size_t converted = 0;      ///< tensors whose dtype --dtype changed
  std::string state_dict_key;     ///< where the state_dict was found ("" for the root), when one was
  bool whole_tree = false;        ///< the whole tree was written (not only a state_dict)
  /// safetensors metadata that a .pth has no place for (all but "format"), dropped and named.
  std::vector<std::string> dropped_metadata;
};

/// Converts `in` to `out`; formats from the extensions (.safetensors, else a checkpoint in,
/// .pth/.pt/.bin/.ckpt out). Errors: those of checkpoint::open / safetensors_file::open,
/// find_state_dict, save / save_safetensors (save_unsupported, save_bad_tensor, io_write,
/// save_verify_mismatch), convert_format_unknown for an output extension it does not write.
PTHSAFE_API result<convert_summary> convert_file(const std::string& in, const std::string& out,
                                                 const convert_options& opts = {});

}  // namespace pthsafe
