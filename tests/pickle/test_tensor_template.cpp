// The tensor template (pickle/tensor_template.hpp) against the general way: on torch-written
// checkpoints and on every one-byte change, cut and insertion of their pickles, the two give
// the same checkpoint (inspect --json with storage digests, warnings) or the same error (code,
// record, offset, message).
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "model/state.hpp"
#include "pickle/opcodes.hpp"
#include "pickle/tensor_template.hpp"
#include "pthsafe/pthsafe.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/scan.hpp"
#include "support/zip_builder.hpp"
#include "zip/archive.hpp"

using namespace pthsafe_test;
namespace op = pthsafe::detail::op;
using pthsafe::detail::match_tensor_template;
using pthsafe::detail::set_tensor_template_enabled;
using pthsafe::detail::tensor_template_uses;

namespace {

bytes read_fixture(const std::string& name) {
  std::ifstream f(std::string(PTHSAFE_FIXTURES) + "/" + name, std::ios::binary);
  REQUIRE(f);
  std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  bytes out(raw.size());
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

// A torch archive's records (all stored), to be written again with another data.pkl.
struct torch_zip {
  std::vector<std::pair<std::string, bytes>> records;
  std::size_t pickle = 0;  // index of data.pkl
  explicit torch_zip(const bytes& file) {
    auto a = pthsafe::detail::archive::open(file, pthsafe::limits{});
    REQUIRE(a);
    for (std::size_t i = 0; i < (*a)->entries().size(); ++i) {
      const auto& e = (*a)->entries()[i];
      REQUIRE(e.method == 0);
      const auto* p = file.data() + e.data_offset();
      records.emplace_back(std::string(e.name()), bytes(p, p + e.comp_size));
      if (e.name().ends_with("/data.pkl")) pickle = i;
    }
    REQUIRE(records[pickle].first.ends_with("/data.pkl"));
  }
  bytes with_pickle(const bytes& pkl) const {
    zip_builder z;
    for (std::size_t i = 0; i < records.size(); ++i) z.add(records[i].first, i == pickle ? pkl : records[i].second);
    return z.build();
  }
};

// Limits at the template's edges (each must give the general way's error at the general way's
// opcode): the default, then nesting, stack, memo, tree bytes, tuple size and string length
// just around what a tensor needs.
pthsafe::limits profile(std::size_t i) {
  pthsafe::limits l;
  l.max_tree_bytes = 64u << 20;
  switch (i % 9) {
    case 1: l.max_nesting_depth = 2; break;
    case 2: l.max_stack_items = 14; break;
    case 3: l.max_memo_entries = 30; break;
    case 4: l.max_tree_bytes = 5000; break;
    case 5: l.max_tree_bytes = 9000; break;
    case 6: l.max_container_items = 8; break;
    case 7: l.max_string_bytes = 3; break;
    case 8: l.max_mark_depth = 4; break;
    default: break;
  }
  return l;
}

// Everything a load shows: the error line, or the JSON document and the warnings.
std::string outcome(const bytes& file, bool template_on, const pthsafe::limits& lim) {
  set_tensor_template_enabled(template_on);
  pthsafe::load_options o;
  o.limits = lim;
  auto ck = pthsafe::checkpoint::open_buffer(file, o);
  set_tensor_template_enabled(true);
  if (!ck) return "error " + ck.error_value().to_string();
  auto doc = pthsafe::inspect_json(*ck);
  std::string out = doc ? *doc : "json error " + doc.error_value().to_string();
  // What the load charged against max_tree_bytes: the template makes fewer nodes, never other charges.
  out += "\ncharged " + std::to_string(pthsafe::detail::checkpoint_state::of(*ck).tree_bytes);
  for (const auto& w : ck->warnings()) out += "\nwarning " + w;
  return out;
}

// Compares both ways on `pkl`; returns how many tensors took the template.
std::uint64_t compare(const torch_zip& z, const bytes& pkl, const pthsafe::limits& lim = profile(0)) {
  const bytes file = z.with_pickle(pkl);
  const std::uint64_t before = tensor_template_uses();
  const std::string fused = outcome(file, true, lim);
  const std::uint64_t used = tensor_template_uses() - before;
  const std::string general = outcome(file, false, lim);
  REQUIRE(tensor_template_uses() - before == used);  // off means off
  if (fused != general) {
    INFO("fused:   " << fused.substr(0, 400));
    INFO("general: " << general.substr(0, 400));
    FAIL("the template and the general way differ");
  }
  return used;
}

// Bytes worth putting anywhere in the template: its own opcodes, edges of the operand ranges.
constexpr std::array<std::uint8_t, 26> substitutes{
    0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, op::MARK, op::BINGET, op::LONG_BINGET, op::BINPUT, op::LONG_BINPUT,
    op::BININT1, op::BININT2, op::BININT, op::TUPLE, op::TUPLE1, op::TUPLE2, op::TUPLE3, op::EMPTY_TUPLE,
    op::NEWTRUE, op::NEWFALSE, op::REDUCE, op::BINPERSID, op::BINUNICODE, op::STOP, op::POP};

}  // namespace

TEST_CASE("tensor template: torch's checkpoints load alike both ways, and the template is used") {
  std::uint64_t used = 0;
  for (const char* name : {"state_dict.pth", "t113_state_dict.pth", "views.pt", "t113_views.pt", "requires_grad.pt",
                           "t113_requires_grad.pt", "scalars_empty.pt", "dtypes.pt", "t113_dtypes.pt", "cuda_location.pt",
                           "module_prefix.pth", "big_endian.pt", "resume_adam_cosine.pth", "t113_resume_adam_cosine.pth",
                           "last.pth", "t113_last.pth", "tensor_state.pt", "sparse.pt", "quantized.pt", "meta.pt"}) {
    CAPTURE(name);
    const torch_zip z(read_fixture(name));
    for (std::size_t p = 0; p < 9; ++p) {
      CAPTURE(p);
      used += compare(z, z.records[z.pickle].second, profile(p));
    }
    // The gate's report too (it runs the same machine under its own options).
    const bytes file = z.with_pickle(z.records[z.pickle].second);
    set_tensor_template_enabled(false);
    const std::string general = pthsafe::scan_report_json(name, pthsafe::scan_buffer(file));
    set_tensor_template_enabled(true);
    CHECK(pthsafe::scan_report_json(name, pthsafe::scan_buffer(file)) == general);
  }
  CHECK(used >= 40);  // the fixtures' later tensors take it
}

TEST_CASE("tensor template: every one-byte change, cut and insertion of torch's pickles decides alike") {
  std::uint64_t used = 0, cases = 0;
  for (const char* name : {"state_dict.pth", "t113_views.pt", "requires_grad.pt"}) {
    CAPTURE(name);
    const torch_zip z(read_fixture(name));
    const bytes& pkl = z.records[z.pickle].second;
    for (std::size_t at = 0; at < pkl.size(); ++at) {
      CAPTURE(at);
      bytes m = pkl;
      // Each case under one limit profile in turn (all nine pass over every position).
      for (const std::uint8_t b : substitutes) {
        if (std::byte{b} == pkl[at]) continue;
        m[at] = std::byte{b};
        used += compare(z, m, profile(cases++));
      }
      for (const int delta : {1, -1}) {
        m[at] = static_cast<std::byte>(static_cast<std::uint8_t>(pkl[at]) + delta);
        used += compare(z, m, profile(cases++));
      }
      const bytes cut(pkl.begin(), pkl.begin() + static_cast<std::ptrdiff_t>(at));
      used += compare(z, cut, profile(cases++));
      bytes inserted = pkl;
      inserted.insert(inserted.begin() + static_cast<std::ptrdiff_t>(at), std::byte{op::MARK});
      used += compare(z, inserted, profile(cases++));
    }
  }
  CHECK(cases > 100000);
  CHECK(used > 50000);  // most changes leave some tensors in the template
}

TEST_CASE("tensor template: the matcher reads exactly the template and never past the pickle") {
  const torch_zip z(read_fixture("state_dict.pth"));
  const bytes& pkl = z.records[z.pickle].second;
  // Every match ends at a REDUCE and starts at a BINGET; cutting the pickle anywhere inside a
  // match makes it fail, without reading past the cut.
  std::size_t matches = 0;
  for (std::size_t at = 0; at < pkl.size(); ++at) {
    const auto t = match_tensor_template(pkl, at);
    if (!t) continue;
    ++matches;
    CHECK((pkl[at] == std::byte{op::BINGET} || pkl[at] == std::byte{op::LONG_BINGET}));
    REQUIRE(t->end <= pkl.size());
    CHECK(pkl[t->end - 1] == std::byte{op::REDUCE});
    CHECK(t->reduce_at == t->end - 1);
    CHECK(pkl[t->persid_at] == std::byte{op::BINPERSID});
    for (std::uint64_t cut = at; cut < t->end; ++cut) {
      const bytes shorter(pkl.begin(), pkl.begin() + static_cast<std::ptrdiff_t>(cut));
      CHECK_FALSE(match_tensor_template(shorter, at));
    }
  }
  CHECK(matches >= 2);
  CHECK_FALSE(match_tensor_template(pkl, pkl.size()));
  CHECK_FALSE(match_tensor_template(pkl, pkl.size() + 1));
}
