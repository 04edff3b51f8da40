// The largest single allocation made through operator new while a callback runs (tests only).
//
// The test executable replaces the global operator new/delete in allocation_probe.cpp, a
// translation unit of its own: defined beside their callers, gcc inlines them and mistakes the
// malloc/free pairing for a new/free mismatch. Sanitizer builds keep the sanitizer's operator new
// (it checks new/delete pairing); there the probe is disabled and the tests that use it skip.
#pragma once

#include <cstddef>
#include <functional>

#if defined(__SANITIZE_ADDRESS__)
#define PTHSAFE_TEST_ALLOCATION_PROBE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PTHSAFE_TEST_ALLOCATION_PROBE 0
#endif
#endif
#ifndef PTHSAFE_TEST_ALLOCATION_PROBE
#define PTHSAFE_TEST_ALLOCATION_PROBE 1
#endif

namespace pthsafe_test {

inline constexpr bool allocation_probe_enabled = PTHSAFE_TEST_ALLOCATION_PROBE != 0;

/// Runs f and returns the size of the largest operator new request made meanwhile (0 when the
/// probe is disabled). Not reentrant; other threads' allocations are counted too.
std::size_t largest_allocation_while(const std::function<void()>& f);

}  // namespace pthsafe_test
