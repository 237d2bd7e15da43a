// Failover on the whole appliance: virtual ports with built-in traffic, real
// faults (a link set down with its cable cut, a silent fault found only by
// its traffic), planned switchovers under load. Every packet is accounted
// for; what a failure loses is exactly what its cut wire swallowed.
#include <chrono>
#include <functional>

#include <gtest/gtest.h>

#include "shadownet/control/appliance.hpp"
#include "shadownet/core/error.hpp"

using namespace shadownet;
using namespace shadownet::control;

namespace {

// Waits end as soon as their condition holds; the limit only bounds a broken
// run (a shared 2-core box can stall a thread for seconds).
constexpr std::chrono::milliseconds patience{20'000};

void run_until(appliance& app, const std::function<bool()>& done, std::chrono::milliseconds limit)
{
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end)
        app.poll();
}

void run_for(appliance& app, std::chrono::milliseconds how_long)
{
    run_until(app, [] { return false; }, how_long);
}

// Three virtual ports: traffic enters on 0 only and leaves on 1, whose shadow
// is port 2.
app_config three_ports(double rate_pps)
{
    app_config cfg;
    cfg.virtual_ports = 3;
    cfg.port_pairs = {{0, 1}};
    cfg.shadow_ports = {{1, 2}};
    cfg.traffic.ports = {0};
    cfg.traffic.rate_pps = rate_pps;
    cfg.traffic.clients = 8;
    cfg.snm.policy = snm_policy::off; // only failover moves anything
    cfg.failover.holddown_ms = 200;
    return cfg;
}

const snm::egress_view& egress(const failover_snapshot& f, std::uint16_t port)
{
    for (const auto& e : f.egresses)
        if (e.port == port)
            return e;
    throw std::logic_error("no such egress");
}

const failover_port_status& port_of(const failover_snapshot& f, std::uint16_t port)
{
    for (const auto& p : f.ports)
        if (p.health.port == port)
            return p;
    throw std::logic_error("no such port");
}

std::uint64_t received(const appliance& app)
{
    return app.snapshot().traffic->totals.received;
}

// Drops a failover may cause besides its own port_down: a receiver stalled
// long enough for its ring to fill (tx_full). The switch protocol itself drops nothing.
std::uint64_t tx_full(const stats_snapshot& s)
{
    return s.drops()[static_cast<std::size_t>(dataplane::drop_reason::tx_full)];
}

void expect_accounted(const stats_snapshot& s)
{
    for (const auto& p : s.ports)
        EXPECT_EQ(p.rx, p.forwarded + p.drops_total()) << "port " << p.id;
    EXPECT_EQ(s.rx(), s.tx() + s.drops_total());
    ASSERT_TRUE(s.traffic);
    EXPECT_EQ(s.traffic->totals.sent, s.rx());
    EXPECT_EQ(s.traffic->totals.reordered, 0U);
    EXPECT_EQ(s.traffic->totals.duplicates, 0U);
}

} // namespace

TEST(failover, a_link_set_down_moves_the_egress_to_its_shadow_port_and_the_port_returns_as_shadow)
{
    appliance app(three_ports(100'000));
    app.start();
    run_until(app, [&] { return received(app) > 5'000; }, patience);
    ASSERT_GT(received(app), 5'000U);
    ASSERT_EQ(egress(app.failover_view(), 1).primary, 1);

    app.set_port_link(1, false);
    run_until(app, [&] { return egress(app.failover_view(), 1).primary == 2; }, patience);
    auto f = app.failover_view();
    ASSERT_EQ(egress(f, 1).primary, 2) << "no failover";
    EXPECT_EQ(egress(f, 1).shadow, 2); // no spare: port 2's own shadow queues
    EXPECT_EQ(port_of(f, 1).health.health, snm::port_health::failed);
    EXPECT_EQ(port_of(f, 1).health.reason.rfind("link down (detected ", 0), 0U) << port_of(f, 1).health.reason;
    const auto at_failover = received(app);
    run_until(app, [&] { return received(app) > at_failover + 1'000; }, patience);
    EXPECT_GT(received(app), at_failover + 1'000) << "traffic resumed on the shadow port";

    // Back up: after the hold-down it becomes the shadow; the primary stays on port 2.
    app.set_port_link(1, true);
    run_until(app, [&] { return egress(app.failover_view(), 1).shadow == 1; }, patience);
    f = app.failover_view();
    EXPECT_EQ(egress(f, 1).primary, 2);
    EXPECT_EQ(egress(f, 1).shadow, 1);
    EXPECT_EQ(port_of(f, 1).health.health, snm::port_health::up);
    app.stop();

    const auto s = app.snapshot();
    expect_accounted(s);
    // The only loss is what the cut wire swallowed (and what a stalled receiver's full ring refused).
    EXPECT_EQ(s.traffic->totals.lost(), port_of(*s.failover, 1).wire_lost + tx_full(s));
    EXPECT_EQ(s.drops_total(), tx_full(s));
    EXPECT_GT(s.ports[2].tx, 0U);
    EXPECT_EQ(app.mempool_in_use(), 0U);
}

TEST(failover, planned_switchovers_under_load_lose_nothing_and_reorder_nothing)
{
    appliance app(three_ports(200'000));
    app.start();
    run_until(app, [&] { return received(app) > 5'000; }, patience);
    ASSERT_GT(received(app), 5'000U);
    std::uint16_t primary = 1;
    for (int i = 0; i < 60; ++i) {
        app.switchover(primary);
        primary = primary == 1 ? 2 : 1;
        run_for(app, std::chrono::milliseconds(10));
    }
    app.stop();
    const auto s = app.snapshot();
    expect_accounted(s);
    EXPECT_EQ(egress(*s.failover, 1).epoch, 60);
    EXPECT_EQ(s.traffic->totals.lost(), tx_full(s)) << "lost in a switchover";
    EXPECT_EQ(s.drops_total(), tx_full(s));
    EXPECT_GT(s.ports[1].tx, 0U);
    EXPECT_GT(s.ports[2].tx, 0U);
    std::uint64_t switches = 0;
    for (const auto& l : s.lcores)
        switches += l.switches;
    EXPECT_GT(switches, 0U) << "the lcores drained and switched";
}

TEST(failover, a_silent_fault_is_found_by_its_traffic_and_a_spare_becomes_the_shadow)
{
    auto cfg = three_ports(100'000);
    cfg.virtual_ports = 4;
    cfg.spare_ports = {3};
    appliance app(cfg);
    app.start();
    run_until(app, [&] { return received(app) > 5'000; }, patience);
    ASSERT_GT(received(app), 5'000U);

    app.set_port_fault(1, true);
    run_until(app, [&] { return egress(app.failover_view(), 1).primary == 2; }, patience);
    auto f = app.failover_view();
    ASSERT_EQ(egress(f, 1).primary, 2) << "the stall was not found";
    EXPECT_EQ(egress(f, 1).shadow, 3);
    EXPECT_NE(port_of(f, 1).health.reason.find("TX stalled"), std::string::npos) << port_of(f, 1).health.reason;
    EXPECT_TRUE(port_of(f, 1).link_up) << "a silent fault says nothing on the link";
    EXPECT_GT(port_of(f, 1).tx_refused, 0U);
    const auto at_failover = received(app);
    run_until(app, [&] { return received(app) > at_failover + 1'000; }, patience);
    EXPECT_GT(received(app), at_failover + 1'000) << "traffic resumed on the shadow port";

    // Restored: it returns, but egress 1 has a shadow already (the spare), so it is a spare now.
    app.set_port_fault(1, false);
    run_until(app, [&] { return port_of(app.failover_view(), 1).health.spare; }, patience);
    f = app.failover_view();
    EXPECT_TRUE(port_of(f, 1).health.spare);
    app.stop();
    const auto s = app.snapshot();
    expect_accounted(s);
    // What the stuck queue refused was dropped and counted; nothing else was lost.
    EXPECT_EQ(tx_full(s), s.drops_total());
    EXPECT_EQ(s.traffic->totals.lost(), tx_full(s));
    EXPECT_GT(s.ports[2].tx, 0U);
}

TEST(failover, an_egress_with_no_port_left_drops_as_port_down_until_its_port_returns)
{
    app_config cfg;
    cfg.virtual_ports = 2;
    cfg.traffic.ports = {0};
    cfg.traffic.rate_pps = 50'000;
    cfg.snm.policy = snm_policy::off;
    cfg.failover.holddown_ms = 100;
    appliance app(cfg);
    app.start();
    run_until(app, [&] { return received(app) > 2'000; }, patience);
    app.set_port_link(1, false);
    run_until(app, [&] { return egress(app.failover_view(), 1).down; }, patience);
    ASSERT_TRUE(egress(app.failover_view(), 1).down);
    run_for(app, std::chrono::milliseconds(100));
    const auto port_down = static_cast<std::size_t>(dataplane::drop_reason::port_down);
    EXPECT_GT(app.snapshot().drops()[port_down], 0U);
    app.set_port_link(1, true);
    run_until(app, [&] { return !egress(app.failover_view(), 1).down; }, patience);
    EXPECT_FALSE(egress(app.failover_view(), 1).down);
    const auto before = received(app);
    run_until(app, [&] { return received(app) > before + 1'000; }, patience);
    EXPECT_GT(received(app), before + 1'000);
    app.stop();
    const auto s = app.snapshot();
    expect_accounted(s);
    EXPECT_EQ(s.traffic->totals.lost(), s.drops()[port_down] + port_of(*s.failover, 1).wire_lost + tx_full(s));
}

TEST(failover, operator_errors_are_clear)
{
    app_config cfg;
    cfg.virtual_ports = 2;
    app_config bad = cfg;
    bad.traffic.ports = {5};
    EXPECT_THROW(appliance{bad}, config_error);
    bad.traffic.ports = {};
    bad.virtual_ports = 3;
    bad.port_pairs = {{0, 1}};
    bad.spare_ports = {1};
    EXPECT_THROW(appliance{bad}, config_error);
    appliance app(cfg);
    EXPECT_THROW(app.set_port_link(9, false), std::out_of_range);
    EXPECT_THROW(app.set_port_fault(9, true), std::out_of_range);
    EXPECT_THROW(app.switchover(1), std::invalid_argument); // no shadow port: its own queues only
}
