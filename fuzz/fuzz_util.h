#pragma once
// Helpers shared by wake's libFuzzer targets (fuzz/README.md).
//
// A target's property check fails through FUZZ_CHECK, which prints what broke and aborts, so
// libFuzzer records the input as a crash (and scripts/fuzz.sh fails the run).

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                             \
  do {                                                                                          \
    if (!(condition)) {                                                                         \
      std::fprintf(stderr, "fuzz property failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, what, \
                   #condition);                                                                 \
      std::abort();                                                                             \
    }                                                                                           \
  } while (false)
