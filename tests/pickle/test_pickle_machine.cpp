// Semantics of the restricted unpickler, through bare pickles (checkpoint::open_buffer reads a
// buffer that starts with a pickle opcode as a bare pickle). Each test states what CPython's
// pickle module makes of the same bytes; pthsafe must build the same value.
//
// Byte strings marked "CPython:" were produced by CPython 3.11's pickle.dumps(x, protocol=N) and
// are copied here as data.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "pthsafe/report.hpp"
#include "pthsafe/pthsafe.hpp"
#include "support/pickle_builder.hpp"
#include "util/keyed_hash.hpp"

using namespace pthsafe_test;
using namespace std::string_view_literals;
using pthsafe::errc;
using pthsafe::value;
using pthsafe::value_kind;

namespace {

bytes raw(std::string_view s) { return to_bytes(s); }
pickle_writer p2() {
  pickle_writer w;
  w.proto(2);
  return w;
}
pickle_writer p4() {
  pickle_writer w;
  w.proto(4);
  return w;
}

// The buffer must outlive the checkpoint; callers keep `b` alive.
pthsafe::result<pthsafe::checkpoint> load(const bytes& b, const pthsafe::load_options& o = {}) {
  return pthsafe::checkpoint::open_buffer(b, o);
}

/// dict/ordered_dict item i: (key, value).
std::pair<const value*, const value*> item(const value& d, std::size_t i) { return {d.items()[2 * i], d.items()[2 * i + 1]}; }

bool has_warning(const pthsafe::checkpoint& ck, std::string_view text) {
  for (const auto& w : ck.warnings())
    if (w.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("bare pickles load as format pickle") {
  const bytes b = raw("\x80\x02N."sv);
  auto ck = load(b);
  REQUIRE(ck);
  CHECK(ck->format() == pthsafe::container_format::pickle);
  CHECK(ck->archive_name().empty());
  CHECK(ck->root().kind() == value_kind::none);
  CHECK(ck->tensor_count() == 0);
  CHECK(ck->storage_count() == 0);
  CHECK(ck->warnings().empty());
}

TEST_CASE("integers") {
  SUBCASE("BININT is signed 32-bit, BININT1/BININT2 unsigned") {
    const bytes b = p2().mark().binint(-5).binint(INT32_MIN).binint1(255).binint2(65535).tuple().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    const auto items = ck->root().items();
    REQUIRE(items.size() == 4);
    CHECK(items[0]->as_int64() == -5);
    CHECK(items[1]->as_int64() == INT32_MIN);
    CHECK(items[2]->as_int64() == 255);
    CHECK(items[3]->as_int64() == 65535);
    for (const value* v : items) {
      CHECK(v->kind() == value_kind::integer);
      CHECK(v->fits_int64());
    }
  }
  SUBCASE("LONG1: 2**100 and -(2**100)") {
    // CPython: pickle.dumps(2**100, 2) and pickle.dumps(-2**100, 2)
    const bytes pos = raw("\x80\x02\x8a\x0d\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10."sv);
    const bytes neg = raw("\x80\x02\x8a\x0d\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf0."sv);
    auto a = load(pos);
    auto b = load(neg);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->root().kind() == value_kind::integer);
    CHECK_FALSE(a->root().fits_int64());
    CHECK(a->root().int_decimal() == "1267650600228229401496703205376");
    CHECK_FALSE(b->root().fits_int64());
    CHECK(b->root().int_decimal() == "-1267650600228229401496703205376");
  }
  SUBCASE("LONG1 at the int64 boundaries") {
    const bytes b = p2()
                        .mark()
                        .long1(encode_long(INT64_MAX))
                        .long1(encode_long(INT64_MIN))
                        .long1(raw("\x00\x00\x00\x00\x00\x00\x00\x80\x00"sv))  // 2**63
                        .long1({})                                             // 0
                        .long1(raw("\xff"sv))                                  // -1
                        .tuple()
                        .stop()
                        .take();
    auto ck = load(b);
    REQUIRE(ck);
    const auto items = ck->root().items();
    REQUIRE(items.size() == 5);
    CHECK(items[0]->fits_int64());
    CHECK(items[0]->as_int64() == INT64_MAX);
    CHECK(items[1]->fits_int64());
    CHECK(items[1]->as_int64() == INT64_MIN);
    CHECK_FALSE(items[2]->fits_int64());
    CHECK(items[2]->int_decimal() == "9223372036854775808");
    CHECK(items[3]->as_int64() == 0);
    CHECK(items[4]->as_int64() == -1);
  }
  SUBCASE("protocol 0 text forms") {
    // CPython: pickle.dumps(12345, 0), (-7, 0), (True, 0), (False, 0), (2**70, 0), (-2**70, 0), (2**100, 0)
    struct row { std::string_view bytes; value_kind kind; const char* decimal; };
    const row rows[] = {
        {"I12345\n."sv, value_kind::integer, "12345"},
        {"I-7\n."sv, value_kind::integer, "-7"},
        {"I01\n."sv, value_kind::boolean, nullptr},
        {"I00\n."sv, value_kind::boolean, nullptr},
        {"L1180591620717411303424L\n."sv, value_kind::integer, "1180591620717411303424"},
        {"L-1180591620717411303424L\n."sv, value_kind::integer, "-1180591620717411303424"},
        {"L1267650600228229401496703205376L\n."sv, value_kind::integer, "1267650600228229401496703205376"},
        {"L5\n."sv, value_kind::integer, "5"},  // protocol 0 LONG without the Python 2 'L'
    };
    for (const auto& r : rows) {
      CAPTURE(r.bytes);
      const bytes b = raw(r.bytes);
      auto ck = load(b);
      REQUIRE(ck);
      CHECK(ck->root().kind() == r.kind);
      if (r.decimal) CHECK(ck->root().int_decimal() == r.decimal);
      // Text INT/LONG are data-only opcodes: accepted with a warning, refused in strict mode.
      CHECK(has_warning(*ck, "torch.load(weights_only=True) would refuse it"));
      pthsafe::load_options strict;
      strict.strict_torch = true;
      CHECK(load(b, strict).code() == errc::pickle_opcode_not_torch);
    }
    const auto t = load(raw("I01\n."sv));
    const auto f = load(raw("I00\n."sv));
    REQUIRE(t);
    REQUIRE(f);
    CHECK(t->root().as_bool());
    CHECK_FALSE(f->root().as_bool());
  }
  SUBCASE("text forms CPython's two unpicklers read differently are refused") {
    for (auto text : {"I012\n."sv, "I+5\n."sv, "I 5\n."sv, "I1_000\n."sv, "I\n."sv, "L0x10L\n."sv}) {
      CAPTURE(text);
      const bytes b = raw(text);
      CHECK(load(b).code() == errc::pickle_bad_text);
    }
  }
}

TEST_CASE("floats") {
  SUBCASE("BINFLOAT is a big-endian double") {
    const bytes b = p2()
                        .mark()
                        .binfloat(1.5)
                        .binfloat(-0.0)
                        .binfloat(std::numeric_limits<double>::infinity())
                        .binfloat(std::numeric_limits<double>::quiet_NaN())
                        .binfloat(5e-324)
                        .tuple()
                        .stop()
                        .take();
    REQUIRE(b[3] == std::byte{'G'});
    REQUIRE(b[4] == std::byte{0x3f});  // 1.5 = 0x3FF8000000000000, most significant byte first
    auto ck = load(b);
    REQUIRE(ck);
    const auto items = ck->root().items();
    REQUIRE(items.size() == 5);
    CHECK(items[0]->kind() == value_kind::floating);
    CHECK(items[0]->as_double() == 1.5);
    CHECK(items[1]->as_double() == 0.0);
    CHECK(std::signbit(items[1]->as_double()));
    CHECK(std::isinf(items[2]->as_double()));
    CHECK(std::isnan(items[3]->as_double()));
    CHECK(items[4]->as_double() == 5e-324);
  }
  SUBCASE("protocol 0 FLOAT text") {
    // CPython: pickle.dumps(1.25, 0), (-0.5, 0), (1e100, 0), (float('inf'), 0)
    struct row { std::string_view bytes; double v; };
    const row rows[] = {{"F1.25\n."sv, 1.25}, {"F-0.5\n."sv, -0.5}, {"F1e+100\n."sv, 1e100},
                        {"Finf\n."sv, std::numeric_limits<double>::infinity()}};
    for (const auto& r : rows) {
      CAPTURE(r.bytes);
      const bytes b = raw(r.bytes);
      auto ck = load(b);
      REQUIRE(ck);
      CHECK(ck->root().kind() == value_kind::floating);
      CHECK(ck->root().as_double() == r.v);
    }
    const bytes nan = raw("Fnan\n."sv);
    const auto nan_ck = load(nan);
    REQUIRE(nan_ck);
    CHECK(std::isnan(nan_ck->root().as_double()));
    for (auto text : {"F1e999\n."sv, "F1_0\n."sv, "F 1.0\n."sv, "Fabc\n."sv}) {
      CAPTURE(text);
      const bytes b = raw(text);
      CHECK(load(b).code() == errc::pickle_bad_text);
    }
  }
}

TEST_CASE("protocol 0 containers and strings") {
  SUBCASE("list") {
    // CPython: pickle.dumps([1, 2.5, 'a'], 0)
    const bytes b = raw("(lp0\nI1\naF2.5\naVa\np1\na."sv);
    auto ck = load(b);
    REQUIRE(ck);
    const value& l = ck->root();
    REQUIRE(l.kind() == value_kind::list);
    REQUIRE(l.size() == 3);
    CHECK(l.items()[0]->as_int64() == 1);
    CHECK(l.items()[1]->as_double() == 2.5);
    CHECK(l.items()[2]->text() == "a");
  }
  SUBCASE("dict") {
    // CPython: pickle.dumps({'a': 1}, 0)
    const bytes b = raw("(dp0\nVa\np1\nI1\ns."sv);
    auto ck = load(b);
    REQUIRE(ck);
    REQUIRE(ck->root().kind() == value_kind::dict);
    REQUIRE(ck->root().find("a"));
    CHECK(ck->root().find("a")->as_int64() == 1);
  }
  SUBCASE("tuple with a raw-unicode-escape string") {
    // CPython: pickle.dumps((1, '\xe9'), 0) and pickle.dumps('\xe9\u20ac', 0)
    const bytes b = raw("(I1\nV\xe9\np0\ntp1\n."sv);
    auto ck = load(b);
    REQUIRE(ck);
    REQUIRE(ck->root().kind() == value_kind::tuple);
    CHECK(ck->root().items()[1]->text() == "\xc3\xa9");
    const bytes s = raw("V\xe9\\u20ac\np0\n."sv);
    auto ck2 = load(s);
    REQUIRE(ck2);
    CHECK(ck2->root().text() == "\xc3\xa9\xe2\x82\xac");
  }
  SUBCASE("bytes through _codecs.encode") {
    // CPython: pickle.dumps(b'ab', 0)
    const bytes b = raw("c_codecs\nencode\np0\n(Vab\np1\nVlatin1\np2\ntp3\nRp4\n."sv);
    auto ck = load(b);
    REQUIRE(ck);
    CHECK(ck->root().kind() == value_kind::bytes);
    CHECK(ck->root().text() == "ab");
  }
}

TEST_CASE("strings") {
  const bytes b = p2()
                      .mark()
                      .binunicode("\xc3\xa9")
                      .binunicode("\xed\xa0\x80")  // lone surrogate U+D800, as "surrogatepass" encodes it
                      .short_binstring("py2")
                      .binunicode("")
                      .tuple()
                      .stop()
                      .take();
  auto ck = load(b);
  REQUIRE(ck);
  const auto items = ck->root().items();
  REQUIRE(items.size() == 4);
  CHECK(items[0]->text() == "\xc3\xa9");
  CHECK(items[1]->text() == "\xed\xa0\x80");
  CHECK(items[2]->kind() == value_kind::string);
  CHECK(items[2]->text() == "py2");
  CHECK(items[3]->text().empty());
  // A surrogate is only valid in BINUNICODE-family payloads, not in py2 strings.
  const bytes bad = p2().short_binstring("\xed\xa0\x80").stop().take();
  CHECK(load(bad).code() == errc::pickle_bad_text);
}

TEST_CASE("dict keys: 1, 1.0 and True are one key; the later value wins, the first key stays") {
  SUBCASE("small dict") {
    const bytes b = p2()
                        .empty_dict()
                        .mark()
                        .integer(1).binunicode("a")
                        .binunicode("x").integer(10)
                        .binfloat(1.0).binunicode("b")
                        .newtrue().binunicode("c")
                        .binunicode("x").integer(20)
                        .setitems()
                        .stop()
                        .take();
    auto ck = load(b);
    REQUIRE(ck);
    const value& d = ck->root();
    REQUIRE(d.kind() == value_kind::dict);
    REQUIRE(d.size() == 2);  // CPython: {1: 'c', 'x': 20}
    CHECK(item(d, 0).first->kind() == value_kind::integer);
    CHECK(item(d, 0).first->as_int64() == 1);
    CHECK(item(d, 0).second->text() == "c");
    CHECK(item(d, 1).first->text() == "x");
    CHECK(item(d, 1).second->as_int64() == 20);
  }
  SUBCASE("large dict (hash index) keeps the same semantics") {
    pickle_writer w = p2();
    w.empty_dict().mark();
    for (int i = 0; i < 40; ++i) w.integer(i).integer(i);
    w.binfloat(5.0).binunicode("five");  // replaces key 5, which stays an int at position 5
    w.newtrue().binunicode("one");       // replaces key 1
    w.binfloat(0.5).binunicode("half");  // new key
    w.setitems().stop();
    const bytes b = w.take();
    auto ck = load(b);
    REQUIRE(ck);
    const value& d = ck->root();
    REQUIRE(d.size() == 41);
    CHECK(item(d, 5).first->kind() == value_kind::integer);
    CHECK(item(d, 5).second->text() == "five");
    CHECK(item(d, 1).first->kind() == value_kind::integer);
    CHECK(item(d, 1).second->text() == "one");
    CHECK(item(d, 40).first->as_double() == 0.5);
  }
  SUBCASE("0.0 == -0.0; NaN keys are equal only when they are the same object") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const bytes b = p2()
                        .empty_dict()
                        .mark()
                        .binfloat(0.0).integer(1)
                        .binfloat(-0.0).integer(2)
                        .binfloat(nan).binput(0).integer(3)
                        .binfloat(nan).integer(4)
                        .binget(0).integer(5)
                        .setitems()
                        .stop()
                        .take();
    auto ck = load(b);
    REQUIRE(ck);
    const value& d = ck->root();
    REQUIRE(d.size() == 3);  // CPython: {0.0: 2, nan: 5, nan: 4}
    CHECK(item(d, 0).second->as_int64() == 2);
    CHECK(item(d, 1).second->as_int64() == 5);
    CHECK(item(d, 2).second->as_int64() == 4);
  }
  SUBCASE("big ints, tuples and strings as keys") {
    const bytes b = p2()
                        .empty_dict()
                        .mark()
                        .long1(raw("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10"sv))  // 2**100
                        .integer(1)
                        .op(pk::LONG).raw("1267650600228229401496703205376L\n").integer(2)
                        .integer(1).integer(2).tuple2().integer(3)
                        .binfloat(1.0).integer(2).tuple2().integer(4)
                        .binunicode("1").integer(5)
                        .setitems()
                        .stop()
                        .take();
    auto ck = load(b);
    REQUIRE(ck);
    const value& d = ck->root();
    REQUIRE(d.size() == 3);  // CPython: {2**100: 2, (1, 2): 4, '1': 5}
    CHECK(item(d, 0).first->int_decimal() == "1267650600228229401496703205376");
    CHECK(item(d, 0).second->as_int64() == 2);
    CHECK(item(d, 1).first->kind() == value_kind::tuple);
    CHECK(item(d, 1).first->items()[0]->kind() == value_kind::integer);
    CHECK(item(d, 1).second->as_int64() == 4);
    CHECK(item(d, 2).second->as_int64() == 5);
  }
  SUBCASE("big ints equal whatever opcode made them, and equal the floats that hold them exactly") {
    const bytes b = p2()
                        .empty_dict()
                        .mark()
                        .long1(raw("\x00\x00\x00\x00\x00\x00\x00\x00\x01"sv)).integer(1)   // 2**64
                        .binfloat(18446744073709551616.0).integer(3)                    // 2.0**64
                        .long1(raw("\x00\x00\x00\x00\x00\x00\x00\x00\xff"sv)).integer(4)   // -2**64
                        .binfloat(-18446744073709551616.0).integer(5)
                        .long1(raw("\x01\x00\x00\x00\x00\x00\x00\x00\x01"sv)).integer(6)   // 2**64 + 1
                        .op(pk::LONG).raw("1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160L\n").integer(7)                        // int(1e300)
                        .binfloat(1e300).integer(8)
                        .binfloat(9223372036854775808.0).integer(9)                       // 2.0**63
                        .long1(raw("\x00\x00\x00\x00\x00\x00\x00\x80\x00"sv)).integer(10)  // 2**63
                        .setitems()
                        .stop()
                        .take();
    auto ck = load(b);
    REQUIRE(ck);
    const value& d = ck->root();
    // CPython: {2**64: 3, -2**64: 5, 2**64 + 1: 6, int(1e300): 8, 2.0**63: 10}
    REQUIRE(d.size() == 5);
    CHECK(item(d, 0).first->int_decimal() == "18446744073709551616");
    CHECK(item(d, 0).second->as_int64() == 3);
    CHECK(item(d, 1).first->int_decimal() == "-18446744073709551616");
    CHECK(item(d, 1).second->as_int64() == 5);
    CHECK(item(d, 2).first->int_decimal() == "18446744073709551617");
    CHECK(item(d, 2).second->as_int64() == 6);
    CHECK(item(d, 3).first->int_decimal() == "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160");  // a text big int prints its digits
    CHECK(item(d, 3).second->as_int64() == 8);
    CHECK(item(d, 4).first->kind() == value_kind::floating);
    CHECK(item(d, 4).second->as_int64() == 10);
  }
  SUBCASE("equal big ints and long strings compared again and again spend the key budget by their size") {
    // d[K1] = None, then d[K2] = None 20,000 times, K1 == K2 but distinct: each comparison
    // reads the whole value, so it costs its size (64 bytes a unit), not one unit.
    const std::string big_int = std::string(4095, '\xff') + "\x7f";
    const std::string long_text(4096, 'k');
    for (int kind = 0; kind < 2; ++kind) {
      pickle_writer w = p2();
      w.empty_dict();
      for (int i = 0; i < 2; ++i) {
        if (kind == 0) w.op(pk::LONG4).u32(4096).raw(big_int); else w.binunicode(long_text);
        w.binput(static_cast<std::uint8_t>(i)).none().setitem();
      }
      for (int i = 0; i < 20000; ++i) w.binget(1).none().setitem();
      const bytes b = w.stop().take();
      auto r = load(b);
      REQUIRE(!r);
      CHECK(r.code() == errc::limit_exceeded);
      CHECK(r.error_value().message.find("max_key_compare_nodes") != std::string::npos);
    }
    // 500 repeats are within the budget: the dict holds one key.
    pickle_writer w = p2();
    w.empty_dict();
    for (int i = 0; i < 2; ++i) w.op(pk::LONG4).u32(4096).raw(big_int).binput(static_cast<std::uint8_t>(i)).none().setitem();
    for (int i = 0; i < 500; ++i) w.binget(1).none().setitem();
    const bytes ok = w.stop().take();
    auto ck = load(ok);
    REQUIRE(ck);
    CHECK(ck->root().size() == 1);
  }
  SUBCASE("unhashable keys are refused") {
    const bytes list_key = p2().empty_dict().empty_list().integer(1).setitem().stop().take();
    const bytes dict_key = p2().empty_dict().empty_dict().integer(1).setitem().stop().take();
    const bytes tuple_with_list = p2().empty_dict().empty_list().tuple1().integer(1).setitem().stop().take();
    const bytes bytearray_key =
        p2().empty_dict().op(pk::BYTEARRAY8).u64(1).raw("x").integer(1).setitem().stop().take();
    const bytes set_item = p2().empty_set().mark().empty_list().additems().stop().take();
    for (const bytes* b : {&list_key, &dict_key, &tuple_with_list, &bytearray_key, &set_item}) {
      auto r = load(*b);
      CHECK(r.code() == errc::pickle_bad_operand);
    }
    // A tuple of hashables is a fine key.
    const bytes ok = p2().empty_dict().integer(1).integer(2).tuple2().integer(1).setitem().stop().take();
    CHECK(load(ok));
  }
}

TEST_CASE("sets") {
  SUBCASE("ADDITEMS dedupes like Python") {
    const bytes b = p4()
                        .empty_set()
                        .mark()
                        .integer(1).binfloat(1.0).newtrue().integer(2).short_binunicode("a").short_binunicode("a")
                        .additems()
                        .stop()
                        .take();
    auto ck = load(b);
    REQUIRE(ck);
    const value& s = ck->root();
    REQUIRE(s.kind() == value_kind::set);
    REQUIRE(s.size() == 3);  // CPython: {1, 2, 'a'}
    CHECK(s.items()[0]->kind() == value_kind::integer);
    CHECK(s.items()[1]->as_int64() == 2);
    CHECK(s.items()[2]->text() == "a");
  }
  SUBCASE("FROZENSET") {
    const bytes b = p4().mark().integer(3).integer(3).integer(4).frozenset().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    CHECK(ck->root().kind() == value_kind::frozenset);
    CHECK(ck->root().size() == 2);
  }
  SUBCASE("builtins.set(list) REDUCE (what protocol 2 writes)") {
    const bytes c = p2()
                        .global("builtins", "set")
                        .empty_list()
                        .mark().integer(1).integer(1).binfloat(2.0).integer(2).appends()
                        .tuple1()
                        .reduce()
                        .stop()
                        .take();
    auto ck = load(c);
    REQUIRE(ck);
    CHECK(ck->root().kind() == value_kind::set);
    CHECK(ck->root().size() == 2);
    CHECK(ck->root().items()[1]->kind() == value_kind::floating);  // first of 2.0 / 2 kept
  }
}

TEST_CASE("memo") {
  SUBCASE("BINGET shares the node") {
    // x = []; [x, x]
    const bytes b = p2().empty_list().mark().empty_list().binput(0).binget(0).appends().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    const value& outer = ck->root();
    REQUIRE(outer.size() == 2);
    CHECK(outer.items()[0] == outer.items()[1]);
    CHECK(outer.items()[0]->kind() == value_kind::list);
  }
  SUBCASE("a shared subtree is not a cycle") {
    // x = [1]; [[x, x], x]
    const bytes b = p2()
                        .empty_list()
                        .mark()
                        .empty_list().integer(1).append().binput(1)
                        .binget(1).binget(1).tuple2()
                        .binget(1)
                        .appends()
                        .stop()
                        .take();
    CHECK(load(b));
  }
  SUBCASE("MEMOIZE stores at index len(memo)") {
    // After BINPUT 5 the memo holds one entry, so MEMOIZE stores at index 1 (not 6).
    const bytes b = p4()
                        .mark()
                        .short_binunicode("a").binput(5)
                        .integer(7).memoize()
                        .binget(1)
                        .binget(5)
                        .tuple()
                        .stop()
                        .take();
    auto ck = load(b);
    REQUIRE(ck);
    const auto items = ck->root().items();
    REQUIRE(items.size() == 4);
    CHECK(items[2] == items[1]);
    CHECK(items[2]->as_int64() == 7);
    CHECK(items[3] == items[0]);
    CHECK(has_warning(*ck, "MEMOIZE"));
    const bytes missing = p4().integer(7).memoize().binget(6).stop().take();
    CHECK(load(missing).code() == errc::pickle_memo_missing);
  }
  SUBCASE("PUT/GET text forms and LONG_BINPUT/LONG_BINGET") {
    const bytes b = p2().mark().integer(9).long_binput(70000).long_binget(70000).raw("p12\ng12\n").tuple().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    const auto items = ck->root().items();
    REQUIRE(items.size() == 3);
    CHECK(items[0] == items[1]);
    CHECK(items[1] == items[2]);
  }
  SUBCASE("an index stored far ahead stays readable once nearer puts reach it") {
    // 5000 is stored before any nearer index (kept apart from the dense run); 4000 and then
    // 6000 extend the dense run past it. pickle.py's memo is a dict: GET 5000 is the first value
    // put there, or the last when a second PUT replaced it.
    const auto items_after = [](bool put_again) {
      auto w = p2().mark().integer(1).long_binput(5000).integer(2).long_binput(4000).integer(3).long_binput(6000);
      if (put_again) w.integer(4).long_binput(5000);
      auto ck = load(w.long_binget(5000).tuple().stop().take());
      REQUIRE(ck);
      std::vector<std::int64_t> out;
      for (const auto* v : ck->root().items()) out.push_back(v->as_int64());
      return out;
    };
    CHECK(items_after(false) == std::vector<std::int64_t>{1, 2, 3, 1});
    CHECK(items_after(true) == std::vector<std::int64_t>{1, 2, 3, 4, 4});
  }
  SUBCASE("re-PUT replaces the entry") {
    const bytes b = p2().mark().integer(1).binput(0).integer(2).binput(0).binget(0).tuple().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    CHECK(ck->root().items()[2]->as_int64() == 2);
  }
}

TEST_CASE("stack opcodes: POP, POP_MARK, DUP") {
  SUBCASE("POP_MARK drops everything down to its MARK") {
    const bytes b = p2().empty_list().mark().integer(1).integer(2).pop_mark().integer(3).append().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    REQUIRE(ck->root().size() == 1);
    CHECK(ck->root().items()[0]->as_int64() == 3);
    CHECK(ck->warnings().size() == 1);  // POP_MARK is data-only
  }
  SUBCASE("POP drops the top value") {
    const bytes b = p2().integer(1).integer(2).pop().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    CHECK(ck->root().as_int64() == 1);
  }
  SUBCASE("POP right after a MARK discards the MARK") {
    const bytes b = p2().integer(7).mark().pop().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    CHECK(ck->root().as_int64() == 7);
    CHECK_FALSE(has_warning(*ck, "left on the stack"));
  }
  SUBCASE("DUP pushes the same node again") {
    const bytes b = p2().integer(5).dup().tuple2().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    const auto items = ck->root().items();
    REQUIRE(items.size() == 2);
    CHECK(items[0] == items[1]);
  }
  SUBCASE("underflows") {
    CHECK(load(p2().pop().stop().take()).code() == errc::pickle_stack_underflow);
    CHECK(load(p2().dup().stop().take()).code() == errc::pickle_stack_underflow);
    CHECK(load(p2().pop_mark().none().stop().take()).code() == errc::pickle_no_mark);
  }
}

TEST_CASE("FRAME") {
  SUBCASE("a frame around whole opcodes loads") {
    // CPython: pickle.dumps({'x': [1, 2]}, protocol=4)
    const bytes b = raw("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01x\x94]\x94(K\x01K\x02" "es."sv);
    auto ck = load(b);
    REQUIRE(ck);
    const value* x = ck->root().find("x");
    REQUIRE(x);
    CHECK(x->size() == 2);
    CHECK(has_warning(*ck, "FRAME"));
  }
  SUBCASE("an operand straddling the end of a frame is refused") {
    const bytes b = p4().frame(3).binint(7).stop().take();
    CHECK(load(b).code() == errc::pickle_bad_operand);
    const bytes line = p4().frame(4).raw("I12345\n").stop().take();
    CHECK(load(line).code() == errc::pickle_bad_operand);
  }
  SUBCASE("a new FRAME before the current one ends is refused") {
    const bytes b = p4().frame(12).none().frame(1).none().stop().take();  // 12: N, the inner FRAME, N, STOP
    CHECK(load(b).code() == errc::pickle_bad_operand);
  }
  SUBCASE("a frame longer than the pickle is truncation") {
    const bytes b = p4().frame(1000).none().stop().take();
    CHECK(load(b).code() == errc::pickle_truncated);
  }
  SUBCASE("bytes after STOP inside the frame are refused: readers disagree where the next pickle starts") {
    // FRAME 4 holds N, STOP and two bytes: pickle.py resumes at the frame's end, a peek()ing
    // _pickle right after STOP.
    const bytes b = p4().frame(4).none().stop().raw("N.").take();
    auto r = load(b);
    CHECK(r.code() == errc::pickle_stop_inside_frame);
    CHECK(r.error_value().offset == 12);  // the STOP
  }
  SUBCASE("a frame that ends at STOP loads and the pickle ends there") {
    const bytes b = p4().frame(2).none().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    CHECK(ck->root().kind() == value_kind::none);
  }
  SUBCASE("consecutive frames") {
    const bytes b = p4().frame(1).none().frame(1).pop().frame(2).integer(4).stop().take();
    // The second frame holds only POP; the third holds BININT1's opcode and operand; STOP follows.
    auto ck = load(b);
    REQUIRE(ck);
    CHECK(ck->root().as_int64() == 4);
  }
}

TEST_CASE("STACK_GLOBAL") {
  SUBCASE("an allowed name: collections.OrderedDict") {
    // CPython: pickle.dumps(collections.OrderedDict(a=1), protocol=4)
    const bytes b = raw("\x80\x04\x95)\x00\x00\x00\x00\x00\x00\x00\x8c\x0b" "collections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94\x8c\x01" "a\x94K\x01s."sv);
    auto ck = load(b);
    REQUIRE(ck);
    REQUIRE(ck->root().kind() == value_kind::ordered_dict);
    REQUIRE(ck->root().find("a"));
    CHECK(ck->root().find("a")->as_int64() == 1);
    CHECK(has_warning(*ck, "STACK_GLOBAL"));
  }
  SUBCASE("a dtype") {
    const bytes b = p4().short_binunicode("torch").short_binunicode("bfloat16").stack_global().stop().take();
    auto ck = load(b);
    REQUIRE(ck);
    CHECK(ck->root().kind() == value_kind::dtype);
    CHECK(ck->root().as_dtype() == pthsafe::dtype::bfloat16);
  }
  SUBCASE("refused and blocked names") {
    CHECK(load(p4().short_binunicode("builtins").short_binunicode("eval").stack_global().stop().take()).code() ==
          errc::pickle_global_refused);
    CHECK(load(p4().short_binunicode("posix").short_binunicode("system").stack_global().stop().take()).code() ==
          errc::pickle_global_blocked);
  }
}

TEST_CASE("values left on the stack at STOP are a warning, as CPython ignores them") {
  const bytes b = p2().integer(1).integer(2).stop().take();
  auto ck = load(b);
  REQUIRE(ck);
  CHECK(ck->root().as_int64() == 2);
  CHECK(has_warning(*ck, "left on the stack at STOP"));
  const bytes marks = p2().mark().integer(3).stop().take();
  auto ck2 = load(marks);
  REQUIRE(ck2);
  CHECK(has_warning(*ck2, "left on the stack at STOP"));
  // A scan reports it as a warning finding, not an error.
  const auto rep = pthsafe::scan_buffer(b);
  CHECK(rep.verdict == pthsafe::verdict::safe);
  REQUIRE(rep.findings.size() == 1);
  CHECK(rep.findings[0].severity == pthsafe::severity::warning);
  CHECK(rep.findings[0].rule == "stack_not_empty_at_stop");
}

TEST_CASE("data-only opcodes warn once each; torch's opcodes do not warn") {
  const bytes b = p4().mark().short_binunicode("a").short_binunicode("b").memoize().memoize().integer(1).tuple().stop().take();
  auto ck = load(b);
  REQUIRE(ck);
  CHECK(ck->warnings().size() == 2);  // SHORT_BINUNICODE and MEMOIZE, once each
  const bytes torch_only = p2().empty_dict().binunicode("k").integer(1).setitem().stop().take();
  auto ck2 = load(torch_only);
  REQUIRE(ck2);
  CHECK(ck2->warnings().empty());
  const auto rep = pthsafe::scan_buffer(b);
  CHECK(rep.verdict == pthsafe::verdict::safe);
  REQUIRE(rep.findings.size() == 2);
  CHECK(rep.findings[0].rule == "torch_refuses_opcode");
  CHECK(rep.findings[0].subject == "SHORT_BINUNICODE");
}

TEST_CASE("globals admitted by the caller stay inert objects") {
  pthsafe::load_options o;
  o.allowed_globals = {"mymod.Thing"};
  const bytes b = p2().global("mymod", "Thing").integer(1).tuple1().reduce().empty_dict().build().stop().take();
  CHECK(load(b).code() == errc::pickle_global_refused);  // not allowed by default
  auto ck = load(b, o);
  REQUIRE(ck);
  const value& obj = ck->root();
  CHECK(obj.kind() == value_kind::object);
  CHECK(obj.text() == "mymod.Thing");
  REQUIRE(obj.items().size() == 2);  // (args, state)
  CHECK(obj.items()[0]->kind() == value_kind::tuple);
  CHECK(obj.items()[0]->items()[0]->as_int64() == 1);
  CHECK(obj.items()[1]->kind() == value_kind::dict);
  // Exact names only: neither a prefix nor an attribute of the allowed name.
  const bytes attr = p2().global("mymod", "Thing.__init__").stop().take();
  CHECK(load(attr, o).code() == errc::pickle_global_refused);
  const bytes mod = p2().global("mymod.Thing", "x").stop().take();
  CHECK(load(mod, o).code() == errc::pickle_global_refused);
  // A scan judges the same file safe when the caller allows the global.
  CHECK(pthsafe::scan_buffer(b, o).verdict == pthsafe::verdict::safe);
  CHECK(pthsafe::scan_buffer(b).verdict == pthsafe::verdict::unsafe);
}

TEST_CASE("torch values: OrderedDict from pairs, Size, device, complex, bytearray") {
  SUBCASE("OrderedDict([(k, v), ...]) keeps the first key, last value") {
    const bytes b = p2()
                        .global("collections", "OrderedDict")
                        .mark()
                        .binunicode("a").integer(1).tuple2()
                        .binunicode("b").integer(2).tuple2()
                        .binunicode("a").integer(3).tuple2()
                        .list()
                        .tuple1()
                        .reduce()
                        .stop()
                        .take();
    auto ck = load(b);
    REQUIRE(ck);
    const value& d = ck->root();
    REQUIRE(d.kind() == value_kind::ordered_dict);
    REQUIRE(d.size() == 2);
    CHECK(item(d, 0).first->text() == "a");
    CHECK(item(d, 0).second->as_int64() == 3);
  }
  SUBCASE("torch.Size, torch.device, complex") {
    const bytes b = p2()
                        .mark()
                        .global("torch", "Size").integer(2).integer(3).tuple2().tuple1().reduce()
                        .global("torch", "device").binunicode("cuda").integer(1).tuple2().reduce()
                        .global("builtins", "complex").binfloat(1.0).binfloat(-2.0).tuple2().reduce()
                        .global("builtins", "bytearray").integer(3).tuple1().reduce()
                        .tuple()
                        .stop()
                        .take();
    auto ck = load(b);
    REQUIRE(ck);
    const auto items = ck->root().items();
    REQUIRE(items.size() == 4);
    CHECK(items[0]->kind() == value_kind::size);
    CHECK(items[0]->size() == 2);
    CHECK(items[1]->kind() == value_kind::device);
    CHECK(items[1]->text() == "cuda:1");
    CHECK(items[2]->kind() == value_kind::complex);
    CHECK(items[2]->as_complex() == std::complex<double>(1.0, -2.0));
    CHECK(items[3]->kind() == value_kind::bytes);
    CHECK(items[3]->text() == std::string(3, '\0'));
  }
}

TEST_CASE("cycles and nesting") {
  SUBCASE("a list inside itself is refused, even through a tuple") {
    const bytes direct = p2().empty_list().binput(0).binget(0).append().stop().take();
    const bytes via_tuple = p2().empty_list().binput(0).binget(0).tuple1().append().stop().take();
    CHECK(load(direct).code() == errc::pickle_cycle);
    CHECK(load(via_tuple).code() == errc::pickle_cycle);
  }
  SUBCASE("nesting up to the limit loads; one more level is refused") {
    auto nested = [](int depth) {
      pickle_writer w = p2();
      for (int i = 0; i < depth; ++i) w.empty_list();
      w.integer(1);
      for (int i = 0; i < depth; ++i) w.append();
      return w.stop().take();
    };
    pthsafe::load_options o;
    o.limits.max_nesting_depth = 10;
    CHECK(load(nested(10), o));
    CHECK(load(nested(11), o).code() == errc::limit_exceeded);
  }
}

// ---- keyed hashing and indexed lookups (issue 9 §5) ----------------------------------------------

TEST_CASE("keyed SipHash: streaming equals one shot, tags separate domains, inputs differ") {
  using pthsafe::detail::keyed_hash;
  using pthsafe::detail::siphash13;
  const std::string text = "a state_dict key that is longer than one 8-byte block";
  siphash13 h(3);
  h.add(std::string_view(text).substr(0, 5));
  h.add(std::string_view(text).substr(5, 11));
  h.add(std::string_view(text).substr(16));
  CHECK(h.finish() == keyed_hash(text, 3));
  CHECK(keyed_hash(text, 3) != keyed_hash(text, 4));
  CHECK(keyed_hash("5", 1) != keyed_hash("5", 2));
  CHECK(keyed_hash("") != keyed_hash(std::string_view("\0", 1)));  // the length is hashed
  CHECK(pthsafe::detail::keyed_hash_u64(1) != pthsafe::detail::keyed_hash_u64(2));
}

TEST_CASE("keyed SipHash: whole words and single bytes make the same blocks, for every split") {
  using pthsafe::detail::keyed_hash;
  using pthsafe::detail::siphash13;
  std::string text;
  for (int i = 0; i < 41; ++i) text.push_back(static_cast<char>(i * 37 + 11));
  for (std::size_t len = 0; len <= text.size(); ++len) {
    CAPTURE(len);
    const std::string_view t = std::string_view(text).substr(0, len);
    siphash13 bytewise(7);  // one byte per add: never a whole word at once
    for (char c : t) bytewise.add(std::string_view(&c, 1));
    const std::uint64_t want = bytewise.finish();
    CHECK(keyed_hash(t, 7) == want);
    for (std::size_t cut = 0; cut <= len; ++cut) {
      siphash13 two(7);
      two.add(t.substr(0, cut));
      two.add(t.substr(cut));
      CHECK(two.finish() == want);
    }
  }
}

TEST_CASE("dict keys that collided in the former unkeyed hash load as distinct keys") {
  // x = unmix(unmix(k << 22)): mix(mix(x)) & (2^22 - 1) == 0 for every k, so every key landed in
  // slot 0 of the old index. Python semantics must not depend on the hash: all 3,000 stay apart,
  // and a repeated key replaces its value in place.
  auto unmix = [](std::uint64_t h) {
    auto inv = [](std::uint64_t a) {  // inverse of an odd number modulo 2^64 (Newton)
      std::uint64_t x = a;
      for (int i = 0; i < 6; ++i) x *= 2 - a * x;
      return x;
    };
    h ^= h >> 33;
    h *= inv(0xc4ceb9fe1a85ec53ULL);
    h ^= h >> 33;
    h *= inv(0xff51afd7ed558ccdULL);
    return h ^ (h >> 33);
  };
  pickle_writer w = p2();
  w.empty_dict().mark();
  std::vector<std::int64_t> keys;
  for (std::uint64_t k = 1; keys.size() < 3000; ++k) {
    const std::uint64_t x = unmix(unmix(k << 22));
    if (x < (std::uint64_t{1} << 63)) keys.push_back(static_cast<std::int64_t>(x));
  }
  for (auto k : keys) w.integer(k).none();
  w.integer(keys[7]).integer(42);  // the same key again: replaces keys[7]'s value
  w.setitems().stop();
  const bytes b = w.take();
  auto ck = load(b);
  REQUIRE(ck);
  REQUIRE(ck->root().size() == 3000);
  CHECK(item(ck->root(), 7).first->as_int64() == keys[7]);
  CHECK(item(ck->root(), 7).second->as_int64() == 42);
  CHECK(item(ck->root(), 8).second->kind() == value_kind::none);
}

TEST_CASE("BUILD attributes: many names are indexed, a repeated name keeps its first position") {
  // OrderedDict() BUILD({a0: 0, ..., a99: 99}) BUILD({a50: 'x', new: 1}): 101 attributes, a50 = 'x'.
  pickle_writer w = p2();
  w.global("collections", "OrderedDict").empty_tuple().reduce();
  w.empty_dict().mark();
  for (int i = 0; i < 100; ++i) w.binunicode("a" + std::to_string(i)).integer(i);
  w.setitems().build();
  w.empty_dict().mark().binunicode("a50").binunicode("x").binunicode("new").integer(1).setitems().build().stop();
  const bytes b = w.take();
  auto ck = load(b);
  REQUIRE(ck);
  const auto attrs = ck->root().attrs();
  REQUIRE(attrs.size() == 101);
  CHECK(attrs[50].first == "a50");
  CHECK(attrs[50].second->text() == "x");
  CHECK(attrs[100].first == "new");
}

TEST_CASE("inspect JSON stops at max_output_bytes when shared references repeat a large value") {
  // One 100,000-byte bytes value referenced 100 times: 20 MB of hex from a 100 KB pickle.
  std::string big(100000, 'b');
  pickle_writer body = p2();
  body.mark();
  body.raw(std::string_view("B\xa0\x86\x01\x00", 5)).raw(big).put(0);
  for (int i = 0; i < 99; ++i) body.get(0);
  body.list().stop();
  const bytes b = body.take();
  pthsafe::load_options o;
  o.mode = pthsafe::load_mode::metadata;
  o.limits.max_output_bytes = 1 << 20;
  auto ck = load(b, o);
  REQUIRE(ck);
  auto doc = pthsafe::inspect_json(*ck);
  REQUIRE_FALSE(doc);
  CHECK(doc.code() == errc::limit_exceeded);
  CHECK(doc.error_value().message.find("max_output_bytes") != std::string::npos);
  o.limits.max_output_bytes = 64 << 20;
  auto ck2 = load(b, o);
  REQUIRE(ck2);
  auto doc2 = pthsafe::inspect_json(*ck2);
  REQUIRE(doc2);
  CHECK(doc2->size() > 100 * 200000);
}

// A FRAME open at STOP: the gate judges both next pickles, the one at the frame's end
// (pickle.py, _pickle read()ing the frame) and the one right after STOP (_pickle peek()ing it).
TEST_CASE("scan: a FRAME past STOP is malformed and both next pickles are judged") {
  auto has_rule = [](const pthsafe::scan_report& rep, const char* rule) {
    for (const auto& f : rep.findings)
      if (f.rule == rule) return true;
    return false;
  };
  const bytes benign = p2().none().stop().take();
  const bytes evil = p2().global("os", "system").stop().take();
  SUBCASE("the payload at the frame's end") {
    bytes b = p4().frame(2 + benign.size()).none().stop().take();
    pthsafe_test::append(b, benign);
    pthsafe_test::append(b, evil);
    const auto rep = pthsafe::scan_buffer(b);
    CHECK(rep.verdict == pthsafe::verdict::unsafe);
    CHECK(has_rule(rep, "pickle_stop_inside_frame"));
    CHECK(has_rule(rep, "pickle_global_blocked"));
  }
  SUBCASE("the payload inside the frame, after STOP") {
    bytes b = p4().frame(2 + evil.size()).none().stop().take();
    pthsafe_test::append(b, evil);
    pthsafe_test::append(b, benign);
    const auto rep = pthsafe::scan_buffer(b);
    CHECK(rep.verdict == pthsafe::verdict::unsafe);
    CHECK(has_rule(rep, "pickle_global_blocked"));
  }
  SUBCASE("benign on both sides: malformed") {
    bytes b = p4().frame(2 + benign.size()).none().stop().take();
    pthsafe_test::append(b, benign);
    pthsafe_test::append(b, benign);
    const auto rep = pthsafe::scan_buffer(b);
    CHECK(rep.verdict == pthsafe::verdict::malformed);
    CHECK(has_rule(rep, "pickle_stop_inside_frame"));
  }
}
