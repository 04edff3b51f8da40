// The storages one pickle has named, by the key torch files them under. A pickle of a
// 100,000-tensor state_dict names 100,000 storages: positions in checkpoint_state::storages under
// a keyed hash of the key, one block sized from the archive's record count (at most one storage
// per record), where two node-based maps of strings cost ~12 MB (bench/NOTES.md 17).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "model/state.hpp"
#include "util/dense_ids.hpp"
#include "util/keyed_hash.hpp"
#include "util/open_table.hpp"

namespace pthsafe::detail {

class storage_keys {
 public:
  /// Indexes records of `all` (which outlives the index); `expected` sizes the table once.
  /// Keys that are small decimals below `expected` go to an array (util/dense_ids.hpp), the
  /// rest to the table: torch writes "0", "1", ... so a zip checkpoint's table stays empty.
  storage_keys(storage_list& all, std::size_t expected) : all_(all), dense_(expected) {}

  /// The storage filed under the key spelt `shown` ("5" for the int 5 and for the str '5'), with
  /// either kind of key: there is at most one, because a second kind of key with the same
  /// spelling is refused before it is filed (torch keeps 5 and '5' apart, pthsafe's output could
  /// not). Callers compare storage_record::int_key with the key they hold.
  storage_record* find(std::string_view shown) const {
    if (const auto n = small_decimal(shown, dense_.bound())) {
      const auto id = dense_.get(*n);
      return id ? &all_[*id] : nullptr;
    }
    const auto at = table_.find(hash(shown), [&](std::uint32_t i) { return all_[i].key == shown; });
    return at ? &all_[*at] : nullptr;
  }
  /// Files all[position] under its key; false when the position does not fit an id (never for
  /// the record counts the limits admit).
  bool insert(std::size_t position) {
    if (position >= std::numeric_limits<std::uint32_t>::max() - 1) return false;
    ++count_;
    if (const auto n = small_decimal(all_[position].key, dense_.bound())) {
      dense_.set(*n, static_cast<std::uint32_t>(position));
      return true;
    }
    table_.insert(hash(all_[position].key), static_cast<std::uint32_t>(position));
    return true;
  }
  std::size_t size() const noexcept { return count_; }

 private:
  static std::uint64_t hash(std::string_view shown) noexcept { return keyed_hash(shown, 0x73746f72); }
  storage_list& all_;
  dense_ids dense_;
  open_table table_;  // grows as keys outside dense_ are filed
  std::size_t count_ = 0;
};

}  // namespace pthsafe::detail
