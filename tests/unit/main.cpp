// The Catch2 main for the unit test binary; the tests live in the other files of this folder.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
