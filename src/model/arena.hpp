// A monotonic arena: the checkpoint's value nodes, their text and item arrays, and the tensor
// records live in a few large blocks. Nothing allocated here has a destructor; releasing the
// arena frees its blocks, so tearing down a 100,000-tensor checkpoint costs O(blocks), not
// O(objects), and building it costs a pointer bump per object instead of a malloc.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <new>
#include <string_view>
#include <type_traits>

namespace pthsafe::detail {

class arena {
 public:
  arena() = default;
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
  ~arena() {
    while (head_) {
      block* next = head_->next;
      std::free(head_);
      head_ = next;
    }
  }

  /// `n` bytes aligned to `align` (a power of two, at most alignof(max_align_t)). Callers charge
  /// limits::max_tree_bytes before they ask: the arena itself bounds nothing. Throws
  /// std::bad_alloc when the system has no memory, as operator new does.
  void* allocate(std::size_t n, std::size_t align) {
    if (cur_) {
      // Pointer arithmetic only (no integer-to-pointer casts): the padding is computed from the
      // address, then added to the pointer.
      const std::size_t pad = padding(cur_, align);
      if (pad <= static_cast<std::size_t>(end_ - cur_) && n <= static_cast<std::size_t>(end_ - cur_) - pad) {
        char* p = cur_ + pad;
        cur_ = p + n;
        if (past_ready()) [[unlikely]] make_ready(p);
        return p;
      }
    }
    if (n > SIZE_MAX / 2 - header) throw std::bad_alloc();
    // A request larger than a quarter block gets a block of its own; the current one stays open.
    if (n + align > max_block / 4) return new_block(n + align, false);
    std::size_t size = next_;
    if (next_ < max_block) next_ *= 2;
    char* start = new_block(std::max(size - header, n + align), true);
    char* p = start + padding(start, align);
    cur_ = p + n;
    if (past_ready()) make_ready(p);
    return p;
  }

  /// An array of `n` value-initialised T (T must not need a destructor).
  template <class T>
  T* make_array(std::size_t n) {
    static_assert(std::is_trivially_destructible_v<T>, "arena objects are never destroyed");
    if (n == 0) return nullptr;
    // T may be a pointer type (item arrays): its size is what is meant.
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();  // NOLINT(bugprone-sizeof-expression)
    void* p = allocate(n * sizeof(T), alignof(T));        // NOLINT(bugprone-sizeof-expression)
    T* out = static_cast<T*>(p);
    for (std::size_t i = 0; i < n; ++i) ::new (static_cast<void*>(out + i)) T();
    return out;
  }
  template <class T>
  T* make() { return make_array<T>(1); }

  /// A copy of `s` that lives as long as the arena.
  std::string_view copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = static_cast<char*>(allocate(s.size(), 1));
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }

  /// Frees `p` now if it is the start of a block of its own (an allocation larger than a quarter
  /// block), else does nothing: a growing item array hands back the array it outgrew, so that a
  /// root dict of 100,000s of items does not keep every size it went through (bench/NOTES.md 34).
  /// The caller must hold no other pointer into `p`. O(blocks).
  void release_large(const void* p) noexcept {
    if (!p) return;
    for (block** at = &head_; *at; at = &(*at)->next) {
      block* b = *at;
      if (b->own_size == 0 || reinterpret_cast<const char*>(b) + header != p) continue;
      *at = b->next;
      reserved_ -= b->own_size + header;
      std::free(b);
      return;
    }
  }

  /// Bytes of blocks held (for measurements).
  std::size_t reserved() const noexcept { return reserved_; }

 private:
  struct block {
    block* next;
    std::size_t own_size;  // usable bytes of a block of its own; 0: a shared block
  };
  static_assert(sizeof(block) <= sizeof(std::max_align_t));
  static constexpr std::size_t first_block = std::size_t{16} << 10;
  static constexpr std::size_t max_block = std::size_t{1} << 20;

  static constexpr std::size_t header = sizeof(std::max_align_t);
  // Bytes to skip from p to the next multiple of align (a power of two).
  static std::size_t padding(const char* p, std::size_t align) noexcept {
    return static_cast<std::size_t>(-reinterpret_cast<std::uintptr_t>(p) & (align - 1));
  }
  // Blocks double from 16 KiB to 1 MiB, so that a small checkpoint stays small and a large one
  // takes a block per MiB. Returns the first usable byte (aligned to max_align_t).
  char* new_block(std::size_t usable, bool current) {
    auto* b = static_cast<block*>(std::malloc(usable + header));
    if (!b) throw std::bad_alloc();
    b->next = head_;
    b->own_size = current ? 0 : usable;
    head_ = b;
    reserved_ += usable + header;
    char* start = reinterpret_cast<char*>(b) + header;
    if (current) {
      end_ = start + usable;
      ready_ = usable + header >= populated_block ? 0 : addr(end_);  // a small tree's few pages just fault in
    }
    return start;
  }

  // The current block's fresh pages are made resident a window at a time, ahead of the bump
  // pointer (MADV_POPULATE_WRITE): one call instead of a page fault for each 4 KiB page, which
  // halved a 100,000-tensor load's faults (bench/NOTES.md 57). At most a window beyond what is
  // used becomes resident. A kernel without the advice (before 5.14) refuses it, and the pages
  // then fault in as they are written.
  static constexpr std::size_t page = 4096;
  static constexpr std::size_t window = std::size_t{64} << 10;
  // Blocks below this are left to fault in: a load that is ready in under a millisecond (a few
  // small blocks) lost more to the calls than the faults cost it.
  static constexpr std::size_t populated_block = std::size_t{256} << 10;
  static std::uintptr_t addr(const char* p) noexcept { return reinterpret_cast<std::uintptr_t>(p); }
  void make_ready(char* p) noexcept {
    // From the first page boundary after p (the page p starts in is written by its caller
    // anyway), or from where the last call stopped; never outside the block.
    std::size_t skip = (page - (addr(p) & (page - 1))) & (page - 1);
    if (addr(p) + skip < ready_) skip = static_cast<std::size_t>(ready_ - addr(p));
    if (skip >= static_cast<std::size_t>(end_ - p)) {
      ready_ = addr(end_);
      return;
    }
    char* from = p + skip;
    const auto left = static_cast<std::size_t>(end_ - from);
    const std::size_t used = cur_ > from ? static_cast<std::size_t>(cur_ - from) : 0;
    std::size_t len = std::min(left, used + window);
    len -= len % page;
    if (len != 0) ::madvise(from, len, MADV_POPULATE_WRITE);
    ready_ = addr(len != 0 && len < left ? from + len : end_);
  }
  bool past_ready() const noexcept { return addr(cur_) > ready_; }

  block* head_ = nullptr;
  std::uintptr_t ready_ = 0;  // the current block is resident (or left to fault in) below this
  char* cur_ = nullptr;
  char* end_ = nullptr;
  std::size_t next_ = first_block;
  std::size_t reserved_ = 0;
};

}  // namespace pthsafe::detail
