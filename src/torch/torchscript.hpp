// TorchScript archives: their pickles read with TorchScript's naming conventions (no code).
#pragma once

#include <span>
#include <string>

#include "core/state.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe::detail {

/// Runs `data.pkl` (prefix "data/") or `constants.pkl` (prefix "constants/") of a TorchScript
/// archive: C++ storage class names, torch.jit._pickle helpers and __torch__ classes admitted,
/// storages read from the records `<prefix><key>`. Errors: as a zip's data.pkl.
result<value*> run_torchscript_pickle(checkpoint_state& st, const archive& zip, std::span<const std::byte> bytes,
                                      const std::string& record, const std::string& prefix, const load_options& opts);

}  // namespace pthsafe::detail
