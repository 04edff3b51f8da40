// Readers of one resume section each (optimizer, LR scheduler, GradScaler state_dict), used by
// summarize_training. `budget` counts the values visited (checkpoint::walk_budget()): memo
// sharing can make one small group dict appear a million times, and each visit costs memory.
#pragma once

#include <cstdint>
#include <string>

#include "pthsafe/resume.hpp"

namespace pthsafe::detail {

optimizer_summary read_optimizer(const value& v, std::string key, std::uint64_t& budget);
scheduler_summary read_scheduler(const value& v, std::string key, std::uint64_t& budget);
scaler_summary read_scaler(const value& v, std::string key);

}  // namespace pthsafe::detail
