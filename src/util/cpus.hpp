// How many CPUs this process may run on (its affinity mask; hardware_concurrency where the mask
// cannot be read): the bound for the threads a load starts.
#pragma once

#include <sched.h>

#include <algorithm>
#include <thread>

namespace pthsafe::detail {

inline unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
  return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace pthsafe::detail
