// Integer and float operands of pickle opcodes: two's complement bytes, decimal text, repr floats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pthsafe::detail {

/// A Python int: `small` when it fits int64 (decimal empty), else `decimal` holds it.
struct py_int {
  std::int64_t small = 0;
  std::string decimal;  ///< set for big ints from text opcodes
  std::string raw;      ///< set for big ints from LONG1/LONG4: minimal two's complement, LE
};

/// Little-endian two's complement (LONG1/LONG4 payload; empty = 0) to a py_int. Big values keep
/// their bytes (minimal form): decimal conversion is quadratic, so it waits until asked for.
py_int int_from_le_bytes(std::string_view bytes);

/// Decimal text of a little-endian two's complement integer.
std::string decimal_from_le_bytes(std::string_view bytes);

/// Minimal little-endian two's complement bytes of canonical decimal text (the form LONG1 and
/// LONG4 keep): big ints from text opcodes are converted once, when pushed, so that comparing
/// and hashing any two big ints is a byte comparison.
std::string le_bytes_from_decimal(std::string_view text);

/// Minimal little-endian two's complement bytes of a finite double with an integer value (the
/// int it equals in Python: 2.0**64 == 2**64).
std::string le_bytes_from_integral_double(double d);

/// Canonical decimal text "-?(0|[1-9][0-9]*)" of at most 4300 digits (CPython's int string
/// limit) to a py_int. False for anything else: forms on which CPython's C and Python
/// unpicklers disagree (leading zeros: octal for strtol, an error for int(x, 0)), underscores,
/// signs other than a leading '-', whitespace.
bool int_from_decimal(std::string_view text, py_int& out);

/// A FLOAT opcode operand as repr() writes it: decimal/exponent forms, "inf", "-inf", "nan".
/// False for text that overflows (C raises, Python returns inf), underscores or whitespace.
bool float_from_text(std::string_view text, double& out);

}  // namespace pthsafe::detail
