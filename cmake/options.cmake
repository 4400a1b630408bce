# One option per concern, applied through interface targets so every target opts in the same way.

option(PRESEND_WERROR "Treat compiler warnings as errors" OFF)
set(PRESEND_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address,undefined or thread")
# libFuzzer targets (tests/fuzz): clang only. The engine gets coverage instrumentation so the fuzzers
# can steer into it; combine with PRESEND_SANITIZE=address,undefined.
option(PRESEND_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
if(PRESEND_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "PRESEND_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++")
endif()

add_library(presend_warnings INTERFACE)
target_compile_options(presend_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough
  $<$<BOOL:${PRESEND_WERROR}>:-Werror>)

add_library(presend_sanitizers INTERFACE)
if(PRESEND_SANITIZE)
  target_compile_options(presend_sanitizers INTERFACE
    -fsanitize=${PRESEND_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(presend_sanitizers INTERFACE -fsanitize=${PRESEND_SANITIZE})
endif()
if(PRESEND_FUZZ)
  target_compile_options(presend_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
