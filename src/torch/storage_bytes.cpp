#include "torch/storage_bytes.hpp"

#include "place/placement.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {

result<std::span<const std::byte>> storage_le_bytes(const checkpoint_state& st, const storage_record& s,
                                                    std::vector<std::byte>& scratch, const limits& lim) {
  if (s.data) return std::span<const std::byte>(s.data, static_cast<std::size_t>(s.nbytes));
  if (s.alias) {
    PTHSAFE_ASSIGN(auto root, storage_le_bytes(st, *s.alias->of, scratch, lim));
    return root.subspan(static_cast<std::size_t>(s.alias->offset), static_cast<std::size_t>(s.nbytes));
  }
  if (s.file_offset)  // legacy data is little-endian whatever the writer's host was
    return st.src.bytes().subspan(static_cast<std::size_t>(*s.file_offset), static_cast<std::size_t>(s.nbytes));
  if (!s.entry || !st.zip) return make_error(errc::missing_record, "storage '" + std::string(s.key) + "' has no bytes to read", std::string(s.record()));
  const auto stored = st.zip->stored_bytes(*s.entry);
  if (stored && !st.big_endian) return *stored;
  if (s.nbytes > lim.max_pickle_bytes)
    return make_error(errc::limit_exceeded, "limit max_pickle_bytes (" + std::to_string(lim.max_pickle_bytes) +
                                                ") exceeded reading storage '" + std::string(s.key) + "' for a check", std::string(s.record()));
  scratch.resize(static_cast<std::size_t>(s.nbytes));
  if (stored) {
    std::copy(stored->begin(), stored->end(), scratch.begin());
  } else {
    PTHSAFE_TRY(st.zip->extract(*s.entry, scratch.data(), lim));
  }
  if (st.big_endian) byteswap_elements(scratch.data(), s.nbytes, s.type);
  return std::span<const std::byte>(scratch);
}

}  // namespace pthsafe::detail
