// rates_backends: the two RateStore implementations, made only by open_rate_store() (engine/rates_memory.cpp)
// and by the tests. Declared here so the factory needs no backend headers.
#pragma once

#include "presend/rates.hpp"

#include <memory>

namespace presend::detail {

// engine/rates_memory.cpp: one MTA. Holds at most max_buckets buckets.
std::shared_ptr<RateStore> open_memory_rate_store(std::size_t max_buckets);

// engine/rates_redis.cpp: a fleet. Connects lazily; throws StoreError only for an unreadable password file.
std::shared_ptr<RateStore> open_redis_rate_store(const RedisSettings& settings);

} // namespace presend::detail
