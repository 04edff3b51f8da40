#include "io/source.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace pthsafe::detail {

result<source> source::map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errc::io_open, path + ": " + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return make_error(errc::io_open, path + ": " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(errc::io_open, path + ": not a regular file");
  }
  source s;
  s.fd_ = fd;
  s.size_ = static_cast<std::uint64_t>(st.st_size);
  if (s.size_ > 0) {
    void* p = ::mmap(nullptr, s.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return make_error(errc::io_read, path + ": mmap: " + std::strerror(errno));
    s.data_ = static_cast<const std::byte*>(p);
    s.mapped_ = true;
  }
  return s;
}

source source::from_buffer(std::span<const std::byte> b) noexcept {
  source s;
  s.data_ = b.data();
  s.size_ = b.size();
  return s;
}

source source::borrow(const source& owner) noexcept {
  source s;
  s.data_ = owner.data_;
  s.size_ = owner.size_;
  s.mapped_ = owner.mapped_;
  s.owned_ = false;
  return s;
}

source::source(source&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      fd_(std::exchange(o.fd_, -1)),
      mapped_(std::exchange(o.mapped_, false)),
      owned_(std::exchange(o.owned_, true)) {}

source& source::operator=(source&& o) noexcept {
  if (this != &o) {
    release();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    fd_ = std::exchange(o.fd_, -1);
    mapped_ = std::exchange(o.mapped_, false);
    owned_ = std::exchange(o.owned_, true);
  }
  return *this;
}

source::~source() { release(); }

void source::release_pages(std::span<const std::byte> bytes) const noexcept {
  if (!mapped_ || data_ == nullptr || bytes.empty()) return;
  const auto base = reinterpret_cast<std::uintptr_t>(data_);
  const auto from = reinterpret_cast<std::uintptr_t>(bytes.data());
  if (from < base || from - base > size_ || bytes.size() > size_ - (from - base)) return;
  // The whole pages inside: pointer arithmetic from the span itself (the mapping starts on a
  // page boundary, so offsets from data_ give the alignment).
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t off = from - base;
  const std::uintptr_t first = (off + page - 1) / page * page;
  const std::uintptr_t last = (off + bytes.size()) / page * page;
  if (last > first) ::madvise(const_cast<std::byte*>(data_ + first), last - first, MADV_DONTNEED);
}

void source::release() noexcept {
  if (owned_ && mapped_ && data_) ::munmap(const_cast<std::byte*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
  data_ = nullptr;
  fd_ = -1;
  mapped_ = false;
}

result<void> source::read_into(std::uint64_t off, std::byte* dst, std::uint64_t n) const {
  if (n > size_ || off > size_ - n) return make_error(errc::io_read, "read past end of file", {}, off);
  if (fd_ < 0) {
    if (n) std::memcpy(dst, data_ + off, n);
    return {};
  }
  while (n > 0) {
    // pread caps a single transfer near 2 GiB on Linux; loop until done.
    const std::size_t chunk = n > (std::uint64_t{1} << 30) ? (std::size_t{1} << 30) : std::size_t(n);
    const ssize_t got = ::pread(fd_, dst, chunk, static_cast<off_t>(off));
    if (got < 0) {
      if (errno == EINTR) continue;
      return make_error(errc::io_read, std::string("pread: ") + std::strerror(errno), {}, off);
    }
    if (got == 0) return make_error(errc::io_read, "file shrank while reading", {}, off);
    dst += got;
    off += static_cast<std::uint64_t>(got);
    n -= static_cast<std::uint64_t>(got);
  }
  return {};
}

}  // namespace pthsafe::detail
