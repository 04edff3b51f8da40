// The pickle machine's stack of value pointers: a vector whose push stays inline. GCC emits
// std::vector's push_back and resize out of line in the machine (58 M of many.pth's 1,300 M
// instructions, bench/NOTES.md 45); here the common path is a compare and a store, and growth
// (doubling, as a vector's) is the one call. The machine bounds the size (max_stack_items)
// before every push.
#pragma once

#include <cstddef>
#include <vector>

namespace pthsafe::detail {

template <class T>
class value_stack {
 public:
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  /// Precondition for back and pop_back: not empty (the machine checks its fence first).
  T& back() noexcept { return buf_[n_ - 1]; }
  void pop_back() noexcept { --n_; }
  [[gnu::always_inline]] void push_back(T v) {
    if (n_ == buf_.size()) [[unlikely]] grow();
    buf_[n_++] = v;
  }
  /// Drops items down to `k` (k <= size()).
  void truncate(std::size_t k) noexcept { n_ = k < n_ ? k : n_; }
  T* data() noexcept { return buf_.data(); }
  const T* data() const noexcept { return buf_.data(); }
  T* begin() noexcept { return buf_.data(); }
  T* end() noexcept { return buf_.data() + n_; }
  const T* begin() const noexcept { return buf_.data(); }
  const T* end() const noexcept { return buf_.data() + n_; }

 private:
  [[gnu::noinline]] void grow() { buf_.resize(buf_.empty() ? 64 : buf_.size() * 2); }
  std::vector<T> buf_;  // its size is the capacity; items past n_ are stale
  std::size_t n_ = 0;
};

}  // namespace pthsafe::detail
