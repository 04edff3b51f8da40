// The calling thread's stack, and a way to run the core on a large one. Python code may call
// pthsafe from a thread made with a small threading.stack_size (32 KiB and up), while the core
// recurses once per nesting level of the pickle (up to limits::max_nesting_depth, 1000): comparing
// two nested keys takes ~300 bytes a level, ~300 KiB at the limit. The CLI runs on the main
// thread's 8 MiB; the package runs the core there too, or on a thread of its own with as much.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

namespace pthsafe::py {

/// The calling thread's stack: lowest address and size; {0, 0} when unknown.
struct stack_extent {
  std::uintptr_t low = 0;
  std::size_t size = 0;
};
stack_extent current_stack();

/// What the core may need at its deepest (see above), with room to spare.
inline constexpr std::size_t core_stack_bytes = std::size_t{8} << 20;

/// Runs `f()` on the calling thread when its stack holds core_stack_bytes, else on a new thread
/// with that stack, joined before returning (f's exception, if any, rethrown here). Called with
/// the GIL released: f touches no Python object. Throws std::runtime_error when no thread can
/// be made.
template <class F>
auto on_core_stack(F&& f) -> decltype(f()) {
  using R = decltype(f());
  if (current_stack().size >= core_stack_bytes) return f();
  struct job {
    F* fn;
    std::optional<R> out;
    std::exception_ptr err;
  } j{&f, std::nullopt, nullptr};
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) throw std::runtime_error("pthsafe: cannot make a thread for the core");
  pthread_attr_setstacksize(&attr, core_stack_bytes);
  pthread_t t{};
  const int rc = pthread_create(
      &t, &attr,
      [](void* p) -> void* {
        auto* jp = static_cast<job*>(p);
        try {
          jp->out.emplace((*jp->fn)());
        } catch (...) {
          jp->err = std::current_exception();
        }
        return nullptr;
      },
      &j);
  pthread_attr_destroy(&attr);
  if (rc != 0) throw std::runtime_error("pthsafe: cannot make a thread for the core");
  pthread_join(t, nullptr);
  if (j.err) std::rethrow_exception(j.err);
  return std::move(*j.out);
}

}  // namespace pthsafe::py
