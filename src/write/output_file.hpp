// A file written atomically: bytes go to a temporary file beside the target, which replaces
// the target only once complete and flushed to disk.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "pthsafe/error.hpp"

namespace pthsafe::detail {

class output_file {
 public:
  /// Creates `.<name>.pthsafe-<pid>-<n>` in the target's folder (mode 0666 less the umask, as
  /// open() gives). Errors: io_write.
  static result<output_file> create(const std::filesystem::path& target);
  output_file(output_file&& other) noexcept;
  output_file& operator=(output_file&&) = delete;
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  /// Removes the temporary file unless commit() succeeded.
  ~output_file();

  /// Buffered write; false after a failure (error() then says which).
  bool write(std::span<const std::byte> bytes);
  /// Flush, fsync, close; then `verify` (when set) on the complete temporary file; then rename
  /// over the target and fsync the folder. Errors: io_write, or verify's error.
  result<void> commit(const std::function<result<void>(const std::filesystem::path&)>& verify = {});
  /// The first failure, as an error value (io_write naming the system error).
  const std::string& failure() const noexcept { return failure_; }

 private:
  output_file(int fd, std::filesystem::path tmp, std::filesystem::path target);
  bool flush();
  bool fail(const char* what);

  int fd_ = -1;
  std::filesystem::path tmp_, target_;
  std::vector<std::byte> buf_;
  std::string failure_;
  bool committed_ = false;
};

}  // namespace pthsafe::detail
