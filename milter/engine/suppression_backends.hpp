// suppression_backends: the two SuppressionStore implementations, made only by open_suppression_store()
// (engine/suppression.cpp) and by the tests. Declared here so the factory needs no backend headers.
#pragma once

#include "presend/suppression.hpp"

#include <memory>

namespace presend::detail {

// engine/suppression_sqlite.cpp. Creates the file and schema; throws StoreError when it cannot.
std::unique_ptr<SuppressionStore> open_sqlite_suppression_store(const SuppressionConfig& config);

// engine/suppression_redis.cpp. Connects lazily; never throws for a Redis that is down.
std::unique_ptr<SuppressionStore> open_redis_suppression_store(const SuppressionConfig& config);

} // namespace presend::detail
