#include <gtest/gtest.h>

#include "shadownet/control/stats.hpp"

using namespace shadownet;
using namespace shadownet::control;
using shadownet::dataplane::drop_reason;

namespace {

port_snapshot make_port(std::uint16_t id, std::uint64_t rx, std::uint64_t tx, std::uint64_t tx_full,
                        std::uint64_t bad_ihl)
{
    port_snapshot p;
    p.id = id;
    p.name = "net_ring_vport" + std::to_string(id);
    p.rx = rx;
    p.tx = tx;
    p.forwarded = rx - tx_full - bad_ihl;
    p.drops[static_cast<std::size_t>(drop_reason::tx_full)] = tx_full;
    p.drops[static_cast<std::size_t>(drop_reason::bad_ihl)] = bad_ihl;
    return p;
}

bool contains(const std::string& text, const std::string& what)
{
    return text.find(what) != std::string::npos;
}

} // namespace

TEST(stats, totals_sum_ports_and_reasons)
{
    stats_snapshot s;
    s.ports = {make_port(0, 100, 90, 3, 2), make_port(1, 95, 95, 4, 1)};
    EXPECT_EQ(s.rx(), 195U);
    EXPECT_EQ(s.tx(), 185U);
    EXPECT_EQ(s.drops_total(), 10U);
    EXPECT_EQ(s.drops()[static_cast<std::size_t>(drop_reason::tx_full)], 7U);
    EXPECT_EQ(s.ports[0].drops_total(), 5U);
}

TEST(stats, summary_json_has_the_documented_fields)
{
    stats_snapshot s;
    s.ports = {make_port(0, 100, 90, 3, 2), make_port(1, 95, 95, 4, 1)};
    lcore_snapshot l;
    l.id = 1;
    l.role = "forward";
    l.busy_cycles = 3000;
    l.idle_cycles = 1000;
    l.packets = 100;
    s.lcores = {l};
    traffic_snapshot t;
    t.totals.sent = 195;
    t.totals.received = 185;
    for (int i = 0; i < 100; ++i)
        t.latency.add(12'000);
    s.traffic = t;
    const auto j = summary_json(s, 2.5, 2'000'000'000ULL);
    EXPECT_TRUE(contains(j, "\"elapsed_s\": 2.5"));
    EXPECT_TRUE(contains(j, "\"totals\": {\n    \"rx\": 195,\n    \"tx\": 185,\n    \"drops\": 10,"));
    EXPECT_TRUE(contains(j, "\"tx_full\": 7"));
    EXPECT_TRUE(contains(j, "\"bad_ihl\": 3"));
    EXPECT_TRUE(contains(j, "\"busy_percent\": 75"));
    EXPECT_TRUE(contains(j, "\"cycles_per_packet\": 30"));
    EXPECT_TRUE(contains(j, "\"lost\": 10"));
    EXPECT_TRUE(contains(j, "\"p99\": 12000")) << j;
    // Every reason is present even when zero, so consumers can rely on the keys.
    for (const auto name : dataplane::drop_reason_names) {
        std::string quoted;
        quoted.append(1, '"').append(name).append("\": ");
        EXPECT_TRUE(contains(j, quoted)) << name;
    }
}

TEST(stats, progress_line_shows_rates_over_the_interval)
{
    stats_snapshot a;
    stats_snapshot b;
    a.ports = {make_port(0, 1'000'000, 1'000'000, 0, 0)};
    b.ports = {make_port(0, 3'000'000, 2'500'000, 500'000, 0)};
    b.at = a.at + std::chrono::seconds(2);
    const auto line = format_progress(a, b, 3.0);
    EXPECT_TRUE(contains(line, "port 0 rx 1.000 tx 0.750 Mpps")) << line;
    EXPECT_TRUE(contains(line, "drops 500000")) << line;
}
