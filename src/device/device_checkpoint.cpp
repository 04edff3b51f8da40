// Device loads: check the file as a CPU load does (mmap mode: nothing is copied on the host
// except deflated and byte-swapped records), resolve every storage's target with map_location,
// lay each CUDA device's storages out in one block (256-byte aligned) and stream them there.
#include <algorithm>
#include <limits>
#include <string>
#include <thread>

#include "device/device_state.hpp"
#include "io/checked.hpp"
#include "util/try.hpp"

namespace pthsafe::cuda {
namespace detail {
namespace {

using pthsafe::detail::copy_engine;
using pthsafe::detail::stage_segment;

result<void> check_options(const device_load_options& o) {
  auto over = [](const char* field, const char* range) {
    return make_error(errc::limit_exceeded, std::string("device_load_options::") + field + " must be " + range);
  };
  if (o.staging_bytes < 4096 || o.staging_bytes > (std::size_t{1} << 30)) return over("staging_bytes", "in [4096, 1 GiB]");
  if (o.staging_buffers < 1 || o.staging_buffers > 16) return over("staging_buffers", "in [1, 16]");
  if (o.streams < 1 || o.streams > o.staging_buffers) return over("streams", "in [1, staging_buffers]");
  if (o.fill_threads > 64) return over("fill_threads", "at most 64");
  return {};
}

unsigned default_fill_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return std::clamp(n, 1u, 8u);
}

}  // namespace

device_tensor device_state::locate(tensor_view t) const {
  device_tensor d{.shape = t.shape(), .host = t};
  d.element_type = t.element_type();
  d.shape = t.shape();
  d.storage_offset = t.storage_offset();
  d.host = t;
  if (!t.has_storage()) return d;
  d.strides = t.strides();
  const storage_view s = t.storage();
  const auto it = by_id.find(s.id());
  if (it == by_id.end()) {
    // Storages pthsafe builds from pickle values (per-channel quantizer lists) stay on the host.
    d.data = const_cast<std::byte*>(t.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
    return d;
  }
  const placed& p = storages[it->second];
  d.where = p.where;
  if (p.data && t.numel() > 0)
    d.data = static_cast<std::byte*>(p.data) + static_cast<std::uint64_t>(t.storage_offset()) * itemsize(t.element_type());
  return d;
}

result<device_checkpoint> device_state::load(const std::string& path, const device_load_options& opts,
                                             std::unique_ptr<copy_engine> engine) {
  PTHSAFE_TRY(check_options(opts));
  load_options lo = opts.load;
  lo.mode = load_mode::mmap;
  lo.refuse_copy_in_mmap = false;
  auto st = std::make_shared<device_state>();
  st->engine = std::move(engine);
  {
    PTHSAFE_ASSIGN(checkpoint ck, checkpoint::open(path, lo));
    st->host.emplace(std::move(ck));
  }
  const checkpoint& ck = *st->host;

  // A storage's saved location is its tensors' (torch records it once per storage).
  std::unordered_map<std::uintptr_t, std::string_view> saved;
  for (std::size_t i = 0; i < ck.tensor_count(); ++i) {
    const tensor_view t = ck.tensor(i);
    if (t.has_storage()) saved.emplace(t.storage().id(), t.device());
  }

  // Devices are counted only when a target is CUDA: a load to "cpu" works on any build.
  std::optional<result<int>> count;
  auto cuda_count = [&]() -> const result<int>& {
    if (!count) count.emplace(st->engine->device_count());
    return *count;
  };
  const std::size_t n = ck.storage_count();
  st->storages.resize(n);
  std::vector<std::vector<stage_segment>> segments;  // per CUDA device
  std::vector<std::uint64_t> totals;
  for (std::size_t i = 0; i < n; ++i) {
    const storage_view s = ck.storage(i);
    st->by_id.emplace(s.id(), i);
    const auto it = saved.find(s.id());
    const std::string_view from = it == saved.end() ? std::string_view("cpu") : it->second;
    PTHSAFE_ASSIGN(device target, opts.location.target(from));
    if (target.type == device::kind::cuda) {
      const result<int>& c = cuda_count();
      if (!c) return c.error_value();
      PTHSAFE_ASSIGN(target, opts.location.resolve(from, *c));
    }
    st->storages[i].where = target;
    if (target.type == device::kind::cpu) {
      st->storages[i].data = const_cast<std::byte*>(s.bytes().data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
      continue;
    }
    const auto d = static_cast<std::size_t>(target.index);
    if (segments.size() <= d) {
      segments.resize(d + 1);
      totals.resize(d + 1, 0);
    }
    if (s.nbytes() == 0) continue;
    const std::uint64_t at = (totals[d] + device_alignment - 1) / device_alignment * device_alignment;
    const auto end = pthsafe::detail::checked_add<std::uint64_t>(at, s.nbytes());
    if (!end || *end > std::numeric_limits<std::uint64_t>::max() - device_alignment)
      return make_error(errc::limit_exceeded, "device block size overflows", std::string(s.record()));
    segments[d].push_back({s.bytes().data(), s.nbytes(), at, s.record()});
    totals[d] = *end;
  }

  std::uint64_t largest = 0;
  for (auto t : totals) largest = std::max(largest, t);
  if (largest > 0) {
    pthsafe::detail::stage_options so;
    so.buffers = opts.staging_buffers;
    so.streams = opts.streams;
    so.fill_threads = opts.fill_threads ? opts.fill_threads : default_fill_threads();
    // Staging buffers no larger than the largest block needs (rounded to pages).
    so.buffer_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(opts.staging_bytes, (largest + 4095) / 4096 * 4096));
    pthsafe::detail::pinned_pool pool;
    PTHSAFE_TRY(pool.allocate(*st->engine, so.buffers, so.buffer_bytes));
    std::vector<std::byte*> base(totals.size(), nullptr);
    for (std::size_t d = 0; d < totals.size(); ++d) {
      if (totals[d] == 0) continue;
      const int dev = static_cast<int>(d);
      PTHSAFE_ASSIGN(void* p, st->engine->alloc_device(dev, totals[d]));
      st->blocks.emplace_back(st->engine.get(), dev, p, totals[d]);
      base[d] = static_cast<std::byte*>(p);
      PTHSAFE_TRY(pthsafe::detail::stream_to_device(*st->engine, dev, base[d], totals[d], segments[d], pool, so));
    }
    // Second pass: pointers into the blocks, in the order the layout gave them.
    std::vector<std::size_t> next(totals.size(), 0);
    for (std::size_t i = 0; i < n; ++i) {
      auto& p = st->storages[i];
      if (p.where.type != device::kind::cuda) continue;
      const auto d = static_cast<std::size_t>(p.where.index);
      if (ck.storage(i).nbytes() == 0) continue;
      p.data = base[d] + segments[d][next[d]++].at;
    }
  }
  device_checkpoint out;
  out.s_ = std::move(st);
  return out;
}

}  // namespace detail

result<device_checkpoint> device_checkpoint::open(const std::string& path, const device_load_options& opts) {
  return detail::device_state::load(path, opts, pthsafe::detail::make_copy_engine());
}

device_checkpoint::device_checkpoint(device_checkpoint&&) noexcept = default;
device_checkpoint& device_checkpoint::operator=(device_checkpoint&&) noexcept = default;
device_checkpoint::~device_checkpoint() = default;

const detail::device_state& device_checkpoint::state() const {
  if (!s_) throw precondition_error("device_checkpoint: used after move");
  return *s_;
}
const checkpoint& device_checkpoint::host() const& { return *state().host; }
std::size_t device_checkpoint::tensor_count() const { return state().host->tensor_count(); }
device_tensor device_checkpoint::tensor(std::size_t i) const& { return state().locate(state().host->tensor(i)); }
std::size_t device_checkpoint::storage_count() const { return state().storages.size(); }
device_storage device_checkpoint::storage(std::size_t i) const& {
  const auto& st = state();
  if (i >= st.storages.size()) throw precondition_error("device_checkpoint::storage(i): requires i < storage_count()");
  const storage_view s = st.host->storage(i);
  return device_storage{.data = st.storages[i].data, .nbytes = s.nbytes(), .where = st.storages[i].where, .host = s};
}
result<device_tensor> device_checkpoint::locate(tensor_view t) const& { return state().locate(t); }

}  // namespace pthsafe::cuda
