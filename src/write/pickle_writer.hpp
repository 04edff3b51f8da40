// The pickle half of torch.save: protocol-2 opcodes emitted the way CPython's C pickler emits
// them for the objects torch.save sees (memo puts after every str, tuple, list, dict, global
// and reduce result; gets for objects seen before).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pthsafe::detail {

class pickle_writer {
 public:
  pickle_writer();  // PROTO 2
  /// STOP; the finished stream.
  std::string finish() &&;

  void none();
  void boolean(bool b);
  void integer(std::int64_t v);  ///< BININT1/BININT2/BININT/LONG1, as CPython chooses
  void floating(double d);       ///< BINFLOAT
  void text(std::string_view utf8);  ///< BINUNICODE, memoized
  /// A str object used more than once (torch's "storage", "cpu", a shared storage key): put
  /// on first use, fetched from the memo afterwards. `id` names the object.
  void shared_text(std::string_view id, std::string_view utf8);
  /// GLOBAL module/name, memoized by name: written once, fetched afterwards.
  void global(std::string_view module, std::string_view name);

  void mark();
  /// A tuple of n items already pushed (after a mark() when n > 3): EMPTY_TUPLE, TUPLE1-3 or
  /// TUPLE; memoized unless empty.
  void tuple(std::size_t n);
  void empty_dict();  ///< memoized
  void empty_list();  ///< memoized
  void setitem();
  void setitems();
  void append();
  void appends();
  void reduce();      ///< memoized (the result object)
  void build();
  void binpersid();
  /// The memo index of the last object put.
  std::uint32_t last_put() const noexcept { return next_ - 1; }
  /// BINGET / LONG_BINGET of an index put before.
  void fetch(std::uint32_t id) { get(id); }

 private:
  std::uint32_t put();
  void get(std::uint32_t id);
  void op(char c) { out_.push_back(c); }

  std::string out_;
  std::uint32_t next_ = 0;
  std::unordered_map<std::string, std::uint32_t> memo_;  // our own names, never file content
};

}  // namespace pthsafe::detail
