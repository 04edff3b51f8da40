#include "load/container.hpp"

#include <algorithm>
#include <cstring>

#include "model/state.hpp"
#include "load/tar_probe.hpp"
#include "pickle/machine.hpp"
#include "pickle/opcodes.hpp"
#include "torch/rebuild.hpp"

namespace pthsafe::detail {
namespace {

constexpr std::string_view legacy_magic_decimal = "119547037146038801333356";  // 0x1950a86a20f9469cfc6c
// Tree budget of the magic-number probe: a small int and a few discarded values fit many times.
constexpr std::uint64_t magic_probe_tree_bytes = 64 << 10;

bool starts_with(std::span<const std::byte> b, const char* p, std::size_t n) {
  return b.size() >= n && std::memcmp(b.data(), p, n) == 0;
}

}  // namespace

bool pickler_writes_first(unsigned char b) noexcept {
  return b == 0x80 || (b < 0x80 && opcode_table[b].cls != op_class::unknown);
}

container_id detect_container(std::span<const std::byte> file, const load_options& opts) {
  // torch.jit.load's getFileFormat tests bytes 4..7 before the zip magic: a pickle (or anything)
  // carrying "PTMF" there is a flatbuffer module to it. A zip cannot (flags 0x464D set bit 0,
  // encryption, which the zip layer refuses), so testing first loses nothing.
  if (file.size() >= 8 && std::memcmp(file.data() + 4, "PTMF", 4) == 0) return {container_kind::mobile, false};
  if (starts_with(file, "PK\3\4", 4)) return {container_kind::zip, false};
  if (tarfile_would_open(file) || has_ustar_magic(file)) return {container_kind::tar, false};
  if (starts_with(file, "PYTORCH1", 8)) return {container_kind::preview, false};
  if (file.empty() || opcode_table[static_cast<unsigned char>(file[0])].cls == op_class::unknown)
    return {container_kind::none, false};
  if (legacy_magic_end(file, opts)) return {container_kind::pickle, true};
  if (pickler_writes_first(static_cast<unsigned char>(file[0]))) return {container_kind::pickle, false};
  return {container_kind::none, false};
}

std::optional<std::uint64_t> legacy_magic_end(std::span<const std::byte> file, const load_options& opts) {
  load_options probe = opts;
  probe.limits.max_tree_bytes = std::min(probe.limits.max_tree_bytes, magic_probe_tree_bytes);
  probe.limits.max_pickle_bytes = std::min(probe.limits.max_pickle_bytes, legacy_magic_window);
  checkpoint_state st;
  st.lim = probe.limits;
  st.mode = load_mode::metadata;
  torch_rebuilder rb(st, nullptr, probe);  // a persistent id here fails: not the magic
  machine m(st, rb, probe, "");
  rb.attach(&m);
  std::uint64_t end = 0;
  const auto window = file.first(static_cast<std::size_t>(std::min<std::uint64_t>(file.size(), legacy_magic_window)));
  auto v = m.run(window, end);
  if (!v || (*v)->kind() != value_kind::integer || (*v)->int_decimal() != legacy_magic_decimal) return std::nullopt;
  return end;
}

}  // namespace pthsafe::detail
