// pthsafe/export.hpp - PTHSAFE_API marks the public ABI of libpthsafe.
//
// The library is compiled with -fvisibility=hidden, so a shared libpthsafe.so exports only the
// classes and functions declared with PTHSAFE_API (the public headers); everything under src/ stays
// internal. Inline functions and templates need no mark. In a static build the mark is harmless.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define PTHSAFE_API __attribute__((visibility("default")))
#else
#define PTHSAFE_API
#endif
