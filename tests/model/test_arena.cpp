// The checkpoint's arena (model/arena.hpp): blocks of their own for large arrays, handed back
// when a growing item array outgrows them; everything else stays until the arena dies.
#include <doctest/doctest.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "model/arena.hpp"
#include "model/state.hpp"

namespace d = pthsafe::detail;
using pthsafe::value;
using pthsafe::value_kind;

TEST_CASE("arena: a block of its own goes back on release_large; shared blocks and other pointers never do") {
  d::arena a;
  void* small = a.allocate(64, 8);
  const std::size_t after_small = a.reserved();
  void* big = a.allocate(std::size_t{1} << 20, 8);  // larger than a quarter block: its own block
  REQUIRE(a.reserved() > after_small + (std::size_t{1} << 20));
  std::memset(big, 0x5a, std::size_t{1} << 20);
  a.release_large(small);  // in a shared block: nothing
  a.release_large(static_cast<char*>(big) + 8);  // not a block's start: nothing
  a.release_large(nullptr);
  CHECK(a.reserved() > after_small + (std::size_t{1} << 20));
  a.release_large(big);
  CHECK(a.reserved() == after_small);
  a.release_large(big);  // gone already: nothing
  CHECK(a.reserved() == after_small);
  std::memset(small, 0x11, 64);  // the shared block is still there
}

TEST_CASE("a list grown past a block of its own keeps every item and holds only its last array") {
  d::checkpoint_state st;
  value& list = st.new_value(value_kind::list);
  std::vector<value*> nodes;
  for (int i = 0; i < 300000; ++i) {
    value& x = st.new_value(value_kind::integer);
    d::value_access::i(x) = i;
    nodes.push_back(&x);
    REQUIRE(d::value_access::push_item(st.mem, list, &x));
  }
  REQUIRE(list.items().size() == 300000);
  for (int i = 0; i < 300000; i += 997) CHECK(list.items()[static_cast<std::size_t>(i)]->as_int64() == i);
  // 300,000 slots: the list holds a 4 MiB array (2^19 slots); the 2 MiB, 1 MiB, 512 KiB and
  // 256 KiB arrays it grew through had blocks of their own and went back (3.75 MiB), the smaller
  // ones stay in shared blocks. The nodes: 300,001 x 64 bytes in blocks of up to 1 MiB.
  const std::size_t nodes_bytes = std::size_t{300001} * sizeof(value);
  const std::size_t final_array = (std::size_t{1} << 19) * sizeof(void*);
  CHECK(st.mem.reserved() < nodes_bytes + final_array + (std::size_t{2} << 20));
  CHECK(st.mem.reserved() > nodes_bytes + final_array);
}

TEST_CASE("arena: a large block's pages are made resident a window ahead of the bump pointer") {
  // Large blocks then come from fresh mappings (glibc; the sanitizers' allocators map large
  // blocks afresh anyway), whose untouched pages are not resident.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);  // the default's value, without its growth after frees
  d::arena a;
  // Blocks double from 16 KiB: allocate until one of at least 256 KiB is opened.
  char* p = nullptr;
  for (int i = 0; i < 100000 && !p; ++i) {
    const std::size_t before = a.reserved();
    void* q = a.allocate(1024, 8);
    if (a.reserved() - before >= (std::size_t{256} << 10)) p = static_cast<char*>(q);
  }
  REQUIRE(p != nullptr);
  // The pages after the one p starts in, up to 32 KiB on, were not written by anyone.
  const long page = ::sysconf(_SC_PAGESIZE);
  const auto first = (reinterpret_cast<std::uintptr_t>(p) / static_cast<std::uintptr_t>(page) + 1) * static_cast<std::uintptr_t>(page);
  const std::size_t pages = (std::size_t{32} << 10) / static_cast<std::size_t>(page);
  std::vector<unsigned char> resident(pages, 0);
  REQUIRE(::mincore(reinterpret_cast<void*>(first), pages * static_cast<std::size_t>(page), resident.data()) == 0);
  for (std::size_t i = 0; i < pages; ++i) {
    CAPTURE(i);
    CHECK((resident[i] & 1) != 0);
  }
}
