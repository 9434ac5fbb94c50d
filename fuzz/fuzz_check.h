// FUZZ_CHECK: an assertion for fuzz targets that stays on in every build and names the failed condition, so a
// libFuzzer run (or a corpus replay under gcc) stops with a readable reason and a crash artifact.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
