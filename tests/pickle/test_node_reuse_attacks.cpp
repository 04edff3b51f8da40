// Red-team cases for node reuse (flag_fresh / recycle), memo_reads, dense lookups and the gate
// (bench/NOTES.md 19-22), written by a red-team pass briefed with the code only. Each case asserts
// what CPython's pickle / torch would build.
// Run: build/tests/pthsafe_tests -tc='*attacked*'
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "model/state.hpp"
#include "pickle/memo_uses.hpp"
#include "pthsafe/pthsafe.hpp"
#include "support/allocation_probe.hpp"
#include "support/pickle_builder.hpp"
#include "support/zip_builder.hpp"


using namespace pthsafe_test;
using pthsafe::errc;
using pthsafe::value;
using pthsafe::value_kind;
using pthsafe::detail::memo_reads;

namespace {

std::span<const std::byte> view(const bytes& b) { return {b.data(), b.size()}; }

const value* lookup(const value& d, std::string_view key) {
  for (std::size_t i = 0; i + 1 < d.items().size(); i += 2)
    if (d.items()[i]->kind() == value_kind::string && d.items()[i]->text() == key) return d.items()[i + 1];
  return nullptr;
}

std::vector<std::int64_t> ints(const value& t) {
  std::vector<std::int64_t> out;
  for (const value* x : t.items()) out.push_back(x->as_int64());
  return out;
}

std::vector<std::int64_t> shape_of(const value& v) {
  const auto t = v.as_tensor();
  return {t.shape().begin(), t.shape().end()};
}
std::vector<std::int64_t> stride_of(const value& v) {
  const auto t = v.as_tensor();
  return {t.strides().begin(), t.strides().end()};
}

std::string storage_key(const value& v) {
  REQUIRE(v.kind() == value_kind::storage);
  return std::string(pthsafe::detail::value_access::storage(v)->key);
}

// ('storage', torch.FloatStorage, key, loc, numel): key a str, or an int when int_key.
void pid(pickle_writer& w, const std::string& key, std::int64_t numel, const char* loc = "cpu", bool int_key = false) {
  w.mark().binunicode("storage").global("torch", "FloatStorage");
  if (int_key) w.integer(std::stoll(key));
  else w.binunicode(key);
  w.binunicode(loc).integer(numel).tuple();
}

constexpr std::int64_t big = 2000;  // numel past the interned ints: a fresh node of its own

// The whole body written in redteam_body(): one dict root whose values exercise every holder of
// a node the machine may hand back.
void redteam_body(pickle_writer& w) {
  w.empty_dict().mark();
  // 'a': pid's location (memo 20) and numel (memo 21) read back later; size (memo 22) never read.
  w.binunicode("a").global("torch._utils", "_rebuild_tensor_v2").mark();
  w.mark().binunicode("storage").global("torch", "FloatStorage").binunicode("0").binunicode("cuda:0").binput(20);
  w.integer(big).binput(21).tuple().binpersid();
  w.integer(0).integer(big).tuple1().binput(22).integer(1).tuple1().newfalse().none().tuple().reduce();
  // Fresh values made right after the reuse.
  w.binunicode("f1").binunicode("fresh-one");
  w.binunicode("f2").integer(123456).integer(654321).tuple2();
  w.binunicode("f3").integer(777777);
  // 'st': a bare storage (key '1'), DUP'd: one copy here, the other consumed by tensor 'c'.
  w.binunicode("st");
  pid(w, "1", big);
  w.binpersid().dup().binput(30);  // memo 30 read back as 'st2'
  w.pop();
  // 'b': the argument tuple memoised under a read index (40): its items stay in the tree.
  w.binunicode("b").global("torch._utils", "_rebuild_tensor_v2").mark();
  pid(w, "0", big);
  w.binpersid().integer(0).integer(1).integer(big).tuple2().integer(5000).integer(1).tuple2();
  w.newfalse().none().tuple().binput(40).reduce();
  // 'c': tensor over the storage parked in memo 30.
  w.binunicode("c").global("torch._utils", "_rebuild_tensor_v2").mark();
  w.binget(30).integer(3).integer(big - 3).tuple1().integer(1).tuple1().newfalse().none().tuple().reduce();
  // 'd': a nested tuple ((big,), (1,)) whose inner tuples are read back from the memo as size
  // and stride of a tensor: the outer tuple sits in the tree.
  w.binunicode("d");
  w.integer(big).tuple1().binput(50).integer(1).tuple1().binput(51).tuple2();
  w.binunicode("e").global("torch._utils", "_rebuild_tensor_v2").mark();
  pid(w, "1", big);
  w.binpersid().integer(0).binget(50).binget(51).newfalse().none().tuple().reduce();
  // Fresh values again, then everything read back from the memo.
  w.binunicode("g1").binunicode("fresh-two");
  w.binunicode("g2").integer(111111).integer(222222).integer(333333).tuple3();
  w.binunicode("loc").binget(20);
  w.binunicode("numel").binget(21);
  w.binunicode("st2").binget(30);
  w.binunicode("args").binget(40);
  w.setitems().stop();
}

void check_redteam_body(const value& root, const std::string& prefix = "") {
  REQUIRE(root.is(value_kind::dict));
  CHECK(shape_of(*lookup(root, "a")) == std::vector<std::int64_t>{big});
  CHECK(lookup(root, "a")->as_tensor().device() == "cuda:0");
  CHECK(lookup(root, "f1")->text() == "fresh-one");
  CHECK(ints(*lookup(root, "f2")) == std::vector<std::int64_t>{123456, 654321});
  CHECK(lookup(root, "f3")->as_int64() == 777777);
  CHECK(storage_key(*lookup(root, "st")) == prefix + "1");
  CHECK(lookup(root, "st")->text() == "cpu");
  CHECK(shape_of(*lookup(root, "b")) == std::vector<std::int64_t>{1, big});
  CHECK(stride_of(*lookup(root, "b")) == std::vector<std::int64_t>{5000, 1});
  CHECK(shape_of(*lookup(root, "c")) == std::vector<std::int64_t>{big - 3});
  const value& d = *lookup(root, "d");
  REQUIRE(d.items().size() == 2);
  CHECK(ints(*d.items()[0]) == std::vector<std::int64_t>{big});
  CHECK(ints(*d.items()[1]) == std::vector<std::int64_t>{1});
  CHECK(shape_of(*lookup(root, "e")) == std::vector<std::int64_t>{big});
  CHECK(lookup(root, "g1")->text() == "fresh-two");
  CHECK(ints(*lookup(root, "g2")) == std::vector<std::int64_t>{111111, 222222, 333333});
  CHECK(lookup(root, "loc")->text() == "cuda:0");
  CHECK(lookup(root, "numel")->as_int64() == big);
  CHECK(storage_key(*lookup(root, "st2")) == prefix + "1");
  const value& args = *lookup(root, "args");
  REQUIRE(args.items().size() == 6);
  CHECK(storage_key(*args.items()[0]) == prefix + "0");
  CHECK(ints(*args.items()[2]) == std::vector<std::int64_t>{1, big});
  CHECK(ints(*args.items()[3]) == std::vector<std::int64_t>{5000, 1});
}

bytes floats(std::size_t n) { return float32_ramp(n); }

}  // namespace

TEST_CASE("node reuse, attacked: every holder of a tensor's argument nodes keeps its value (zip)") {
  pickle_writer w;
  w.proto(2);
  redteam_body(w);
  const bytes file = torch_checkpoint(w.take(), {{"0", floats(big)}, {"1", floats(big)}}).build();
  auto ck = pthsafe::checkpoint::open_buffer(file);
  if (!ck) FAIL(ck.error_value().message);
  check_redteam_body(ck->root());
  CHECK(ck->tensor_count() == 4);
  // The gate judges it as the load did.
  const auto rep = pthsafe::scan_buffer(file);
  CHECK(rep.verdict == pthsafe::verdict::safe);
}

TEST_CASE("node reuse, attacked: the same pickle as constants.pkl of a TorchScript archive (two pickles, one arena)") {
  pickle_writer w;
  w.proto(2);
  redteam_body(w);
  const bytes pkl = w.take();
  zip_builder z;
  z.add("archive/data.pkl", pkl);
  z.add("archive/constants.pkl", pkl);
  z.add("archive/data/0", floats(big));
  z.add("archive/data/1", floats(big));
  z.add("archive/constants/0", floats(big));
  z.add("archive/constants/1", floats(big));
  z.add("archive/version", "3\n");
  const bytes file = z.build();
  pthsafe::load_options o;
  o.allow_torchscript = true;
  auto ck = pthsafe::checkpoint::open_buffer(file, o);
  if (!ck) FAIL(ck.error_value().message);
  check_redteam_body(ck->root());
  REQUIRE(ck->constants());
  check_redteam_body(*ck->constants(), "constants/");
  CHECK(storage_key(*lookup(*ck->constants(), "st")) == "constants/1");
}

TEST_CASE("node reuse, attacked: protocol 4 FRAMEs and MEMOIZE around reused nodes") {
  pickle_writer body;
  // MEMOIZE numbers entries 0, 1, ... in order; index 2 (the size tuple) is read back.
  body.empty_dict().memoize();                                                     // 0
  body.mark().binunicode("t").memoize();                                           // 1
  body.global("torch._utils", "_rebuild_tensor_v2").mark();
  pid(body, "0", big);
  body.binpersid().integer(0).integer(big).tuple1().memoize();                     // 2
  body.integer(1).tuple1().memoize();                                              // 3 (never read)
  body.newfalse().none().tuple().reduce();
  body.binunicode("x").integer(424242).integer(434343).tuple2();
  body.binunicode("size").binget(2);
  body.setitems().stop();
  const bytes b = body.take();
  pickle_writer w;
  w.proto(4).frame(b.size()).raw(view(b));
  const bytes file = torch_checkpoint(w.take(), {{"0", floats(big)}}).build();
  auto ck = pthsafe::checkpoint::open_buffer(file);
  REQUIRE(ck);
  CHECK(shape_of(*lookup(ck->root(), "t")) == std::vector<std::int64_t>{big});
  CHECK(ints(*lookup(ck->root(), "x")) == std::vector<std::int64_t>{424242, 434343});
  CHECK(ints(*lookup(ck->root(), "size")) == std::vector<std::int64_t>{big});
}

TEST_CASE("node reuse, attacked: protocol 0 text PUT/GET (the walk gives up) next to BINGET") {
  // Text opcodes throughout; 'h' reads the text-PUT index 5 back (the key string '0').
  std::string p = "(dp0\nS'a'\np1\nctorch._utils\n_rebuild_tensor_v2\np2\n((S'storage'\np3\nctorch\nFloatStorage\np4\n"
                  "S'0'\np5\nS'cpu'\np6\nI2000\ntp7\nQI0\n(I2000\ntp8\n(I1\ntp9\nI00\nNtp10\nRp11\n"
                  "sS'k'\np12\n";
  p += "h\x05";  // BINGET 5: the key string
  p += "sS'sz'\np13\ng8\nsS'pid'\np14\ng7\ns.";
  const bytes pkl = to_bytes(p);
  CHECK_FALSE(memo_reads::of(view(pkl), 1000));
  const bytes file = torch_checkpoint(pkl, {{"0", floats(big)}}).build();
  auto ck = pthsafe::checkpoint::open_buffer(file);
  REQUIRE(ck);
  CHECK(shape_of(*lookup(ck->root(), "a")) == std::vector<std::int64_t>{big});
  CHECK(lookup(ck->root(), "k")->text() == "0");
  CHECK(ints(*lookup(ck->root(), "sz")) == std::vector<std::int64_t>{big});
  const value& pidv = *lookup(ck->root(), "pid");
  REQUIRE(pidv.items().size() == 5);
  CHECK(pidv.items()[3]->text() == "cpu");
  CHECK(pidv.items()[4]->as_int64() == big);
}

TEST_CASE("node reuse, attacked: memo_reads agrees with the machine where operand bytes look like BINGET") {
  // Operands that hold 'h'/'j' bytes: the walk must step over them, as the machine does.
  pickle_writer w;
  w.proto(2).empty_dict().binunicode("hjhj").binint1('h').tuple2().binput('h').pop();
  w.binint2(0x6868).pop().binint(0x6a686a68).pop().binfloat(1.5).pop();
  w.op(pk::SHORT_BINBYTES).u8(2).raw("h\x03").pop();
  w.binget(0).pop().stop();
  const bytes b = w.take();
  const auto r = memo_reads::of(view(b), 1000);
  REQUIRE(r);
  CHECK(r->read(0));
  CHECK_FALSE(r->read('h'));
  CHECK_FALSE(r->read(3));
}

TEST_CASE("node reuse, attacked: a legacy stream's rebuild arguments (size tuple read back)") {
  // Legacy persistent ids are 6-tuples; storages are never reused there, size tuples are.
  pickle_writer m;
  m.proto(2).empty_dict().mark();
  m.binunicode("t").global("torch._utils", "_rebuild_tensor_v2").mark();
  m.mark().binunicode("storage").global("torch", "FloatStorage").binunicode("0").binunicode("cpu").integer(big).none().tuple();
  m.binpersid().binput(7).integer(0).integer(big).tuple1().binput(8).integer(1).tuple1();
  m.newfalse().none().tuple().reduce();
  m.binunicode("n").integer(99999).integer(88888).tuple2();
  m.binunicode("size").binget(8).binunicode("storage").binget(7);
  m.setitems().stop();
  bytes file;
  // 0x1950a86a20f9469cfc6c as LONG1 (10 bytes, little-endian).
  {
    pickle_writer mg;
    mg.proto(2).raw("\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19").stop();
    pickle_writer pv;
    pv.proto(2).binint2(1001).stop();
    pickle_writer si;
    si.proto(2).empty_dict().mark().binunicode("protocol_version").binint2(1001).binunicode("little_endian").newtrue();
    si.binunicode("type_sizes").empty_dict().mark().binunicode("short").binint1(2).binunicode("int").binint1(4);
    si.binunicode("long").binint1(4).setitems().setitems().stop();
    pickle_writer keys;
    keys.proto(2).empty_list().binunicode("0").append().stop();
    const bytes parts[] = {mg.take(), pv.take(), si.take(), m.take(), keys.take()};
    for (const bytes& part : parts) append(file, view(part));
  }
  bytes block(8);
  const std::uint64_t n = big;
  std::memcpy(block.data(), &n, 8);
  append(file, view(block));
  append(file, view(floats(big)));
  auto ck = pthsafe::checkpoint::open_buffer(file);
  REQUIRE(ck);
  CHECK(ck->format() == pthsafe::container_format::legacy);
  CHECK(shape_of(*lookup(ck->root(), "t")) == std::vector<std::int64_t>{big});
  CHECK(ints(*lookup(ck->root(), "n")) == std::vector<std::int64_t>{99999, 88888});
  CHECK(ints(*lookup(ck->root(), "size")) == std::vector<std::int64_t>{big});
  CHECK(storage_key(*lookup(ck->root(), "storage")) == "0");
}

namespace {

// {'t0': tensor over storage key k0, ...}: one FloatStorage of 2 floats per key.
bytes tensors_over(const std::vector<std::pair<std::string, bool>>& keys) {
  pickle_writer w;
  w.proto(2).empty_dict().mark();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    w.binunicode("t" + std::to_string(i)).global("torch._utils", "_rebuild_tensor_v2").mark();
    pid(w, keys[i].first, 2, "cpu", keys[i].second);
    w.binpersid().integer(0).integer(2).tuple1().integer(1).tuple1().newfalse().none().tuple().reduce();
  }
  w.setitems().stop();
  return w.take();
}

pthsafe::result<pthsafe::checkpoint> open_with_names(const std::vector<std::pair<std::string, bool>>& keys,
                                                     const std::vector<std::string>& records,
                                                     const std::vector<std::string>& extra = {}) {
  static std::vector<bytes> keep;  // open_buffer views the bytes
  zip_builder z;
  z.add("archive/data.pkl", tensors_over(keys));
  for (const auto& r : records) z.add(r, floats(2));
  for (const auto& r : extra) z.add(r, "x");
  z.add("archive/version", "3\n");
  keep.push_back(z.build());
  return pthsafe::checkpoint::open_buffer(keep.back());
}

}  // namespace

TEST_CASE("node reuse, attacked: dense record lookups answer as the case-folded hash did") {
  // miniz folds ASCII case: DATA/1 is data/1 to torch.
  {
    auto ck = open_with_names({{"1", false}}, {"archive/DATA/1"});
    REQUIRE(ck);
    CHECK(ck->tensor(0).storage().record() == "archive/DATA/1");
  }
  // Leading zeros name another record: '01' finds data/01 only; '1' does not find it.
  {
    auto ck = open_with_names({{"01", false}}, {"archive/data/01"});
    REQUIRE(ck);
    CHECK(ck->tensor(0).storage().record() == "archive/data/01");
    auto miss = open_with_names({{"1", false}}, {"archive/data/01"});
    REQUIRE_FALSE(miss);
    CHECK(miss.error_value().code == errc::missing_record);
  }
  // A key at or past the entry count (hashed) and one below it (dense) in one archive.
  {
    auto ck = open_with_names({{"0", false}, {"123456789", true}, {"4294967296", false}},
                              {"archive/data/0", "archive/data/123456789", "archive/data/4294967296"});
    REQUIRE(ck);
    CHECK(ck->tensor_count() == 3);
  }
  // Names equal after folding, both dense: refused as before.
  {
    auto ck = open_with_names({{"1", false}}, {"archive/data/1", "archive/Data/1"});
    REQUIRE_FALSE(ck);
    CHECK(ck.error_value().code == errc::zip_duplicate_name);
  }
  // Same, one of them with the top folder in another case (refused before the roots are compared).
  {
    auto ck = open_with_names({{"1", false}}, {"archive/data/1", "ARCHIVE/data/1"});
    REQUIRE_FALSE(ck);
    CHECK(ck.error_value().code == errc::zip_duplicate_name);
  }
  // A data record past the entry count and one below it with the same digits after zeros.
  {
    auto ck = open_with_names({{"7", false}, {"007", false}}, {"archive/data/7", "archive/data/007"});
    REQUIRE(ck);
    CHECK(ck->tensor(0).storage().record() == "archive/data/7");
    CHECK(ck->tensor(1).storage().record() == "archive/data/007");
  }
  // A directory-like name is no data record.
  {
    auto ck = open_with_names({{"1", false}}, {"archive/data/1"}, {"archive/data/1/"});
    REQUIRE_FALSE(ck);  // a directory entry holding data is refused, as before
  }
  // int 1 and str '1' stay two storages to torch: refused, as before (both dense).
  {
    auto ck = open_with_names({{"1", true}, {"1", false}}, {"archive/data/1"});
    REQUIRE_FALSE(ck);
    CHECK(ck.error_value().code == errc::bad_persistent_id);
  }
}

TEST_CASE("node reuse, attacked: the gate on an all-stored archive with a pickle as an extra record (placeholder storages)") {
  pickle_writer w;
  w.proto(2);
  redteam_body(w);
  const bytes pkl = w.take();
  auto z = torch_checkpoint(pkl, {{"0", floats(big)}, {"1", floats(big)}});
  z.add("archive/extra.pkl", pkl);
  const bytes file = z.build();
  const auto rep = pthsafe::scan_buffer(file);
  for (const auto& f : rep.findings) MESSAGE(f.rule << " " << f.record << " " << f.message);
  CHECK(rep.verdict == pthsafe::verdict::safe);  // an extra record is a note, its pickle is inert
  bool note = false;
  for (const auto& f : rep.findings) note = note || f.rule == "extra_record";
  CHECK(note);
}

// Found by the red-team pass, fixed: memo_reads::of sized its bit set by the largest BINGET/LONG_BINGET index in the
// pickle, up to the caller's max_memo_entries, and nothing charges it to the limits. With
// max_memo_entries raised to 2^32 or more (the CLI's --limit, load_options::limits), an 8-byte
// pickle `\x80\x02 j \xff\xff\xff\xff .` makes the walk allocate 2^32 / 8 = 512 MiB before the
// machine reads its first opcode (baab4db: ~6 MB peak for the same file and limits).
TEST_CASE("node reuse, attacked: memo_reads allocates in proportion to the pickle, not to the largest index") {
  pickle_writer w;
  w.proto(2).long_binget(0xffffffffu).stop();
  const bytes b = w.take();
  std::size_t held = 0;
  if (!allocation_probe_enabled) return;
  held = largest_allocation_while([&] { (void)memo_reads::of(view(b), std::uint64_t{1} << 40); });
  INFO("bytes held by the walk of an 8-byte pickle: " << held);
  CHECK(held < (std::size_t{16} << 20));
}

TEST_CASE("node reuse, attacked: torch.Size results (items shared with their argument tuple) as rebuild sizes") {
  pickle_writer w;
  w.proto(2).empty_dict().mark();
  // 'sz': torch.Size((big,)) memoised (read back as the size of 't') and kept in the tree.
  w.binunicode("sz").global("torch", "Size").integer(big).tuple1().tuple1().reduce().binput(60);
  // 't': size read back from the memo; 'u': a torch.Size made inline, consumed by the call.
  w.binunicode("t").global("torch._utils", "_rebuild_tensor_v2").mark();
  pid(w, "0", big);
  w.binpersid().integer(0).binget(60).integer(1).tuple1().newfalse().none().tuple().reduce();
  w.binunicode("u").global("torch._utils", "_rebuild_tensor_v2").mark();
  pid(w, "0", big);
  w.binpersid().integer(0).global("torch", "Size").integer(big).tuple1().tuple1().reduce();
  w.integer(1).tuple1().newfalse().none().tuple().reduce();
  w.binunicode("after").integer(31337).integer(31338).tuple2();
  w.setitems().stop();
  const bytes file = torch_checkpoint(w.take(), {{"0", floats(big)}}).build();
  auto ck = pthsafe::checkpoint::open_buffer(file);
  if (!ck) FAIL(ck.error_value().message);
  const value& sz = *lookup(ck->root(), "sz");
  CHECK(sz.kind() == value_kind::size);
  CHECK(ints(sz) == std::vector<std::int64_t>{big});
  CHECK(shape_of(*lookup(ck->root(), "t")) == std::vector<std::int64_t>{big});
  CHECK(shape_of(*lookup(ck->root(), "u")) == std::vector<std::int64_t>{big});
  CHECK(ints(*lookup(ck->root(), "after")) == std::vector<std::int64_t>{31337, 31338});
}
