# One option per concern, applied through interface targets so every target opts in the same way.

option(PRESEND_WERROR "Treat compiler warnings as errors" OFF)
set(PRESEND_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address,undefined or thread")
# libFuzzer targets (tests/fuzz): clang only. The engine gets coverage instrumentation so the fuzzers
# can steer into it; combine with PRESEND_SANITIZE=address,undefined.
option(PRESEND_FUZZ "Build the libFuzzer targets (needs clang)" OFF)
if(PRESEND_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "PRESEND_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++")
endif()

# Unity build: the engine's sources compiled in batches, so the heavy headers (fmt, spdlog, yaml-cpp,
# nlohmann-json, CLI11) are parsed and their templates compiled once per batch instead of once per file.
# contrib/test turns it on: a build from scratch, which is what CI does three times, takes far less time.
# Off by default because a one-line change then recompiles a whole batch. With it on, two sources of the
# engine must not both define a file-local name (an anonymous-namespace function, a static): shared
# helpers live in one header (e.g. engine/ascii.hpp).
option(PRESEND_UNITY "Compile the engine as a unity build (faster builds from scratch)" OFF)

add_library(presend_warnings INTERFACE)
target_compile_options(presend_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough
  $<$<BOOL:${PRESEND_WERROR}>:-Werror>)
# In a unity batch every source but the batch file counts as a header, and g++ would then warn about each
# class that holds a file-local type (-Wsubobject-linkage), which is right in a .cpp of its own.
if(PRESEND_UNITY AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(presend_warnings INTERFACE -Wno-subobject-linkage)
endif()

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
