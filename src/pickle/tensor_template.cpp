#include "pickle/tensor_template.hpp"

#include <atomic>

#include "pickle/opcodes.hpp"

namespace pthsafe::detail {
namespace {

// Atomics: loads may run on several threads at once.
std::atomic<bool> template_on{true};
std::atomic<std::uint64_t> template_uses{0};

// A reader over [at, size): each read either takes a whole opcode with its operand or nothing
// (a cut operand fails the match). Operand widths are 1, 2 or 4 bytes, read as single loads.
class reader {
 public:
  reader(std::span<const std::byte> b, std::uint64_t at) noexcept
      : p_(reinterpret_cast<const unsigned char*>(b.data())), size_(b.size()), at_(at) {}
  std::uint64_t pos() const noexcept { return at_; }
  // The next opcode byte, consumed when it is `code`.
  [[gnu::always_inline]] bool op(std::uint8_t code) noexcept {
    if (at_ >= size_ || p_[at_] != code) return false;
    ++at_;
    return true;
  }
  // Opcode `code` with an n-byte little-endian operand.
  [[gnu::always_inline]] bool op_le(std::uint8_t code, std::size_t n, std::uint64_t& v) noexcept {
    if (at_ >= size_ || p_[at_] != code || n >= size_ - at_) return false;
    const unsigned char* q = p_ + at_ + 1;
    if (n == 1) v = q[0];
    else if (n == 2) v = std::uint64_t{q[0]} | std::uint64_t{q[1]} << 8;
    else v = std::uint64_t{q[0]} | std::uint64_t{q[1]} << 8 | std::uint64_t{q[2]} << 16 | std::uint64_t{q[3]} << 24;
    at_ += 1 + n;
    return true;
  }
  // BINUNICODE: its text (not yet checked as UTF-8).
  [[gnu::always_inline]] bool unicode(std::string_view& text) noexcept {
    std::uint64_t n = 0;
    const std::uint64_t start = at_;
    if (!op_le(op::BINUNICODE, 4, n)) return false;
    if (n > size_ - at_) {
      at_ = start;
      return false;
    }
    text = std::string_view(reinterpret_cast<const char*>(p_ + at_), static_cast<std::size_t>(n));
    at_ += n;
    return true;
  }
  // BINGET / LONG_BINGET: the index.
  [[gnu::always_inline]] bool get(std::uint64_t& idx) noexcept {
    return op_le(op::BINGET, 1, idx) || op_le(op::LONG_BINGET, 4, idx);
  }
  // BINPUT / LONG_BINPUT: the index.
  [[gnu::always_inline]] bool put(std::uint64_t& idx) noexcept {
    return op_le(op::BINPUT, 1, idx) || op_le(op::LONG_BINPUT, 4, idx);
  }
  // BININT1 / BININT2 (unsigned) / BININT (signed 32 bits), as the machine reads them.
  [[gnu::always_inline]] bool small_int(std::int64_t& x) noexcept {
    std::uint64_t v = 0;
    if (op_le(op::BININT1, 1, v) || op_le(op::BININT2, 2, v)) {
      x = static_cast<std::int64_t>(v);
      return true;
    }
    if (!op_le(op::BININT, 4, v)) return false;
    x = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return true;
  }

 private:
  const unsigned char* p_;
  std::uint64_t size_;
  std::uint64_t at_;
};

// A size or stride tuple: EMPTY_TUPLE | 1-3 ints TUPLE1-3 PUT | MARK 0..max_dims ints TUPLE PUT.
[[gnu::always_inline]] inline bool dims_at(reader& r, tensor_template::dims& d) {
  if (r.op(op::EMPTY_TUPLE)) return true;
  d.mark = r.op(op::MARK);
  while (d.n < tensor_template::max_dims && r.small_int(d.v[d.n])) ++d.n;
  if (d.mark) {
    if (!r.op(op::TUPLE)) return false;
  } else if (!(d.n == 1 && r.op(op::TUPLE1)) && !(d.n == 2 && r.op(op::TUPLE2)) && !(d.n == 3 && r.op(op::TUPLE3))) {
    return false;
  }
  d.put_present = true;
  return r.put(d.put);
}

}  // namespace

std::optional<tensor_template> match_tensor_template(std::span<const std::byte> pickle, std::uint64_t at) noexcept {
  tensor_template t;
  if (!match_tensor_template(pickle, at, t)) return std::nullopt;
  return t;
}

bool match_tensor_template(std::span<const std::byte> pickle, std::uint64_t at, tensor_template& t) noexcept {
  if (at > pickle.size()) return false;
  reader r(pickle, at);
  // What the match sets only on some paths starts over; the rest is written before it is read
  // (dims values past n are never read). No 300-byte reset a tensor (bench/NOTES.md 52).
  t.key.is_get = false;
  t.requires_grad = false;
  for (tensor_template::dims* d : {&t.size, &t.stride}) {
    d->n = 0;
    d->put_present = false;
    d->mark = false;
  }
  if (!r.get(t.rebuild_get) || !r.op(op::MARK) || !r.op(op::MARK) || !r.get(t.storage_get) || !r.get(t.class_get))
    return false;
  if (r.get(t.key.get)) {
    t.key.is_get = true;
  } else if (!r.unicode(t.key.text) || !r.put(t.key.put)) {
    return false;
  }
  if (!r.get(t.location_get) || !r.small_int(t.numel) || !r.op(op::TUPLE) || !r.put(t.pid_put)) return false;
  t.persid_at = r.pos();
  if (!r.op(op::BINPERSID) || !r.small_int(t.offset) || !dims_at(r, t.size) || !dims_at(r, t.stride)) return false;
  if (r.op(op::NEWTRUE)) t.requires_grad = true;
  else if (!r.op(op::NEWFALSE)) return false;
  if (!r.get(t.hooks_get) || !r.op(op::EMPTY_TUPLE)) return false;
  t.hooks_reduce_at = r.pos();
  if (!r.op(op::REDUCE) || !r.put(t.hooks_put) || !r.op(op::TUPLE) || !r.put(t.args_put)) return false;
  t.reduce_at = r.pos();
  if (!r.op(op::REDUCE)) return false;
  t.end = r.pos();
  return true;
}

void set_tensor_template_enabled(bool on) noexcept { template_on.store(on, std::memory_order_relaxed); }
bool tensor_template_enabled() noexcept { return template_on.load(std::memory_order_relaxed); }
std::uint64_t tensor_template_uses() noexcept { return template_uses.load(std::memory_order_relaxed); }
void count_tensor_template_uses(std::uint64_t n) noexcept { template_uses.fetch_add(n, std::memory_order_relaxed); }

}  // namespace pthsafe::detail
