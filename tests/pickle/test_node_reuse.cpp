// The machine reuses the nodes of a tensor's persistent id and rebuild arguments once the call
// has consumed them (pickle/machine.cpp recycle(), pickle/memo_uses.cpp). These tests build
// pickles in which those nodes have a second holder (a memo entry read back, DUP) and check that
// every value still reads back as written, and that values allocated afterwards (from reused
// nodes) are distinct.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pickle/memo_uses.hpp"
#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"
#include "support/zip_builder.hpp"

using namespace pthsafe_test;
using pthsafe::errc;
using pthsafe::value;
using pthsafe::value_kind;
using pthsafe::detail::memo_reads;

namespace {

std::span<const std::byte> view(const bytes& b) { return {b.data(), b.size()}; }

// ('storage', torch.FloatStorage, key, 'cpu', numel) BINPERSID, written inline (nothing fetched).
void storage_ref(pickle_writer& w, const std::string& key, int numel) {
  w.mark().binunicode("storage").global("torch", "FloatStorage").binunicode(key).binunicode("cpu").integer(numel).tuple();
}

const value* lookup(const value& d, std::string_view key) {
  for (std::size_t i = 0; i + 1 < d.items().size(); i += 2)
    if (d.items()[i]->text() == key) return d.items()[i + 1];
  return nullptr;
}

std::vector<std::int64_t> ints(const value& t) {
  std::vector<std::int64_t> out;
  for (const value* x : t.items()) out.push_back(x->as_int64());
  return out;
}

}  // namespace

TEST_CASE("memo_reads: the indices BINGET and LONG_BINGET read, or nothing when the walk is not exact") {
  pickle_writer w;
  w.proto(2).empty_list().binput(0).binint1(5).long_binput(300).binget(0).long_binget(7).binunicode("g\n").pop();
  w.stop();
  const bytes b = w.take();
  const auto r = memo_reads::of(view(b), 1000);
  REQUIRE(r);
  CHECK(r->read(0));
  CHECK(r->read(7));
  CHECK_FALSE(r->read(300));  // written, never read
  CHECK_FALSE(r->read(1));
  // An operand's newline is no text opcode's end: BINUNICODE's length decides.
  pickle_writer text_get;
  text_get.proto(0).raw("N").raw("p0\n").raw("g0\n").stop();
  CHECK_FALSE(memo_reads::of(view(text_get.take()), 1000));  // GET: left to the machine
  pickle_writer unknown;
  unknown.proto(2).raw("\xff").stop();
  CHECK_FALSE(memo_reads::of(view(unknown.take()), 1000));
  pickle_writer no_stop;
  no_stop.proto(2).none();
  CHECK_FALSE(memo_reads::of(view(no_stop.take()), 1000));
  pickle_writer cut;
  cut.proto(2).raw("X").u32(100).raw("abc");
  CHECK_FALSE(memo_reads::of(view(cut.take()), 1000));
  pickle_writer far;
  far.proto(2).none().long_binget(5000).stop();
  CHECK_FALSE(memo_reads::of(view(far.take()), 1000));  // the machine refuses such an index
  // Indices far past the pickle's size (8 per byte) are kept in a list, not a bit set sized by
  // the index: an 18-byte pickle naming index 2^32 - 1 must not cost 512 MiB.
  pickle_writer sparse;
  sparse.proto(2).long_binget(0xffffffffu).long_binget(200).long_binget(220).stop();
  const bytes sb = sparse.take();
  const auto sr = memo_reads::of(view(sb), std::uint64_t{1} << 40);
  REQUIRE(sr);
  CHECK(sr->read(0xffffffffu));
  CHECK(sr->read(200));  // below 8 * 18 + 64 = 208: in the bit set
  CHECK(sr->read(220));  // past it, in the list, though the bit set's last word covers 220
  CHECK_FALSE(sr->read(0xfffffffeu));
  CHECK_FALSE(sr->read(201));
}

TEST_CASE("tensor arguments with a second holder keep their values; reused nodes are distinct") {
  pickle_writer w;
  w.proto(2).empty_dict().mark();
  // 'a': the persistent id (memo 1), the size tuple (memo 2) and the argument tuple (memo 3)
  // are all read back below.
  w.binunicode("a").global("torch._utils", "_rebuild_tensor_v2").mark();
  storage_ref(w, "0", 6);
  w.binput(1).binpersid().integer(0);
  w.integer(2).integer(3).tuple2().binput(2);
  w.integer(3).integer(1).tuple2();
  w.newfalse().none().tuple().binput(3).reduce();
  // 'b': one tuple DUP'd to be both size and stride (shape (2, 1), strides (2, 1)).
  w.binunicode("b").global("torch._utils", "_rebuild_tensor_v2").mark();
  storage_ref(w, "1", 3);
  w.binpersid().integer(0);
  w.integer(2).integer(1).tuple2().dup();
  w.newfalse().none().tuple().reduce();
  // 'c': a plain tensor whose arguments nothing else holds (all reusable), memoised under an
  // index never read.
  w.binunicode("c").global("torch._utils", "_rebuild_tensor_v2").mark();
  storage_ref(w, "2", 4);
  w.binput(9).binpersid().integer(0).integer(4).tuple1().binput(10).integer(1).tuple1();
  w.newfalse().none().tuple().binput(11).reduce();
  // Values made after the reuse: each must be its own node.
  w.binunicode("s1").binunicode("first");
  w.binunicode("s2").binunicode("second");
  w.binunicode("t1").integer(7000).integer(8000).tuple2();
  w.binunicode("t2").integer(9000).integer(10000).tuple2();
  w.binunicode("size").binget(2);
  w.binunicode("pid").binget(1);
  w.binunicode("args").binget(3);
  w.setitems().stop();
  const bytes file = torch_checkpoint(w.take(), {{"0", float32_ramp(6)}, {"1", float32_ramp(3)}, {"2", float32_ramp(4)}}).build();
  auto ck = pthsafe::checkpoint::open_buffer(file);
  REQUIRE(ck);
  const value& root = ck->root();
  REQUIRE(root.is(value_kind::dict));
  CHECK(ck->tensor_count() == 3);
  const auto a = lookup(root, "a")->as_tensor();
  CHECK(std::vector<std::int64_t>(a.shape().begin(), a.shape().end()) == std::vector<std::int64_t>{2, 3});
  const auto b = lookup(root, "b")->as_tensor();
  CHECK(std::vector<std::int64_t>(b.shape().begin(), b.shape().end()) == std::vector<std::int64_t>{2, 1});
  CHECK(std::vector<std::int64_t>(b.strides().begin(), b.strides().end()) == std::vector<std::int64_t>{2, 1});
  const auto c = lookup(root, "c")->as_tensor();
  CHECK(std::vector<std::int64_t>(c.shape().begin(), c.shape().end()) == std::vector<std::int64_t>{4});
  CHECK(lookup(root, "s1")->text() == "first");
  CHECK(lookup(root, "s2")->text() == "second");
  CHECK(ints(*lookup(root, "t1")) == std::vector<std::int64_t>{7000, 8000});
  CHECK(ints(*lookup(root, "t2")) == std::vector<std::int64_t>{9000, 10000});
  CHECK(ints(*lookup(root, "size")) == std::vector<std::int64_t>{2, 3});
  const value& pid = *lookup(root, "pid");
  REQUIRE(pid.is(value_kind::tuple));
  REQUIRE(pid.items().size() == 5);
  CHECK(pid.items()[0]->text() == "storage");
  CHECK(pid.items()[2]->text() == "0");
  CHECK(pid.items()[3]->text() == "cpu");
  CHECK(pid.items()[4]->as_int64() == 6);
  const value& args = *lookup(root, "args");
  REQUIRE(args.items().size() == 6);
  CHECK(args.items()[0]->is(value_kind::storage));
  CHECK(ints(*args.items()[2]) == std::vector<std::int64_t>{2, 3});
  CHECK(ints(*args.items()[3]) == std::vector<std::int64_t>{3, 1});
  // The same file again: the load is deterministic whatever was reused.
  auto again = pthsafe::checkpoint::open_buffer(file);
  REQUIRE(again);
  CHECK(again->tensor_count() == 3);
}

TEST_CASE("persistent ids with a second holder through DUP stay whole") {
  pickle_writer w;
  w.proto(2).empty_dict().mark();
  w.binunicode("pid");
  storage_ref(w, "0", 6);
  // One copy stays as the dict's value; the other is the persistent id, whose storage is
  // parked in the memo (read back below) and popped.
  w.dup().binpersid().binput(5).pop();
  w.binunicode("t").global("torch._utils", "_rebuild_tensor_v2").mark();
  w.binget(5).integer(0).integer(6).tuple1().integer(1).tuple1().newfalse().none().tuple().reduce();
  w.binunicode("after").binunicode("value");
  w.binunicode("more").integer(5000).integer(6000).tuple2();
  w.setitems().stop();
  const bytes file = torch_checkpoint(w.take(), {{"0", float32_ramp(6)}}).build();
  auto ck = pthsafe::checkpoint::open_buffer(file);
  REQUIRE(ck);
  const value& pid = *lookup(ck->root(), "pid");
  REQUIRE(pid.is(value_kind::tuple));
  REQUIRE(pid.items().size() == 5);
  CHECK(pid.items()[0]->text() == "storage");
  CHECK(pid.items()[2]->text() == "0");
  CHECK(pid.items()[4]->as_int64() == 6);
  CHECK(lookup(ck->root(), "after")->text() == "value");
  CHECK(ints(*lookup(ck->root(), "more")) == std::vector<std::int64_t>{5000, 6000});
  CHECK(ck->tensor_count() == 1);
}

TEST_CASE("memo entries never read keep only a mark, and count once as before") {
  // MEMOIZE numbers its entry by the count of distinct indices stored: an unread index stored
  // twice must count once, or the next MEMOIZE would take another number.
  pickle_writer w;
  w.proto(4).empty_list().memoize().binput(0).memoize().pop().binget(1).stop();
  const bytes b = w.take();
  pthsafe::load_options o;
  o.limits.max_memo_entries = 2;
  auto ck = pthsafe::checkpoint::open_buffer(b, o);
  REQUIRE(ck);
  CHECK(ck->root().is(value_kind::list));
  // A third distinct index is past the limit whether or not it is ever read.
  pickle_writer more;
  more.proto(4).empty_list().memoize().binput(1).binput(2).stop();
  CHECK(pthsafe::checkpoint::open_buffer(more.take(), o).code() == errc::limit_exceeded);
  pickle_writer read_back;
  read_back.proto(4).empty_list().memoize().binput(1).binput(2).pop().binget(2).stop();
  CHECK(pthsafe::checkpoint::open_buffer(read_back.take(), o).code() == errc::limit_exceeded);
}
