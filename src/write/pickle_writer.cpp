#include "write/pickle_writer.hpp"

#include <bit>
#include <cstring>
#include <utility>

namespace pthsafe::detail {
namespace {

void le(std::string& s, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
}

}  // namespace

pickle_writer::pickle_writer() { out_ = "\x80\x02"; }

std::string pickle_writer::finish() && {
  op('.');
  return std::move(out_);
}

std::uint32_t pickle_writer::put() {
  const std::uint32_t id = next_++;
  if (id < 256) {
    op('q');
    le(out_, id, 1);
  } else {
    op('r');
    le(out_, id, 4);
  }
  return id;
}

void pickle_writer::get(std::uint32_t id) {
  if (id < 256) {
    op('h');
    le(out_, id, 1);
  } else {
    op('j');
    le(out_, id, 4);
  }
}

void pickle_writer::none() { op('N'); }
void pickle_writer::boolean(bool b) { op(b ? '\x88' : '\x89'); }

void pickle_writer::integer(std::int64_t v) {
  if (v >= 0 && v <= 0xff) {
    op('K');
    le(out_, static_cast<std::uint64_t>(v), 1);
  } else if (v >= 0 && v <= 0xffff) {
    op('M');
    le(out_, static_cast<std::uint64_t>(v), 2);
  } else if (v >= -0x80000000LL && v <= 0x7fffffffLL) {
    op('J');
    le(out_, static_cast<std::uint64_t>(v), 4);
  } else {
    // LONG1: the shortest little-endian two's complement that keeps the sign, as
    // pickle.encode_long writes it.
    const auto u = static_cast<std::uint64_t>(v);
    int n = 8;
    while (n > 1) {
      const std::uint64_t top = (u >> (8 * (n - 1))) & 0xffu;
      const std::uint64_t next_sign = (u >> (8 * (n - 1) - 1)) & 1u;
      if ((v >= 0 && top == 0 && next_sign == 0) || (v < 0 && top == 0xff && next_sign == 1)) {
        --n;
      } else {
        break;
      }
    }
    op('\x8a');
    le(out_, static_cast<std::uint64_t>(n), 1);
    le(out_, u, n);
  }
}

void pickle_writer::floating(double d) {
  op('G');
  const auto bits = std::bit_cast<std::uint64_t>(d);
  for (int i = 7; i >= 0; --i) out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xffu));
}

void pickle_writer::text(std::string_view utf8) {
  op('X');
  le(out_, utf8.size(), 4);
  out_.append(utf8);
  put();
}

void pickle_writer::shared_text(std::string_view id, std::string_view utf8) {
  const std::string key = "s\n" + std::string(id);
  if (const auto it = memo_.find(key); it != memo_.end()) return get(it->second);
  op('X');
  le(out_, utf8.size(), 4);
  out_.append(utf8);
  memo_.emplace(key, put());
}

void pickle_writer::global(std::string_view module, std::string_view name) {
  std::string key = "g\n" + std::string(module) + "\n" + std::string(name);
  if (const auto it = memo_.find(key); it != memo_.end()) return get(it->second);
  op('c');
  out_.append(module);
  out_.push_back('\n');
  out_.append(name);
  out_.push_back('\n');
  memo_.emplace(std::move(key), put());
}

void pickle_writer::mark() { op('('); }

void pickle_writer::tuple(std::size_t n) {
  switch (n) {
    case 0: op(')'); return;
    case 1: op('\x85'); break;
    case 2: op('\x86'); break;
    case 3: op('\x87'); break;
    default: op('t'); break;
  }
  put();
}

void pickle_writer::empty_dict() {
  op('}');
  put();
}
void pickle_writer::empty_list() {
  op(']');
  put();
}
void pickle_writer::setitem() { op('s'); }
void pickle_writer::setitems() { op('u'); }
void pickle_writer::append() { op('a'); }
void pickle_writer::appends() { op('e'); }
void pickle_writer::reduce() {
  op('R');
  put();
}
void pickle_writer::build() { op('b'); }
void pickle_writer::binpersid() { op('Q'); }

}  // namespace pthsafe::detail
