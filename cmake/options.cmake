# One option per concern, applied through interface targets so every target opts in the same way.

option(PRESEND_WERROR "Treat compiler warnings as errors" OFF)
set(PRESEND_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address,undefined or thread")

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

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
