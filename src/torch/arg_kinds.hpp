// Tests on the kinds of pickle arguments, shared by the rebuild handlers (rebuild.cpp,
// containers.cpp, scalars.cpp, torchscript.cpp).
#pragma once

#include "pthsafe/value.hpp"

namespace pthsafe::detail {

inline bool is_int(const value& v) { return v.kind() == value_kind::integer && v.fits_int64(); }
inline bool is_seq(const value& v) { return v.kind() == value_kind::tuple || v.kind() == value_kind::list; }
inline bool is_text(const value& v) { return v.kind() == value_kind::string || v.kind() == value_kind::bytes; }
inline bool is_dict(const value& v) { return v.kind() == value_kind::dict || v.kind() == value_kind::ordered_dict; }

}  // namespace pthsafe::detail
