// Error propagation for result<T> inside pthsafe (internal; not installed).
//
// PTHSAFE_TRY(expr)          evaluates a result<...>; on failure returns its error from the
//                            enclosing function (which must return some result<U>).
// PTHSAFE_ASSIGN(decl, expr) evaluates a result<T>; on failure returns its error, otherwise
//                            declares `decl` (`auto x`, `std::string s`) from the moved value.
//
// Macros, because only a macro can return from the caller; each expands to one statement (TRY)
// or a declaration plus one statement (ASSIGN), with a line-unique temporary name.
#pragma once

#include <utility>

#define PTHSAFE_CONCAT_INNER_(a, b) a##b
#define PTHSAFE_CONCAT_(a, b) PTHSAFE_CONCAT_INNER_(a, b)

#define PTHSAFE_TRY(expr)                                             \
  do {                                                                \
    auto&& pthsafe_try_result_ = (expr);                              \
    if (!pthsafe_try_result_)                                         \
      return std::move(pthsafe_try_result_).error_value();            \
  } while (0)

// `tmp` is a name and `decl` a declaration: neither can be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define PTHSAFE_ASSIGN_IMPL_(tmp, decl, expr)                         \
  auto&& tmp = (expr);                                                \
  if (!tmp) return std::move(tmp).error_value();                      \
  decl = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

#define PTHSAFE_ASSIGN(decl, expr) \
  PTHSAFE_ASSIGN_IMPL_(PTHSAFE_CONCAT_(pthsafe_assign_result_, __LINE__), decl, expr)
