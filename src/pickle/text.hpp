// Text operands: UTF-8 validation and the escape decoders of protocol 0 strings.
#pragma once

#include <string>
#include <string_view>

namespace pthsafe::detail {

/// Strict UTF-8; with `surrogatepass`, encoded surrogates (U+D800-DFFF) are accepted too,
/// as Python's "utf-8"/"surrogatepass" decoder does for BINUNICODE.
bool valid_utf8(std::string_view s, bool surrogatepass) noexcept;

/// codecs.escape_decode (STRING opcode payload, quotes removed). False on a malformed escape.
bool escape_decode(std::string_view in, std::string& out);

/// raw-unicode-escape decoding (UNICODE opcode) to UTF-8 (surrogates encoded as 3 bytes).
bool raw_unicode_escape_decode(std::string_view in, std::string& out);

/// Appends code point cp (<= 0x10FFFF, surrogates allowed) as UTF-8.
void append_utf8(std::string& out, char32_t cp);

}  // namespace pthsafe::detail
