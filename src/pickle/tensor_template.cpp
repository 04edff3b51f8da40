#include "pickle/tensor_template.hpp"

#include <atomic>

#include "pickle/opcodes.hpp"

namespace pthsafe::detail {
namespace {

// Atomics: loads may run on several threads at once.
std::atomic<bool> template_on{true};
std::atomic<std::uint64_t> template_uses{0};

// A reader over [at, size) that fails (and stays failed) instead of reading past the end.
// Operand widths are 1, 2 or 4 bytes.
class reader {
 public:
  reader(std::span<const std::byte> b, std::uint64_t at) noexcept
      : p_(reinterpret_cast<const unsigned char*>(b.data())), size_(b.size()), at_(at) {}
  std::uint64_t pos() const noexcept { return at_; }
  bool ok() const noexcept { return ok_; }
  // The next opcode byte, consumed when it is `code`.
  [[gnu::always_inline]] bool op(std::uint8_t code) noexcept {
    if (!ok_ || at_ >= size_ || p_[at_] != code) return false;
    ++at_;
    return true;
  }
  std::uint8_t peek() const noexcept { return ok_ && at_ < size_ ? p_[at_] : 0; }
  [[gnu::always_inline]] std::uint64_t le(std::size_t n) noexcept {
    if (!ok_ || n > size_ - at_) {
      ok_ = false;
      return 0;
    }
    const unsigned char* q = p_ + at_;
    at_ += n;
    // Each width spelled out: one load each (a loop over n stays a loop).
    if (n == 1) return q[0];
    if (n == 2) return std::uint64_t{q[0]} | std::uint64_t{q[1]} << 8;
    return std::uint64_t{q[0]} | std::uint64_t{q[1]} << 8 | std::uint64_t{q[2]} << 16 | std::uint64_t{q[3]} << 24;
  }
  [[gnu::always_inline]] std::string_view bytes(std::uint64_t n) noexcept {
    if (!ok_ || n > size_ - at_) {
      ok_ = false;
      return {};
    }
    const std::string_view s(reinterpret_cast<const char*>(p_ + at_), static_cast<std::size_t>(n));
    at_ += n;
    return s;
  }
  void fail() noexcept { ok_ = false; }

  // BINGET / LONG_BINGET: the index.
  [[gnu::always_inline]] std::optional<std::uint64_t> get() noexcept {
    if (op(op::BINGET)) return ok_on(le(1));
    if (op(op::LONG_BINGET)) return ok_on(le(4));
    return std::nullopt;
  }
  // BINPUT / LONG_BINPUT: the index.
  [[gnu::always_inline]] std::optional<std::uint64_t> put() noexcept {
    if (op(op::BINPUT)) return ok_on(le(1));
    if (op(op::LONG_BINPUT)) return ok_on(le(4));
    return std::nullopt;
  }
  // BININT1 / BININT2 (unsigned) / BININT (signed 32 bits), as the machine reads them.
  [[gnu::always_inline]] std::optional<std::int64_t> small_int() noexcept {
    if (op(op::BININT1)) return ok_on_int(static_cast<std::int64_t>(le(1)));
    if (op(op::BININT2)) return ok_on_int(static_cast<std::int64_t>(le(2)));
    if (op(op::BININT)) return ok_on_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(le(4))));
    return std::nullopt;
  }

 private:
  std::optional<std::uint64_t> ok_on(std::uint64_t v) const noexcept {
    return ok_ ? std::optional<std::uint64_t>(v) : std::nullopt;
  }
  std::optional<std::int64_t> ok_on_int(std::int64_t v) const noexcept {
    return ok_ ? std::optional<std::int64_t>(v) : std::nullopt;
  }
  const unsigned char* p_;
  std::uint64_t size_;
  std::uint64_t at_;
  bool ok_ = true;
};

// A size or stride tuple: EMPTY_TUPLE | 1-3 ints TUPLE1-3 PUT | MARK 0..max_dims ints TUPLE PUT.
[[gnu::always_inline]] inline bool dims_at(reader& r, tensor_template::dims& d) {
  if (r.op(op::EMPTY_TUPLE)) return true;
  d.mark = r.op(op::MARK);
  while (d.n < tensor_template::max_dims) {
    const auto x = r.small_int();
    if (!x) break;
    d.v[d.n++] = *x;
  }
  if (!r.ok()) return false;
  if (d.mark) {
    if (!r.op(op::TUPLE)) return false;
  } else if (!(d.n == 1 && r.op(op::TUPLE1)) && !(d.n == 2 && r.op(op::TUPLE2)) && !(d.n == 3 && r.op(op::TUPLE3))) {
    return false;
  }
  const auto put = r.put();
  if (!put) return false;
  d.put_present = true;
  d.put = *put;
  return true;
}

}  // namespace

std::optional<tensor_template> match_tensor_template(std::span<const std::byte> pickle, std::uint64_t at) noexcept {
  if (at > pickle.size()) return std::nullopt;
  reader r(pickle, at);
  tensor_template t;
  const auto rebuild = r.get();
  if (!rebuild || !r.op(op::MARK) || !r.op(op::MARK)) return std::nullopt;
  t.rebuild_get = *rebuild;
  const auto storage = r.get();
  const auto cls = storage ? r.get() : std::nullopt;
  if (!cls) return std::nullopt;
  t.storage_get = *storage;
  t.class_get = *cls;
  if (const auto key = r.get()) {
    t.key.is_get = true;
    t.key.get = *key;
  } else if (r.op(op::BINUNICODE)) {
    t.key.text = r.bytes(r.le(4));
    const auto put = r.put();
    if (!put) return std::nullopt;
    t.key.put = *put;
  } else {
    return std::nullopt;
  }
  const auto location = r.get();
  const auto numel = location ? r.small_int() : std::nullopt;
  if (!numel || !r.op(op::TUPLE)) return std::nullopt;
  t.location_get = *location;
  t.numel = *numel;
  const auto pid_put = r.put();
  if (!pid_put) return std::nullopt;
  t.pid_put = *pid_put;
  t.persid_at = r.pos();
  if (!r.op(op::BINPERSID)) return std::nullopt;
  const auto offset = r.small_int();
  if (!offset || !dims_at(r, t.size) || !dims_at(r, t.stride)) return std::nullopt;
  t.offset = *offset;
  if (r.op(op::NEWTRUE)) t.requires_grad = true;
  else if (!r.op(op::NEWFALSE)) return std::nullopt;
  const auto hooks = r.get();
  if (!hooks || !r.op(op::EMPTY_TUPLE)) return std::nullopt;
  t.hooks_get = *hooks;
  t.hooks_reduce_at = r.pos();
  if (!r.op(op::REDUCE)) return std::nullopt;
  const auto hooks_put = r.put();
  if (!hooks_put || !r.op(op::TUPLE)) return std::nullopt;
  t.hooks_put = *hooks_put;
  const auto args_put = r.put();
  if (!args_put) return std::nullopt;
  t.args_put = *args_put;
  t.reduce_at = r.pos();
  if (!r.op(op::REDUCE) || !r.ok()) return std::nullopt;
  t.end = r.pos();
  return t;
}

void set_tensor_template_enabled(bool on) noexcept { template_on.store(on, std::memory_order_relaxed); }
bool tensor_template_enabled() noexcept { return template_on.load(std::memory_order_relaxed); }
std::uint64_t tensor_template_uses() noexcept { return template_uses.load(std::memory_order_relaxed); }
void count_tensor_template_uses(std::uint64_t n) noexcept { template_uses.fetch_add(n, std::memory_order_relaxed); }

}  // namespace pthsafe::detail
