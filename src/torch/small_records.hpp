// The small text records of a zip checkpoint, parsed exactly as torch parses them, so that
// pthsafe accepts what torch accepts and no more (evidence: tests/test_formats.cpp, case
// "small records as torch 1.13 and 2.15 read them", checked against both interpreters).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace pthsafe::detail {

/// `version` / `.data/version`: PyTorchStreamReader::init (torch 1.13 and 2.x alike) does
/// `std::stoull(std::string(bytes))`: the text ends at the first NUL (c_str), leading C-locale
/// whitespace is skipped, one '+' or '-' is allowed (a '-' negates modulo 2^64, as strtoull
/// does), base-10 digits follow and anything after them is ignored; no digit is an
/// invalid_argument, more than 2^64 - 1 an out_of_range (both fail the load). Returns the value,
/// or nullopt where stoull throws. The caller then applies torch's range 1..10.
std::optional<std::uint64_t> torch_stoull(std::string_view text) noexcept;

/// `.storage_alignment`: torch >= 2.7's _load does `int(zip_file.get_record(...))` on the
/// bytes: ASCII whitespace around, one optional sign, base-10 digits with single underscores
/// between digits, at most 4300 digits (CPython's int_max_str_digits default). True when int()
/// accepts the bytes; a value it rejects makes every load raise ValueError.
bool python_int_accepts(std::string_view text) noexcept;

}  // namespace pthsafe::detail
