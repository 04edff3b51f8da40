// The pickle machine on raw bytes (a bare pickle), default options and strict-torch mode.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "output_checks.hpp"
#include "pthsafe/report.hpp"
#include "pthsafe/pthsafe.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Force the bare-pickle path: a leading PROTO 2 unless the input already starts with an opcode.
  std::vector<std::byte> buf(size + 2);
  buf[0] = std::byte{0x80};
  buf[1] = std::byte{0x02};
  for (std::size_t i = 0; i < size; ++i) buf[i + 2] = std::byte{data[i]};
  for (bool strict : {false, true}) {
    pthsafe::load_options o;
    o.strict_torch = strict;
    o.limits.max_tree_bytes = 64u << 20;
    o.allowed_globals = {"numpy.core.multiarray.scalar"};
    auto ck = pthsafe::checkpoint::open_buffer(buf, o);
    if (!ck) {
      pthsafe::fuzz::check_text(ck.error_value().to_string());
      continue;
    }
    if (auto doc = pthsafe::inspect_json(*ck)) pthsafe::fuzz::check_json(*doc);
    // The training summary reads any shape: no crash, and its text stays printable.
    pthsafe::fuzz::check_lines(pthsafe::training_text(pthsafe::summarize_training(*ck)));
  }
  return 0;
}
