// The CLI's subcommands. Each returns the process exit status: 0 success, 1 refused by policy
// (unsafe), 2 malformed or unreadable input or bad usage.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pthsafe/error.hpp"
#include "pthsafe/options.hpp"
#include "util/escape.hpp"

namespace pthsafe::cli {

int cmd_inspect(const std::vector<std::string>& args);
int cmd_scan(const std::vector<std::string>& args);
int cmd_load(const std::vector<std::string>& args);
int cmd_convert(const std::vector<std::string>& args);
int cmd_verify(const std::vector<std::string>& args);
int cmd_diff(const std::vector<std::string>& args);
int cmd_match(const std::vector<std::string>& args);

/// `s` as it may reach a terminal (util/escape.hpp): every path, name, key, message and option
/// the CLI prints goes through this (a file name found by `scan -r` is as hostile as a record's).
inline std::string shown(std::string_view s) { return detail::text_escape(s); }

/// Exit status for an error (docs/policy.md): refused -> 1, everything else -> 2.
int exit_code(const error& e);
/// Prints "pthsafe: <file>: <error line>" on stderr and returns exit_code(e).
int report(const std::string& file, const error& e);
/// Parses an option shared by the subcommands (--allow-global X, --strict-torch, --verify-crc).
/// Returns true when args[i] was consumed (i advanced past its value).
bool common_option(const std::vector<std::string>& args, std::size_t& i, load_options& opts, bool& bad);
/// Parses an option of the commands that load (inspect, load): --mmap, --torchscript,
/// --refuse-copy. Returns true when `a` was one.
bool load_option(const std::string& a, load_options& opts);

}  // namespace pthsafe::cli
