// checkpoint's accessors: what a loaded checkpoint hands out (src/load/open.cpp builds it).
// Every accessor reaches the state through state(), so a moved-from checkpoint fails loudly.
#include "pthsafe/checkpoint.hpp"

#include <algorithm>
#include <charconv>
#include <string>

#include "model/state.hpp"
#include "util/try.hpp"

namespace pthsafe {

std::string_view container_format_name(container_format f) noexcept {
  switch (f) {
    case container_format::zip: return "zip";
    case container_format::legacy: return "legacy";
    case container_format::torchscript: return "torchscript";
    case container_format::pickle: return "pickle";
  }
  return "unknown";
}

const detail::checkpoint_state& detail::checkpoint_state::of(const checkpoint& c) { return c.state(); }

checkpoint detail::checkpoint_state::make_checkpoint(std::unique_ptr<checkpoint_state> s) {
  checkpoint c;
  c.s_ = std::move(s);
  return c;
}

checkpoint::checkpoint(checkpoint&&) noexcept = default;
checkpoint& checkpoint::operator=(checkpoint&&) noexcept = default;
checkpoint::~checkpoint() = default;

const detail::checkpoint_state& checkpoint::state() const {
  detail::require(s_ != nullptr, "checkpoint: used after move (a moved-from checkpoint may only be assigned or destroyed)");
  return *s_;
}

const value& checkpoint::root() const& { return *state().root; }
const value* checkpoint::constants() const& { return state().constants; }
container_format checkpoint::format() const { return state().format; }
bool checkpoint::big_endian() const { return state().big_endian; }
std::string_view checkpoint::archive_name() const& {
  const auto& st = state();
  return st.zip ? st.zip->root() : std::string_view();
}
load_mode checkpoint::mode() const { return state().mode; }
std::span<const std::string> checkpoint::warnings() const& { return state().warnings; }

std::uint64_t checkpoint::walk_budget() const {
  const auto& st = state();
  const std::uint64_t created = st.tree_bytes / detail::charged_value_bytes;  // values and slots the file created
  const std::uint64_t proportional = created > (UINT64_MAX - 65536) / 16 ? UINT64_MAX : created * 16 + 65536;
  return std::min<std::uint64_t>(st.lim.max_walk_nodes, proportional);
}

std::uint64_t checkpoint::output_budget() const { return state().lim.max_output_bytes; }

void checkpoint::release_pages(std::span<const std::byte> bytes) const noexcept {
  if (s_) s_->src.release_pages(bytes);
}

std::size_t checkpoint::tensor_count() const { return state().reach_tensors.size(); }
tensor_view checkpoint::tensor(std::size_t i) const& {
  const auto& st = state();
  detail::require(i < st.reach_tensors.size(), "checkpoint::tensor(i): requires i < tensor_count()");
  return tensor_view(st.reach_tensors[i]);
}
std::size_t checkpoint::storage_count() const { return state().reach_storages.size(); }
storage_view checkpoint::storage(std::size_t i) const& {
  const auto& st = state();
  detail::require(i < st.reach_storages.size(), "checkpoint::storage(i): requires i < storage_count()");
  return storage_view(st.reach_storages[i]);
}
std::uint64_t checkpoint::storage_bytes() const {
  std::uint64_t n = 0;
  for (const auto* s : state().reach_storages) n += s->nbytes;
  return n;
}

namespace {
bool key_matches(const value& k, std::string_view want) {
  if (k.kind() == value_kind::string) return k.text() == want;
  if (k.kind() == value_kind::integer) return k.int_decimal() == want;
  return false;
}
const value* child(const value& v, std::string_view comp) {
  // An inert object (caller-allowed class, TorchScript module): its BUILD state, when a dict.
  if (v.kind() == value_kind::object) return v.items().size() > 1 ? child(*v.items()[1], comp) : nullptr;
  if (v.kind() == value_kind::dict || v.kind() == value_kind::ordered_dict) {
    const auto items = v.items();
    for (std::size_t i = 0; i + 1 < items.size(); i += 2)
      if (key_matches(*items[i], comp)) return items[i + 1];
    return nullptr;
  }
  if (v.kind() == value_kind::list || v.kind() == value_kind::tuple) {
    std::size_t idx = 0;
    const auto [p, ec] = std::from_chars(comp.data(), comp.data() + comp.size(), idx);
    if (ec != std::errc() || p != comp.data() + comp.size() || idx >= v.items().size()) return nullptr;
    return v.items()[idx];
  }
  return nullptr;
}
}  // namespace

result<const value*> checkpoint::find(std::string_view path) const& {
  const value* cur = state().root;
  std::string_view rest = path;
  while (!rest.empty()) {
    if (const value* whole = child(*cur, rest)) return whole;  // a key that itself contains '/'
    const auto slash = rest.find('/');
    const std::string_view comp = rest.substr(0, slash);
    const value* next = child(*cur, comp);
    if (!next) return make_error(errc::not_found, "no value at '" + std::string(path) + "'");
    cur = next;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  }
  return cur;
}

result<tensor_view> checkpoint::find_tensor(std::string_view path) const& {
  PTHSAFE_ASSIGN(const value* v, find(path));
  if (v->kind() != value_kind::tensor)
    // Built by appends: gcc 12 at -O3 warns (-Wrestrict, falsely) about "'" + std::string.
    return make_error(errc::type_mismatch, std::string("'").append(path).append("' is a ").append(value_kind_name(v->kind())).append(", not a tensor"));
  return v->as_tensor();
}

}  // namespace pthsafe
