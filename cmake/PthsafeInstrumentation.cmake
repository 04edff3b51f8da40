# Sanitizer and fuzzer flags as two INTERFACE targets that pthsafe's own targets link, instead of
# add_compile_options/add_link_options, which would reach every target of a project that includes
# pthsafe and leave no way to keep an instrumented library away from uninstrumented programs.
#
#  pthsafe_instrument       compile + link flags, linked by each target pthsafe builds (library
#                           objects, CLI, tests, harnesses, benchmarks).
#  pthsafe_instrument_link  link flags only: pthsafe forwards it ($<BUILD_INTERFACE:...>, never
#                           installed) to whatever links it in this build tree, because a program
#                           that links a sanitized library must link the sanitizer runtimes too.
#
# Fuzzing with clang (PTHSAFE_FUZZ) needs coverage instrumentation in the library as well as in
# the harnesses. Coverage callbacks are defined by libFuzzer and, as weak defaults, by the
# sanitizer runtimes; nothing defines them in a plain program. So:
#  - PTHSAFE_SANITIZE=ON: the library itself gets -fsanitize=fuzzer-no-link; the CLI and tests link
#    the sanitizer runtimes anyway, and the harnesses share the one library build.
#  - PTHSAFE_SANITIZE=OFF: the library, CLI and tests stay uninstrumented; fuzz/ compiles its own
#    copy of the sources with fuzzer-no-link + ASan + UBSan for the harnesses.
add_library(pthsafe_instrument INTERFACE)
add_library(pthsafe_instrument_link INTERFACE)
target_link_libraries(pthsafe_instrument INTERFACE pthsafe_instrument_link)

set(PTHSAFE_SANITIZER_FLAGS -fsanitize=address,undefined)
set(PTHSAFE_SANITIZER_COMPILE_FLAGS ${PTHSAFE_SANITIZER_FLAGS} -fno-sanitize-recover=all
    -fno-omit-frame-pointer)

if(PTHSAFE_SANITIZE)
  target_compile_options(pthsafe_instrument INTERFACE ${PTHSAFE_SANITIZER_COMPILE_FLAGS})
  target_link_options(pthsafe_instrument_link INTERFACE ${PTHSAFE_SANITIZER_FLAGS})
endif()

set(PTHSAFE_LIBFUZZER OFF)
if(PTHSAFE_FUZZ AND CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(PTHSAFE_LIBFUZZER ON)
endif()
if(PTHSAFE_LIBFUZZER AND PTHSAFE_SANITIZE)
  target_compile_options(pthsafe_instrument INTERFACE -fsanitize=fuzzer-no-link)
endif()
