#pragma once
// Abseil 20220623 (Debian's) has no RETURN_IF_ERROR / ASSIGN_OR_RETURN; these are wake's, defined once.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define WAKE_CONCAT_INNER_(a, b) a##b
#define WAKE_CONCAT_(a, b) WAKE_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function when it is not OK.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status wake_status_ = ::absl::Status(expr);    \
    if (!wake_status_.ok()) return wake_status_;           \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` declares x from an OK StatusOr, or returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  WAKE_ASSIGN_OR_RETURN_IMPL_(WAKE_CONCAT_(wake_statusor_, __LINE__), lhs, expr)
#define WAKE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
