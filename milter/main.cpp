// presend: outbound compliance milter. Everything lives in presend_core; see cli/cli.cpp.
#include "cli/commands.hpp"

int main(int argc, char** argv) { return presend::cli::run_cli(argc, argv); }
