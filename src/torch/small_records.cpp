#include "torch/small_records.hpp"

namespace pthsafe::detail {
namespace {

// isspace() in the C locale, which both strtoull and CPython's Py_ISSPACE use for these bytes.
bool c_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<std::uint64_t> torch_stoull(std::string_view text) noexcept {
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) text = text.substr(0, nul);
  std::size_t i = 0;
  while (i < text.size() && c_space(text[i])) ++i;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  if (i == text.size() || !digit(text[i])) return std::nullopt;  // invalid_argument
  std::uint64_t v = 0;
  for (; i < text.size() && digit(text[i]); ++i) {
    const auto d = static_cast<std::uint64_t>(text[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;  // ERANGE: out_of_range
    v = v * 10 + d;
  }
  return negative ? 0 - v : v;
}

bool python_int_accepts(std::string_view text) noexcept {
  std::size_t b = 0, e = text.size();
  while (b < e && c_space(text[b])) ++b;
  while (e > b && c_space(text[e - 1])) --e;
  if (b < e && (text[b] == '+' || text[b] == '-')) ++b;
  if (b == e || !digit(text[b]) || !digit(text[e - 1])) return false;
  std::size_t digits = 0;
  for (std::size_t i = b; i < e; ++i) {
    if (digit(text[i])) {
      ++digits;
    } else if (text[i] != '_' || !digit(text[i + 1])) {  // '_' only between two digits
      return false;
    }
  }
  return digits <= 4300;
}

}  // namespace pthsafe::detail
