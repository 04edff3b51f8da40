#include "stack.hpp"

namespace pthsafe::py {

stack_extent current_stack() {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return {};
  void* low = nullptr;
  std::size_t size = 0;
  const int rc = pthread_attr_getstack(&attr, &low, &size);
  pthread_attr_destroy(&attr);
  if (rc != 0) return {};
  return {reinterpret_cast<std::uintptr_t>(low), size};
}

}  // namespace pthsafe::py
