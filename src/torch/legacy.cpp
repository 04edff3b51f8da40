// The legacy stream (torch 0.1.10 - 1.5, and `_use_new_zipfile_serialization=False` since):
// five pickles one after the other, then the raw storages.
//   1. magic number 0x1950a86a20f9469cfc6c        4. the saved object; storages as 6-tuple
//   2. protocol version 1001                         persistent ids with view_metadata
//   3. sys_info dict (ignored, as torch does)      5. the storage keys, sorted
// then, per key in that order, an int64 little-endian element count and count * itemsize bytes,
// always little-endian (the writer converts on big-endian hosts). Every pickle runs in the same
// restricted machine as a zip's data.pkl; the byte ranges are only recorded here and read by
// placement (zero-copy in mmap mode where they are aligned).
#include "torch/legacy.hpp"

#include <algorithm>
#include <unordered_set>

#include "io/checked.hpp"
#include "torch/rebuild.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

constexpr std::string_view magic_decimal = "119547037146038801333356";  // 0x1950a86a20f9469cfc6c
constexpr std::int64_t protocol_version = 1001;

// Runs one pickle starting at `pos` and advances `pos` past its STOP. Offsets in errors are
// file offsets (the record is the file itself).
result<value*> run_at(checkpoint_state& st, torch_rebuilder& rb, const load_options& opts, std::uint64_t& pos) {
  const auto file = st.src.bytes();
  machine m(st, rb, opts, "");
  rb.attach(&m);
  std::uint64_t end = 0;
  // The storages follow the pickles: bound the span so that max_pickle_bytes judges the pickle,
  // not the (possibly huge) data after it.
  const std::uint64_t n = std::min<std::uint64_t>(file.size() - pos, opts.limits.max_pickle_bytes);
  auto v = m.run(file.subspan(static_cast<std::size_t>(pos), static_cast<std::size_t>(n)), end);
  if (!v) {
    error e = std::move(v).error_value();
    e.offset += pos;
    return e;
  }
  pos += end;
  return v;
}

error bad_header(std::string msg, std::uint64_t at) { return make_error(errc::legacy_bad_header, std::move(msg), "", at); }
error bad_list(std::string msg, std::uint64_t at) { return make_error(errc::legacy_bad_storage_list, std::move(msg), "", at); }

}  // namespace

result<storage_record*> torch_rebuilder::legacy_view(storage_record& root, const value& md) {
  // torch: deserialized_objects[view_key] = root[offset:offset + size] (elements of root's dtype).
  if (md.kind() != value_kind::tuple || md.items().size() != 3)
    return fail(errc::bad_persistent_id, "view_metadata must be (view_key, offset, size)");
  const auto m = md.items();
  // View keys share torch's deserialized_objects dict with root keys: same identity rules.
  const auto shown = shown_storage_key(*m[0]);
  if (!shown) return fail(errc::bad_persistent_id, "view key is not a str or an int");
  const std::string& key = *shown;
  const bool int_key = m[0]->kind() != value_kind::string;
  for (const value* x : {m[1], m[2]})
    if (x->kind() != value_kind::integer || !x->fits_int64() || x->as_int64() < 0)
      return fail(errc::bad_persistent_id, "view offset and size must be non-negative ints");
  const std::size_t item = itemsize(root.type);
  const auto off = checked_mul<std::uint64_t>(static_cast<std::uint64_t>(m[1]->as_int64()), item);
  const auto len = checked_mul<std::uint64_t>(static_cast<std::uint64_t>(m[2]->as_int64()), item);
  if (!off || !len || !range_fits(*off, *len, root.nbytes))
    return fail(errc::tensor_out_of_bounds, "storage view '" + key + "' reaches past the end of storage '" + std::string(root.key) + "'");
  storage_record* same_spelling = by_key_.find(key);
  if (same_spelling && same_spelling->int_key == int_key) {
    storage_record* v = same_spelling;
    if (v->alias_of() != &root || v->alias_offset() != *off || v->nbytes != *len)
      return fail(errc::bad_persistent_id, "storage view key '" + key + "' already names another storage");
    return v;
  }
  if (!st_.charge(charged_storage_record_bytes + 4 * key.size() + 160))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  if (same_spelling)
    return fail(errc::bad_persistent_id, "storage keys " + key + " (int) and '" + key +
                                                 "' (str) are two storages to torch but one name in pthsafe's output");
  st_.storages.emplace_back();
  storage_record* v = &st_.storages.back();
  v->key = st_.mem.copy(key);
  v->int_key = int_key;
  v->type = root.type;
  v->nbytes = *len;
  storage_alias* alias = st_.mem.make<storage_alias>();  // charged with the record above
  alias->of = &root;
  alias->offset = *off;
  v->alias = alias;
  if (!by_key_.insert(st_.storages.size() - 1)) return fail(errc::limit_exceeded, "too many storages");
  return v;
}

result<void> read_legacy(checkpoint_state& st, const load_options& opts) {
  const std::uint64_t size = st.src.size();
  std::uint64_t pos = 0;
  {
    torch_rebuilder plain(st, nullptr, opts);  // no persistent ids belong in the header pickles
    const std::uint64_t at_magic = pos;
    PTHSAFE_ASSIGN(auto magic, run_at(st, plain, opts, pos));
    if (magic->kind() != value_kind::integer || magic->int_decimal() != magic_decimal)
      return bad_header("invalid magic number; corrupt file?", at_magic);
    const std::uint64_t at_proto = pos;
    PTHSAFE_ASSIGN(auto proto, run_at(st, plain, opts, pos));
    if (proto->kind() != value_kind::integer || !proto->fits_int64() || proto->as_int64() != protocol_version)
      return bad_header("invalid protocol version (torch writes 1001)", at_proto);
    PTHSAFE_TRY(run_at(st, plain, opts, pos));  // sys_info (little_endian / type_sizes): torch ignores it
  }
  torch_rebuilder rb(st, nullptr, opts);
  rb.use_legacy_ids();
  PTHSAFE_ASSIGN(auto root, run_at(st, rb, opts, pos));
  const std::uint64_t at_keys = pos;
  {
    torch_rebuilder plain(st, nullptr, opts);
    PTHSAFE_ASSIGN(auto keys, run_at(st, plain, opts, pos));
    if (keys->kind() != value_kind::list) return bad_list("storage key list is not a list", at_keys);
    std::unordered_set<storage_record*> seen;
    for (const value* k : keys->items()) {
      // torch: `for key in deserialized_storage_keys: assert key in deserialized_objects`: the
      // key as written, so '5' does not find a storage the pickle keyed 5 (torch asserts; the
      // int-keyed storage would keep uninitialised memory).
      const auto shown_key = torch_rebuilder::shown_storage_key(*k);
      if (!shown_key) return bad_list("storage key list holds a key that is neither a str nor an int", at_keys);
      const std::string& shown = *shown_key;
      storage_record* found = rb.storages_by_key().find(shown);
      if (!found || found->int_key != (k->kind() != value_kind::string) || found->alias)
        return bad_list("storage key " + std::string(k->kind() == value_kind::string ? "'" + shown + "'" : shown) +
                            " in the key list is no storage of the pickle (torch asserts)", at_keys);
      storage_record& s = *found;
      if (!seen.insert(&s).second) return bad_list("storage key '" + std::string(s.key) + "' listed twice", at_keys);
      // int64 element count, then the bytes (torch: "storage has wrong byte size").
      if (!range_fits(pos, 8, size)) return bad_list("file ends inside the size of storage '" + std::string(s.key) + "'", pos);
      std::uint64_t count = 0;
      for (int i = 0; i < 8; ++i)
        count |= std::uint64_t(static_cast<unsigned char>(st.src.bytes()[static_cast<std::size_t>(pos) + i])) << (8 * i);
      const auto nbytes = checked_mul<std::uint64_t>(count, itemsize(s.type));
      if (static_cast<std::int64_t>(count) < 0 || !nbytes || *nbytes != s.nbytes)
        return make_error(errc::storage_size_mismatch,
                          "storage '" + std::string(s.key) + "' has wrong byte size: expected " + std::to_string(s.nbytes) + " got " +
                              (nbytes && static_cast<std::int64_t>(count) >= 0 ? std::to_string(*nbytes) : std::string("> 2^63")),
                          "", pos);
      pos += 8;
      if (!range_fits(pos, s.nbytes, size)) return bad_list("file ends inside the bytes of storage '" + std::string(s.key) + "'", pos);
      s.file_offset = pos;
      s.set_record({});
      pos += s.nbytes;
    }
    // In creation order (not the hash table's, which is keyed per process), so that the storage
    // named in the error is the same on every run.
    for (const storage_record& s : st.storages)
      if (!s.alias && !s.synthetic && !s.file_offset)
        return bad_list("storage '" + std::string(s.key) + "' is missing from the key list: torch would leave its memory uninitialised",
                        at_keys);
  }
  if (pos != size) return bad_list(std::to_string(size - pos) + " bytes follow the last storage", pos);
  st.root = root;
  st.format = container_format::legacy;
  return {};
}

}  // namespace pthsafe::detail
