// How many values the value tree expands to when every shared reference is written out, as the
// JSON document (inspect --json) writes it: the measure of a memo "billion laughs".
#pragma once

#include "pthsafe/checkpoint.hpp"
#include "pthsafe/error.hpp"

namespace pthsafe::detail {

/// limit_exceeded when writing the tree out would visit more values than ck.walk_budget() (naming
/// max_walk_nodes) or write at least ck.output_budget() bytes (max_output_bytes); the count is memoised per node, so the check is linear in the values the
/// file created, however far they expand. A scan uses it to judge such a file malformed exactly
/// where a load's JSON walk would refuse it.
result<void> check_expansion(const checkpoint& ck);

}  // namespace pthsafe::detail
