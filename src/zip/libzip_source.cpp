#include "zip/libzip_source.hpp"

#include <algorithm>
#include <cstring>

namespace pthsafe::detail {

libzip_reader::libzip_reader(std::span<const std::byte> file, const page_release& release) : file_(file), release_(release) {
  zip_error_init(&error_);
  // Every 2 MiB (and 256 reads): libzip's pass over the local headers runs beside its own
  // per-entry structures, the gate's peak (bench/NOTES.md 33).
  if (release_) behind_.emplace(file_, release_, std::uint64_t{2} << 20);
}

zip_source_t* libzip_reader::make_source(zip_error_t* err) { return zip_source_function_create(&callback, this, err); }

zip_int64_t libzip_reader::callback(void* self, void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
  return static_cast<libzip_reader*>(self)->serve(data, len, cmd);
}

// What libzip's buffer source answers for a read-only buffer: a seekable source of file_.size()
// stored bytes.
zip_int64_t libzip_reader::serve(void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
  switch (cmd) {
    case ZIP_SOURCE_SUPPORTS: return ZIP_SOURCE_SUPPORTS_SEEKABLE;
    case ZIP_SOURCE_OPEN: pos_ = 0; return 0;
    case ZIP_SOURCE_CLOSE:
    case ZIP_SOURCE_FREE: return 0;  // FREE: the caller owns this state
    case ZIP_SOURCE_READ: {
      const std::uint64_t n = std::min<std::uint64_t>({len, file_.size() - std::min<std::uint64_t>(pos_, file_.size()),
                                                        static_cast<std::uint64_t>(INT64_MAX)});
      if (n) std::memcpy(data, file_.data() + pos_, static_cast<std::size_t>(n));
      if (behind_) behind_->passed_in_passes(pos_);
      pos_ += n;
      return static_cast<zip_int64_t>(n);
    }
    case ZIP_SOURCE_SEEK: {
      const zip_int64_t to = zip_source_seek_compute_offset(pos_, file_.size(), data, len, &error_);
      if (to < 0) return -1;
      pos_ = static_cast<std::uint64_t>(to);
      return 0;
    }
    case ZIP_SOURCE_TELL: return static_cast<zip_int64_t>(pos_);
    case ZIP_SOURCE_STAT: {
      if (len < sizeof(zip_stat_t)) {
        zip_error_set(&error_, ZIP_ER_INVAL, 0);
        return -1;
      }
      auto* st = static_cast<zip_stat_t*>(data);
      zip_stat_init(st);
      st->size = file_.size();
      st->comp_size = file_.size();
      st->comp_method = ZIP_CM_STORE;
      st->encryption_method = ZIP_EM_NONE;
      st->valid = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
      return sizeof(zip_stat_t);
    }
    case ZIP_SOURCE_ERROR: return zip_error_to_data(&error_, data, len);
    default:
      zip_error_set(&error_, ZIP_ER_OPNOTSUPP, 0);
      return -1;
  }
}

}  // namespace pthsafe::detail
