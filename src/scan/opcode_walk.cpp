#include "scan/opcode_walk.hpp"

#include <optional>
#include <unordered_map>
#include <string_view>

#include "io/cursor.hpp"
#include "pickle/globals.hpp"
#include "pickle/opcodes.hpp"
#include "util/keyed_hash.hpp"

namespace pthsafe::detail {
namespace {

// Operand shapes of the opcodes (pickletools' argument descriptors).
enum class arg : std::uint8_t { none, fixed, len_u8, len_u32, len_i32, len_u64, line, two_lines };
struct arg_info { arg kind; std::uint8_t size; };

arg_info operand_of(std::uint8_t code) {
  switch (code) {
    case op::BININT: case op::LONG_BINGET: case op::LONG_BINPUT: case op::EXT4: return {arg::fixed, 4};
    case op::BININT1: case op::BINGET: case op::BINPUT: case op::PROTO: case op::EXT1: return {arg::fixed, 1};
    case op::BININT2: case op::EXT2: return {arg::fixed, 2};
    case op::BINFLOAT: case op::FRAME: return {arg::fixed, 8};
    case op::LONG1: case op::SHORT_BINSTRING: case op::SHORT_BINBYTES: case op::SHORT_BINUNICODE: return {arg::len_u8, 0};
    case op::BINUNICODE: case op::BINBYTES: return {arg::len_u32, 0};
    case op::BINSTRING: case op::LONG4: return {arg::len_i32, 0};
    case op::BINUNICODE8: case op::BINBYTES8: case op::BYTEARRAY8: return {arg::len_u64, 0};
    case op::INT: case op::LONG: case op::FLOAT: case op::STRING: case op::UNICODE: case op::GET: case op::PUT:
    case op::PERSID:
      return {arg::line, 0};
    case op::GLOBAL: case op::INST: return {arg::two_lines, 0};
    default: return {arg::none, 0};
  }
}

finding refusal(std::string rule, const std::string& record, std::uint64_t at, std::string subject, std::string msg) {
  finding f;
  f.rule = std::move(rule);
  f.severity = severity::error;
  f.record = record;
  f.offset = at;
  f.subject = std::move(subject);
  f.message = std::move(msg);
  return f;
}

}  // namespace

walk_result walk_opcodes(std::span<const std::byte> p, std::uint64_t start, const std::string& record,
                         const load_options& opts) {
  walk_result out;
  cursor c(p, start);
  // The last two string operands pushed, for resolving STACK_GLOBAL statically; memo stores and
  // protocol framing between them do not break the pair.
  // Views into the pickle, never copies: a memo GET of a 1 MiB string per 4 bytes of pickle
  // copied a MiB each time (64 MiB of them ran for minutes).
  std::optional<std::string_view> prev, last;
  // Strings stored in the memo right after being pushed, so that STACK_GLOBAL operands fetched
  // back with GET/BINGET/LONG_BINGET resolve too.
  std::unordered_map<std::uint64_t, std::string_view, keyed_u64_hash> memo_strings;
  std::uint64_t memo_count = 0;
  bool last_was_string = false;
  std::uint64_t frame_end = 0;  // 0: no FRAME open
  auto judge_global = [&](std::string module, std::string name, std::uint64_t at, const char* how) {
    map_py2_name(module, name);
    const std::string full = module + "." + name;
    if (module_is_blocked(module)) {
      out.findings.push_back(refusal("pickle_global_blocked", record, at, full,
                                     std::string(how) + " " + full + ": module " + module + " is always refused"));
      return;
    }
    if (lookup_default_global(full)) return;
    for (const auto& a : opts.allowed_globals)
      if (a == full) return;
    out.findings.push_back(refusal("pickle_global_refused", record, at, full, std::string(how) + " " + full + " is not an allowed global"));
  };
  while (c.remaining() > 0) {
    const std::uint64_t at = c.pos();
    std::uint8_t code;
    c.u8(code);
    const opcode_info& info = opcode_table[code];
    if (info.cls == op_class::unknown) break;  // CPython stops on an unknown opcode too
    if (info.cls == op_class::refused)
      out.findings.push_back(refusal("pickle_opcode_refused", record, at, std::string(info.name),
                                     "opcode " + std::string(info.name) + " is refused"));
    const arg_info a = operand_of(code);
    std::string_view operand;
    bool ok = true;
    switch (a.kind) {
      case arg::none: break;
      case arg::fixed: ok = c.bytes(a.size, operand); break;
      case arg::len_u8: { std::uint8_t n; ok = c.u8(n) && c.bytes(n, operand); break; }
      case arg::len_u32: { std::uint32_t n; ok = c.u32(n) && c.bytes(n, operand); break; }
      case arg::len_i32: { std::uint32_t n; ok = c.u32(n) && static_cast<std::int32_t>(n) >= 0 && c.bytes(n, operand); break; }
      case arg::len_u64: { std::uint64_t n; ok = c.u64(n) && c.bytes(n, operand); break; }
      case arg::line: ok = c.line(operand, c.remaining()); break;
      case arg::two_lines: {
        std::string_view module, name;
        ok = c.line(module, c.remaining()) && c.line(name, c.remaining());
        if (ok) judge_global(std::string(module), std::string(name), at, code == op::INST ? "INST" : "GLOBAL");
        break;
      }
    }
    if (!ok) break;  // truncated: nothing further can run
    if (code == op::FRAME) {
      std::uint64_t n = 0;
      for (int k = 0; k < 8; ++k) n |= std::uint64_t(static_cast<unsigned char>(operand[static_cast<std::size_t>(k)])) << (8 * k);
      // A frame longer than the bytes left fails every reader at FRAME: the walk judges the
      // bytes as if unframed, the next pickle (if any) still starts after STOP.
      frame_end = n <= c.remaining() ? c.pos() + n : 0;
    }
    auto memo_index = [&]() -> std::optional<std::uint64_t> {
      if (code == op::BINPUT || code == op::BINGET) return static_cast<unsigned char>(operand[0]);
      if (code == op::LONG_BINPUT || code == op::LONG_BINGET) {
        std::uint32_t v = 0;
        for (int k = 0; k < 4; ++k) v |= std::uint32_t(static_cast<unsigned char>(operand[static_cast<std::size_t>(k)])) << (8 * k);
        return v;
      }
      if (code == op::PUT || code == op::GET) {
        std::uint64_t v = 0;
        if (operand.empty() || operand.size() > 18) return std::nullopt;
        for (char ch : operand) {
          if (ch < '0' || ch > '9') return std::nullopt;
          v = v * 10 + static_cast<std::uint64_t>(ch - '0');
        }
        return v;
      }
      if (code == op::MEMOIZE) return memo_count;
      return std::nullopt;
    };
    const bool is_put = code == op::BINPUT || code == op::LONG_BINPUT || code == op::PUT || code == op::MEMOIZE;
    const bool is_get = code == op::BINGET || code == op::LONG_BINGET || code == op::GET;
    if (is_put) {
      const auto idx = memo_index();
      if (idx) {
        if (last_was_string && last) memo_strings[*idx] = *last; else memo_strings.erase(*idx);
        if (code == op::MEMOIZE) ++memo_count;
      }
    }
    if (is_get) {
      const auto idx = memo_index();
      const auto it = idx ? memo_strings.find(*idx) : memo_strings.end();
      if (it != memo_strings.end()) {
        prev = last;
        last = it->second;
        last_was_string = true;
      } else {
        prev.reset();
        last.reset();
        last_was_string = false;
      }
    } else if (code == op::SHORT_BINUNICODE || code == op::BINUNICODE || code == op::BINUNICODE8) {
      prev = last;
      last = operand;
      last_was_string = true;
    } else if (code == op::STACK_GLOBAL) {
      if (prev && last) {
        judge_global(std::string(*prev), std::string(*last), at, "STACK_GLOBAL");
      } else {
        out.findings.push_back(refusal("pickle_global_refused", record, at, "STACK_GLOBAL",
                                       "STACK_GLOBAL with operands that cannot be resolved without running the pickle"));
      }
      prev.reset();
      last.reset();
      last_was_string = false;
    } else if (!is_put && code != op::FRAME && code != op::PROTO) {
      prev.reset();
      last.reset();
      last_was_string = false;
    }
    if (code == op::STOP) {
      out.reached_stop = true;
      out.after_stop = c.pos();
      out.end = frame_end > c.pos() ? frame_end : c.pos();
      return out;
    }
  }
  out.end = c.pos();
  out.after_stop = out.end;
  return out;
}

}  // namespace pthsafe::detail
