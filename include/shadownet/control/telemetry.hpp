// DPDK telemetry endpoints under /shadownet/... (read with dpdk-telemetry.py).
//
// Threads. Telemetry callbacks run on DPDK's telemetry thread, never on the
// control lcore, so they never touch the appliance: the control lcore
// publishes an immutable snapshot (once a second) under a mutex, and the
// callbacks copy the shared pointer under the same mutex and format from it.
// Registration is process-wide and happens once; with nothing published the
// endpoints answer with an empty dictionary.
#pragma once

#include <memory>

#include "shadownet/control/stats.hpp"

namespace shadownet::control {

// Registers the endpoints (idempotent). Call after EAL is up.
void register_telemetry();
// Makes `s` what the endpoints report; nullptr withdraws it.
void publish_telemetry(std::shared_ptr<const stats_snapshot> s);

// Telemetry replies are capped (256 dictionary entries in 22.11): the client
// list is paged, this many per page at most.
inline constexpr std::size_t telemetry_page_max = 64;

} // namespace shadownet::control
