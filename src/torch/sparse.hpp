// Sparse tensors: the rebuild lives on torch_rebuilder (rebuild.hpp); this is the check that
// needs the index data.
#pragma once

#include "model/state.hpp"

namespace pthsafe::detail {

/// Checks the index values of every reachable sparse tensor against torch's invariants (COO:
/// every index inside the size, sorted and unique when marked coalesced; compressed: first
/// compressed index 0, last nnz, steps within [0, plain dim], plain indices in range and
/// strictly increasing within each compressed slice). Runs after placement in every load mode,
/// reading index storages that were not placed. Errors: sparse_invalid, and the storage read
/// errors of storage_le_bytes.
result<void> validate_sparse_tensors(const checkpoint_state& st, const limits& lim);

}  // namespace pthsafe::detail
