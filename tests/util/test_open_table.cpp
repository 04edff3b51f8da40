// util/open_table.hpp: a find that misses hands back the slot where the key goes, and
// insert_at files it there in one probe; a table that must grow first files it afresh.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "util/open_table.hpp"

using pthsafe::detail::open_table;

TEST_CASE("open_table: find-then-insert_at files every key where find finds it, across growth and collisions") {
  for (const std::uint64_t spread : {std::uint64_t{0x9e3779b97f4a7c15}, std::uint64_t{0}}) {  // 0: every hash equal
    CAPTURE(spread);
    open_table t;  // empty: grows from nothing
    std::vector<std::uint64_t> keys;
    for (std::uint32_t i = 0; i < 3000; ++i) {
      const std::uint64_t key = 1000 + 7 * std::uint64_t{i};
      const std::uint64_t h = key * spread;
      std::size_t empty_at = 0;
      const auto eq = [&](std::uint32_t id) { return keys[id] == key; };
      REQUIRE_FALSE(t.find(h, eq, empty_at));
      keys.push_back(key);
      t.insert_at(h, i, empty_at);
      REQUIRE(t.size() == i + 1);
      const auto again = t.find(h, eq, empty_at);
      REQUIRE(again);
      CHECK(*again == i);
      CHECK(empty_at == SIZE_MAX);  // a hit names no slot
      if (spread == 0 && i >= 200) break;  // one long chain: enough
    }
    // Every key still found after all the growth, and only its own id.
    for (std::uint32_t i = 0; i < keys.size(); ++i) {
      const auto id = t.find(keys[i] * spread, [&](std::uint32_t j) { return keys[j] == keys[i]; });
      REQUIRE(id);
      CHECK(*id == i);
    }
  }
}

TEST_CASE("open_table: insert_at with a stale or missing slot still files the key") {
  open_table t(4);
  std::vector<std::uint64_t> keys{11, 22, 33};
  const auto eq_for = [&](std::uint64_t key) { return [&keys, key](std::uint32_t id) { return keys[id] == key; }; };
  std::size_t slot_11 = 0, slot_22 = 0;
  REQUIRE_FALSE(t.find(11, eq_for(11), slot_11));
  REQUIRE_FALSE(t.find(22, eq_for(22), slot_22));
  t.insert_at(11, 0, slot_11);
  t.insert_at(22, 1, slot_11);      // 11's slot, now taken: filed by a probe instead
  t.insert_at(33, 2, SIZE_MAX);     // no slot at all
  for (std::uint32_t i = 0; i < keys.size(); ++i) {
    const auto id = t.find(keys[i], eq_for(keys[i]));
    REQUIRE(id);
    CHECK(*id == i);
  }
}
