#include "write/output_file.hpp"

#include "util/try.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace pthsafe::detail {
namespace {

constexpr std::size_t buffer_size = std::size_t{1} << 20;
std::atomic<unsigned> counter{0};

bool write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<std::size_t>(n, std::size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

result<output_file> output_file::create(const std::filesystem::path& target) {
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string name = "." + target.filename().string() + ".pthsafe-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter.fetch_add(1));
    std::filesystem::path tmp = dir / name;
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return output_file(fd, std::move(tmp), target);
    if (errno != EEXIST) {
      return make_error(errc::io_write, "cannot create a file in " + dir.string() + ": " + std::strerror(errno),
                        target.string());
    }
  }
  return make_error(errc::io_write, "cannot find a free temporary name in " + dir.string(), target.string());
}

output_file::output_file(int fd, std::filesystem::path tmp, std::filesystem::path target)
    : fd_(fd), tmp_(std::move(tmp)), target_(std::move(target)) {
  buf_.reserve(buffer_size);
}

output_file::output_file(output_file&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      tmp_(std::move(o.tmp_)),
      target_(std::move(o.target_)),
      buf_(std::move(o.buf_)),
      failure_(std::move(o.failure_)),
      committed_(std::exchange(o.committed_, true)) {}

output_file::~output_file() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

bool output_file::fail(const char* what) {
  if (failure_.empty()) failure_ = std::string(what) + " " + tmp_.string() + ": " + std::strerror(errno);
  return false;
}

bool output_file::flush() {
  if (buf_.empty()) return true;
  if (!write_all(fd_, buf_.data(), buf_.size())) return fail("cannot write");
  buf_.clear();
  return true;
}

bool output_file::write(std::span<const std::byte> bytes) {
  if (!failure_.empty() || fd_ < 0) return false;
  if (buf_.size() + bytes.size() <= buffer_size) {
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    return true;
  }
  if (!flush()) return false;
  if (bytes.size() >= buffer_size) {  // large storages go straight from the caller's memory
    return write_all(fd_, bytes.data(), bytes.size()) || fail("cannot write");
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
  return true;
}

result<void> output_file::commit(const std::function<result<void>(const std::filesystem::path&)>& verify) {
  const auto error = [&](const char* what) {
    fail(what);
    return make_error(errc::io_write, failure_, target_.string());
  };
  if (!failure_.empty()) return make_error(errc::io_write, failure_, target_.string());
  if (!flush()) return make_error(errc::io_write, failure_, target_.string());
  if (::fsync(fd_) != 0) return error("cannot flush");
  if (::close(std::exchange(fd_, -1)) != 0) return error("cannot close");
  if (verify) PTHSAFE_TRY(verify(tmp_));
  if (::rename(tmp_.c_str(), target_.c_str()) != 0) return error("cannot rename over the target from");
  committed_ = true;
  // The rename is durable once the folder is.
  const std::filesystem::path dir = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
  if (const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
    ::fsync(d);
    ::close(d);
  }
  return {};
}

}  // namespace pthsafe::detail
