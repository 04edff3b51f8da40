// tests/support/pickle_builder.hpp - writes pickle opcodes by hand, torch-style state_dict
// pickles, and whole torch checkpoints (pickle + storage records in a zip).
//
// The opcode values are spelled out here rather than taken from src/pickle/opcodes.hpp so that the
// tests do not share a table with the code they check.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "support/zip_builder.hpp"

namespace pthsafe_test {

namespace pk {
inline constexpr std::uint8_t MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', FLOAT = 'F',
    INT = 'I', BININT = 'J', BININT1 = 'K', LONG = 'L', BININT2 = 'M', NONE = 'N', PERSID = 'P',
    BINPERSID = 'Q', REDUCE = 'R', STRING = 'S', BINSTRING = 'T', SHORT_BINSTRING = 'U',
    UNICODE = 'V', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd',
    EMPTY_DICT = '}', APPENDS = 'e', GET = 'g', BINGET = 'h', INST = 'i', LONG_BINGET = 'j',
    LIST = 'l', EMPTY_LIST = ']', OBJ = 'o', PUT = 'p', BINPUT = 'q', LONG_BINPUT = 'r',
    SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', BINFLOAT = 'G', PROTO = 0x80,
    NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85, TUPLE2 = 0x86,
    TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b, BINBYTES = 'B',
    SHORT_BINBYTES = 'C', SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e,
    EMPTY_SET = 0x8f, ADDITEMS = 0x90, FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93,
    MEMOIZE = 0x94, FRAME = 0x95, BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98;
}  // namespace pk

/// pickle.encode_long: the shortest little-endian two's complement bytes of v (empty for 0).
inline bytes encode_long(std::int64_t v) {
  if (v == 0) return {};
  bytes b;
  const auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::byte>((u >> (8 * i)) & 0xff));
  while (b.size() > 1) {
    const auto last = std::to_integer<std::uint8_t>(b.back()), prev = std::to_integer<std::uint8_t>(b[b.size() - 2]);
    if ((last == 0x00 && !(prev & 0x80)) || (last == 0xff && (prev & 0x80))) b.pop_back();
    else break;
  }
  return b;
}

/// Appends opcodes and operands. Every method returns *this so a stream reads as one chain.
class pickle_writer {
 public:
  std::size_t size() const noexcept { return b_.size(); }  ///< offset the next opcode will have
  const bytes& data() const& noexcept { return b_; }
  bytes take() { return std::move(b_); }

  pickle_writer& op(std::uint8_t code) { put_u8(b_, code); return *this; }
  pickle_writer& raw(std::string_view s) { pthsafe_test::append(b_, s); return *this; }
  pickle_writer& raw(std::span<const std::byte> s) { pthsafe_test::append(b_, s); return *this; }
  pickle_writer& u8(std::uint8_t v) { put_u8(b_, v); return *this; }
  pickle_writer& u16(std::uint16_t v) { put_u16(b_, v); return *this; }
  pickle_writer& u32(std::uint32_t v) { put_u32(b_, v); return *this; }
  pickle_writer& u64(std::uint64_t v) { put_u64(b_, v); return *this; }

  pickle_writer& proto(std::uint8_t v = 2) { return op(pk::PROTO).u8(v); }
  pickle_writer& stop() { return op(pk::STOP); }
  pickle_writer& mark() { return op(pk::MARK); }
  pickle_writer& none() { return op(pk::NONE); }
  pickle_writer& newtrue() { return op(pk::NEWTRUE); }
  pickle_writer& newfalse() { return op(pk::NEWFALSE); }
  pickle_writer& boolean(bool v) { return op(v ? pk::NEWTRUE : pk::NEWFALSE); }

  /// GLOBAL "module\nname\n".
  pickle_writer& global(std::string_view module, std::string_view name) {
    op(pk::GLOBAL).raw(module).raw("\n").raw(name).raw("\n");
    return *this;
  }
  pickle_writer& stack_global() { return op(pk::STACK_GLOBAL); }

  pickle_writer& binunicode(std::string_view s) { op(pk::BINUNICODE).u32(static_cast<std::uint32_t>(s.size())); return raw(s); }
  pickle_writer& short_binunicode(std::string_view s) { op(pk::SHORT_BINUNICODE).u8(static_cast<std::uint8_t>(s.size())); return raw(s); }
  pickle_writer& short_binstring(std::string_view s) { op(pk::SHORT_BINSTRING).u8(static_cast<std::uint8_t>(s.size())); return raw(s); }
  pickle_writer& short_binbytes(std::string_view s) { op(pk::SHORT_BINBYTES).u8(static_cast<std::uint8_t>(s.size())); return raw(s); }

  pickle_writer& binint(std::int32_t v) { return op(pk::BININT).u32(static_cast<std::uint32_t>(v)); }
  pickle_writer& binint1(std::uint8_t v) { return op(pk::BININT1).u8(v); }
  pickle_writer& binint2(std::uint16_t v) { return op(pk::BININT2).u16(v); }
  /// LONG1 with explicit little-endian two's complement bytes.
  pickle_writer& long1(const bytes& le) { op(pk::LONG1).u8(static_cast<std::uint8_t>(le.size())); return raw(le); }
  /// An int exactly as pickle (protocol >= 2) writes it: BININT1, BININT2, BININT, else LONG1.
  pickle_writer& integer(std::int64_t v) {
    if (v >= 0 && v <= 0xff) return binint1(static_cast<std::uint8_t>(v));
    if (v >= 0 && v <= 0xffff) return binint2(static_cast<std::uint16_t>(v));
    if (v >= INT32_MIN && v <= INT32_MAX) return binint(static_cast<std::int32_t>(v));
    return long1(encode_long(v));
  }
  /// BINFLOAT (big-endian IEEE double).
  pickle_writer& binfloat(double d) {
    const auto bits = std::bit_cast<std::uint64_t>(d);
    op(pk::BINFLOAT);
    for (int i = 7; i >= 0; --i) put_u8(b_, static_cast<std::uint8_t>((bits >> (8 * i)) & 0xff));
    return *this;
  }

  pickle_writer& empty_tuple() { return op(pk::EMPTY_TUPLE); }
  pickle_writer& empty_list() { return op(pk::EMPTY_LIST); }
  pickle_writer& empty_dict() { return op(pk::EMPTY_DICT); }
  pickle_writer& empty_set() { return op(pk::EMPTY_SET); }
  pickle_writer& tuple() { return op(pk::TUPLE); }
  pickle_writer& tuple1() { return op(pk::TUPLE1); }
  pickle_writer& tuple2() { return op(pk::TUPLE2); }
  pickle_writer& tuple3() { return op(pk::TUPLE3); }
  pickle_writer& list() { return op(pk::LIST); }
  pickle_writer& dict() { return op(pk::DICT); }
  pickle_writer& setitem() { return op(pk::SETITEM); }
  pickle_writer& setitems() { return op(pk::SETITEMS); }
  pickle_writer& append() { return op(pk::APPEND); }
  pickle_writer& appends() { return op(pk::APPENDS); }
  pickle_writer& additems() { return op(pk::ADDITEMS); }
  pickle_writer& frozenset() { return op(pk::FROZENSET); }
  pickle_writer& reduce() { return op(pk::REDUCE); }
  pickle_writer& build() { return op(pk::BUILD); }
  pickle_writer& newobj() { return op(pk::NEWOBJ); }
  pickle_writer& binpersid() { return op(pk::BINPERSID); }
  pickle_writer& pop() { return op(pk::POP); }
  pickle_writer& pop_mark() { return op(pk::POP_MARK); }
  pickle_writer& dup() { return op(pk::DUP); }
  pickle_writer& memoize() { return op(pk::MEMOIZE); }
  pickle_writer& frame(std::uint64_t n) { return op(pk::FRAME).u64(n); }
  pickle_writer& binput(std::uint8_t i) { return op(pk::BINPUT).u8(i); }
  pickle_writer& long_binput(std::uint32_t i) { return op(pk::LONG_BINPUT).u32(i); }
  pickle_writer& binget(std::uint8_t i) { return op(pk::BINGET).u8(i); }
  pickle_writer& long_binget(std::uint32_t i) { return op(pk::LONG_BINGET).u32(i); }
  /// PUT/GET as pickle writes them for memo index i (BINPUT below 256, else LONG_BINPUT).
  pickle_writer& put(std::uint32_t i) { return i < 256 ? binput(static_cast<std::uint8_t>(i)) : long_binput(i); }
  pickle_writer& get(std::uint32_t i) { return i < 256 ? binget(static_cast<std::uint8_t>(i)) : long_binget(i); }

 private:
  bytes b_;
};

// ---- torch state_dict pickles ---------------------------------------------------------------

/// One tensor of a state_dict, saved through torch._utils._rebuild_tensor_v2.
struct tensor_spec {
  std::string key;                           ///< state_dict key
  std::string storage_key = "0";             ///< persistent id key; record data/<storage_key>
  std::string storage_type = "FloatStorage"; ///< torch.<storage_type>
  std::string location = "cpu";
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> stride;          ///< empty: contiguous strides of `shape`
  std::int64_t offset = 0;
  std::int64_t storage_numel = -1;           ///< -1: offset + extent, the smallest storage holding the view
  bool requires_grad = false;
};

inline std::vector<std::int64_t> contiguous_strides(const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> s(shape.size());
  std::int64_t acc = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}
inline std::vector<std::int64_t> strides_of(const tensor_spec& t) {
  return t.stride.empty() && !t.shape.empty() ? contiguous_strides(t.shape) : t.stride;
}
/// Elements of the smallest storage that holds the view (0 for an empty tensor).
inline std::int64_t needed_numel(const tensor_spec& t) {
  if (t.storage_numel >= 0) return t.storage_numel;
  const auto st = strides_of(t);
  std::int64_t last = t.offset;
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] == 0) return 0;
    last += (t.shape[i] - 1) * st[i];
  }
  return last + 1;
}

/// Writes pickles with a memo exactly as CPython's Pickler does for these objects: every
/// non-empty tuple, str, global and REDUCE result is memoised once (BINPUT n, n counting from 0);
/// objects that are the same Python object in torch's writer (the rebuild function, the
/// 'storage' literal, storage classes, location strings, OrderedDict) are re-fetched with BINGET.
class torch_pickler {
 public:
  pickle_writer w;

  /// Memoised GLOBAL.
  void global(const std::string& module, const std::string& name) {
    if (fetch("g:" + module + "." + name)) return;
    w.global(module, name);
    memo("g:" + module + "." + name);
  }
  /// Memoised str; `shared` strings are fetched again when they reappear.
  void str(const std::string& s, bool shared) {
    if (shared && fetch("s:" + s)) return;
    w.binunicode(s);
    memo(shared ? "s:" + s : std::string());
  }
  /// A tuple of ints, as protocol 2 writes it (EMPTY_TUPLE, TUPLE1-3, MARK ... TUPLE).
  void int_tuple(const std::vector<std::int64_t>& v) {
    if (v.empty()) { w.empty_tuple(); return; }
    if (v.size() > 3) w.mark();
    for (auto x : v) w.integer(x);
    if (v.size() == 1) w.tuple1();
    else if (v.size() == 2) w.tuple2();
    else if (v.size() == 3) w.tuple3();
    else w.tuple();
    memo({});
  }
  /// _rebuild_tensor_v2(('storage', cls, key, location, numel) BINPERSID, offset, size, stride,
  /// requires_grad, OrderedDict()) REDUCE.
  void tensor(const tensor_spec& t) {
    global("torch._utils", "_rebuild_tensor_v2");
    w.mark();
    w.mark();
    str("storage", true);
    global("torch", t.storage_type);
    str(t.storage_key, false);
    str(t.location, true);
    w.integer(needed_numel(t));
    w.tuple();
    memo({});
    w.binpersid();
    w.integer(t.offset);
    int_tuple(t.shape);
    int_tuple(strides_of(t));
    w.boolean(t.requires_grad);
    global("collections", "OrderedDict");
    w.empty_tuple().reduce();
    memo({});
    w.tuple();
    memo({});
    w.reduce();
    memo({});
  }
  void memo(const std::string& id) {
    w.put(next_);
    if (!id.empty()) ids_[id] = next_;
    ++next_;
  }
  bool fetch(const std::string& id) {
    const auto it = ids_.find(id);
    if (it == ids_.end()) return false;
    w.get(it->second);
    return true;
  }

 private:
  std::map<std::string, std::uint32_t> ids_;
  std::uint32_t next_ = 0;
};

/// The data.pkl torch 2.x writes for an OrderedDict state_dict of these tensors (protocol 2),
/// without the trailing `_metadata` BUILD: PROTO 2, OrderedDict() REDUCE, then the items (MARK ...
/// SETITEMS for two or more, a lone SETITEM for one, nothing for none, as Pickler batches them), STOP.
inline bytes state_dict_pickle(const std::vector<tensor_spec>& tensors) {
  torch_pickler p;
  p.w.proto(2);
  p.global("collections", "OrderedDict");
  p.w.empty_tuple().reduce();
  p.memo({});
  if (tensors.size() > 1) p.w.mark();
  for (const auto& t : tensors) {
    p.str(t.key, false);
    p.tensor(t);
  }
  if (tensors.size() > 1) p.w.setitems();
  else if (tensors.size() == 1) p.w.setitem();
  p.w.stop();
  return p.w.take();
}

/// Little-endian float32 bytes.
inline bytes float32_bytes(const std::vector<float>& v) {
  bytes b(v.size() * 4);
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}
/// n float32 values 0, 0.5, 1, ...
inline bytes float32_ramp(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.5f;
  return float32_bytes(v);
}

/// One `data/<key>` record.
struct storage_blob {
  std::string key;
  bytes data;
  bool deflate = false;  ///< write it deflated (method 8) instead of stored
};

/// A complete torch checkpoint, ready to corrupt: <root>/data.pkl, <root>/byteorder ("little"),
/// <root>/data/<key> per storage, <root>/version ("3\n"), in torch's record order.
inline zip_builder torch_checkpoint(const bytes& pickle, const std::vector<storage_blob>& storages,
                                    const std::string& root = "archive") {
  zip_builder z;
  z.add(root + "/data.pkl", pickle);
  z.add(root + "/byteorder", "little");
  for (const auto& s : storages) {
    if (s.deflate) z.add_deflated(root + "/data/" + s.key, s.data);
    else z.add(root + "/data/" + s.key, s.data);
  }
  z.add(root + "/version", "3\n");
  return z;
}

}  // namespace pthsafe_test
