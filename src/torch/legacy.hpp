// Reading the legacy (torch 0.1.10-1.5) stacked-pickle format.
#pragma once

#include "model/state.hpp"
#include "pthsafe/options.hpp"

namespace pthsafe::detail {

/// Reads a legacy stream from st.src (which starts with the legacy magic pickle): checks the
/// magic, protocol and sys_info pickles, interprets the main pickle (6-tuple persistent ids,
/// view_metadata as views of their root storage), then matches the sorted key list with the
/// size-prefixed storage data, recording each storage's file offset for placement. Sets
/// st.root and st.format. Errors: legacy_bad_header, legacy_bad_storage_list,
/// storage_size_mismatch, every pickle_* / tensor error of a zip's data.pkl.
result<void> read_legacy(checkpoint_state& st, const load_options& opts);

}  // namespace pthsafe::detail
