// Printing what a file controls. Names, keys, GLOBAL operands and messages quoting them are bytes
// chosen by whoever wrote the file: printed raw, `ESC[2J` drives the terminal and a byte that is
// not UTF-8 breaks every JSON reader. Every printer of pthsafe (text lines, stderr error lines,
// error::to_string, the inspect tree, inspect/scan/load JSON, SARIF) goes through this module.
//
// Decoding is strict UTF-8 (RFC 3629: no overlong forms, nothing above U+10FFFF) except that an
// encoded surrogate (ED A0..BF xx) is read as its code point, because a pickle's BINUNICODE is
// decoded with "surrogatepass" and such strings are valid Python values. A byte that starts no
// valid sequence is one unit of its own (as Python's "surrogateescape" decoder splits it).
//
// Escaped, in both forms: C0 controls, DEL, C1 controls (U+0080-009F), surrogates, the line and
// paragraph separators U+2028/2029 and the bidirectional controls (U+061C, U+200E/200F,
// U+202A-202E, U+2066-2069: "Trojan Source", text that displays in another order than it reads).
//  * text:  `\xNN` for a control byte (< 0x20, 0x7f) or a byte that is not UTF-8, `\uNNNN` for an
//           escaped code point, `\\` for a backslash (so an escape in the output is never
//           ambiguous with the same characters in a name); all other UTF-8 is copied.
//  * JSON:  `\"`, `\\`, `\n \r \t \b \f`, `\uNNNN` for the other escaped code points, and a byte
//           that is not UTF-8 as `\udcNN` (U+DC80+byte, PEP 383 "surrogateescape": Python gets the
//           original bytes back with s.encode("utf-8", "surrogateescape"), and a stray byte can
//           never display as the Latin-1 letter of the same number). The document is valid UTF-8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace pthsafe::detail {

/// One unit of a byte string: a code point of `len` bytes, or (valid == false, len == 1) a byte
/// that starts no valid sequence, in `cp`.
struct utf8_unit {
  char32_t cp;
  std::uint8_t len;
  bool valid;
};

/// The unit at s[i] (i < s.size()).
utf8_unit next_utf8(std::string_view s, std::size_t i) noexcept;

/// True for the code points both forms escape (list above).
bool escaped_code_point(char32_t cp) noexcept;

/// Appends `s` for a terminal or log line (text form above).
void append_text_escaped(std::string& out, std::string_view s);
/// `s` in the text form.
std::string text_escape(std::string_view s);

/// Appends `s` as a JSON string literal, quotes included (JSON form above).
void append_json_string(std::string& out, std::string_view s);

/// The longest prefix of `s` of at most `max_bytes` bytes that does not cut a valid UTF-8
/// sequence in two (for shortened displays).
std::size_t utf8_prefix(std::string_view s, std::size_t max_bytes) noexcept;

/// A finite double as JSON: the shortest form that reads back as the same double
/// (std::to_chars), plus ".0" when that has neither '.' nor an exponent, so that every JSON
/// reader keeps it a float and keeps the sign of zero: 1.0, -0.0, 1e+300, 0.1. NaN and the
/// infinities as "nan", "inf", "-inf" (without quotes; json_writer quotes them).
void append_double(std::string& out, double v);

}  // namespace pthsafe::detail
