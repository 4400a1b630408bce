// names: parsing of the words the YAML uses for targets and checks (the reverse of to_string()).
#pragma once

#include "presend/ruleset.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace presend {

std::optional<Target> parse_target(std::string_view text);
std::optional<Check> parse_check(std::string_view text);
std::vector<std::string_view> check_names();

} // namespace presend
