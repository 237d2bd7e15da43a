// The whole appliance on virtual ports with built-in traffic: every packet is
// accounted for, nothing leaks, and it can be built twice in one process.
#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "shadownet/control/appliance.hpp"
#include "shadownet/core/error.hpp"

using namespace shadownet;
using namespace shadownet::control;

namespace {

stats_snapshot run_for(appliance& app, std::chrono::milliseconds how_long)
{
    app.start();
    const auto end = std::chrono::steady_clock::now() + how_long;
    while (std::chrono::steady_clock::now() < end)
        app.poll();
    app.stop();
    return app.snapshot();
}

// Polls until done() or `limit` has passed.
template <typename Done>
void poll_until(appliance& app, Done done, std::chrono::milliseconds limit)
{
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end)
        app.poll();
}

// The shadow-budget tests: four clients of ~10 kpps each over two virtual
// ports, the policy off (the operator's budget, not the manager's).
app_config four_clients_policy_off()
{
    app_config cfg;
    cfg.virtual_ports = 2;
    cfg.traffic.rate_pps = 80'000;
    cfg.traffic.clients = 4;
    cfg.snm.policy = snm_policy::off;
    return cfg;
}

// Starts `app`, waits for its four clients and moves the first to its shadow
// path with a 1 kpps budget; its id, or nullopt if the clients never came.
std::optional<std::uint32_t> shadow_the_first_client(appliance& app)
{
    app.start();
    poll_until(app, [&] { return app.clients().size() >= 4; }, std::chrono::milliseconds(2000));
    if (app.clients().size() < 4)
        return std::nullopt;
    const std::uint32_t id = app.clients().ids().front();
    app.set_shadow_budget(id, {1'000, 0});
    app.set_client_route(id, dataplane::path::shadow);
    return id;
}

void expect_accounted(const stats_snapshot& s)
{
    for (const auto& p : s.ports) {
        EXPECT_EQ(p.rx, p.forwarded + p.drops_total()) << "port " << p.id;
        EXPECT_EQ(p.hw.ipackets, p.rx) << "port " << p.id;
        EXPECT_EQ(p.hw.opackets, p.tx) << "port " << p.id;
    }
    EXPECT_EQ(s.rx(), s.tx() + s.drops_total());
    ASSERT_TRUE(s.traffic);
    EXPECT_EQ(s.traffic->totals.sent, s.rx());         // everything the generator put on the wire was received
    EXPECT_EQ(s.traffic->totals.received, s.tx());     // and everything transmitted came back
    EXPECT_EQ(s.traffic->totals.foreign, 0U);
    EXPECT_EQ(s.traffic->totals.reordered, 0U);
}

} // namespace

TEST(appliance, forwards_built_in_traffic_and_accounts_for_every_packet)
{
    app_config cfg;
    cfg.virtual_ports = 2;
    cfg.traffic.rate_pps = 200'000;
    appliance app(cfg);
    EXPECT_EQ(app.plan().ports.size(), 2U);
    EXPECT_EQ(app.plan().shadow_txq(), app.plan().tx_lcores.size());
    const auto s = run_for(app, std::chrono::milliseconds(300));
    EXPECT_GT(s.rx(), 10'000U);
    EXPECT_EQ(s.drops_total(), 0U);
    expect_accounted(s);
    EXPECT_EQ(app.mempool_in_use(), 0U);
    ASSERT_FALSE(s.lcores.empty());
    EXPECT_GT(s.lcores.front().loops, 0U);
    EXPECT_EQ(s.lcores.front().role, app.plan().main_forwards ? "rtc+main" : "rtc");
}

TEST(appliance, unpaced_traffic_with_shadow_queues_still_balances)
{
    app_config cfg;
    cfg.virtual_ports = 4;
    cfg.shadow_txq = 2;
    cfg.traffic.rate_pps = 0;
    cfg.traffic.clients = 1000;
    appliance app(cfg);
    EXPECT_EQ(app.plan().pairs.size(), 2U);
    const auto s = run_for(app, std::chrono::milliseconds(300));
    EXPECT_GT(s.rx(), 10'000U);
    expect_accounted(s);
    EXPECT_EQ(app.mempool_in_use(), 0U);
}

TEST(appliance, bad_plans_are_config_errors)
{
    app_config odd;
    odd.virtual_ports = 3;
    EXPECT_THROW(appliance{odd}, config_error);
    app_config lcores;
    lcores.virtual_ports = 2;
    lcores.fwd_lcores = {7};
    EXPECT_THROW(appliance{lcores}, config_error);
    // A failed construction leaves nothing behind: a good one still works.
    app_config good;
    good.virtual_ports = 2;
    appliance app(good);
    EXPECT_EQ(app.plan().ports.size(), 2U);
}

// A primary capacity turns a virtual port into a saturated link: what exceeds
// it is dropped as primary_over_capacity (counted on the ingress port), and no
// more than the capacity plus one bucket leaves the egress.
TEST(appliance, primary_capacity_drops_what_exceeds_it)
{
    using dataplane::drop_reason;
    app_config cfg;
    cfg.virtual_ports = 2;
    cfg.traffic.rate_pps = 200'000; // 100 kpps into each port
    cfg.snm.primary_capacity = {{std::uint16_t{1}, {20'000, 0}}};
    cfg.snm.capacity_burst_ms = 5;
    cfg.snm.policy = snm_policy::off; // the manager would move clients to the (unlimited) shadow
    const auto t0 = std::chrono::steady_clock::now();
    appliance app(cfg);
    EXPECT_EQ(app.primary_capacity(1).pps, 20'000);
    EXPECT_EQ(app.primary_capacity(0).pps, 0);
    const auto s = run_for(app, std::chrono::milliseconds(400));
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    expect_accounted(s);
    const auto& in0 = s.ports[0];
    const auto& out1 = s.ports[1];
    const auto over = static_cast<std::size_t>(drop_reason::primary_over_capacity);
    EXPECT_GT(in0.drops[over], 0U);
    EXPECT_EQ(in0.drops_total(), in0.drops[over]);
    EXPECT_EQ(s.ports[1].drops_total(), 0U) << "port 0 has no capacity: nothing from port 1 may be dropped";
    // Everything port 1 sent came in on port 0 (the pair's other direction goes out on port 0).
    const double ceiling = 20'000 * elapsed + std::max(20'000 * 0.005, double(cfg.burst)) * app.plan().tx_lcores.size();
    EXPECT_LE(static_cast<double>(out1.tx), ceiling + 1);
    EXPECT_EQ(out1.tx, in0.forwarded);
}

// With the shadow's capacity known, a client above its reservation borrows
// what the shadow has spare (capacity.hpp): the same budget as above no
// longer limits it once the control lcore has published the pool (a tick).
TEST(appliance, a_known_shadow_capacity_is_lent_beyond_a_budget)
{
    app_config cfg = four_clients_policy_off();
    cfg.snm.shadow_capacity = {{std::nullopt, {100'000, 0}}};
    appliance app(cfg);
    const auto shadowed = shadow_the_first_client(app);
    ASSERT_TRUE(shadowed);
    const std::uint32_t victim = *shadowed;
    poll_until(app, [] { return false; }, std::chrono::milliseconds(300)); // the pool is published at the next tick
    const auto before = app.client_counters(victim);
    const auto t1 = std::chrono::steady_clock::now();
    poll_until(app, [] { return false; }, std::chrono::milliseconds(400));
    app.stop();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    expect_accounted(app.snapshot());
    const auto d = app.client_counters(victim) - before;
    // What the budget alone would let through (the test above's ceiling), four times over.
    const double budget_ceiling = 1'000 * elapsed + 2.0 * cfg.burst * app.plan().tx_lcores.size();
    EXPECT_GT(static_cast<double>(d.tx_packets[1]), 4 * budget_ceiling);
    EXPECT_EQ(d.drops, 0U) << "100 kpps of shadow for ~10 kpps of demand";
}

// A client on its shadow path gets what its reservation allows; the rest is
// shadow_over_capacity, and other clients are untouched.
TEST(appliance, shadow_budget_limits_one_client)
{
    using dataplane::drop_reason;
    const app_config cfg = four_clients_policy_off();
    appliance app(cfg);
    const auto shadowed = shadow_the_first_client(app);
    ASSERT_TRUE(shadowed);
    const std::uint32_t victim = *shadowed;
    const auto before = app.client_counters(victim);
    const auto t0 = std::chrono::steady_clock::now();
    poll_until(app, [] { return false; }, std::chrono::milliseconds(400));
    app.stop();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto s = app.snapshot();
    expect_accounted(s);
    const auto d = app.client_counters(victim) - before;
    const auto over = static_cast<std::size_t>(drop_reason::shadow_over_capacity);
    std::uint64_t over_total = 0;
    for (const auto& p : s.ports)
        over_total += p.drops[over];
    EXPECT_GT(d.drops, 0U);
    EXPECT_EQ(over_total, app.client_counters(victim).drops) << "only the shadowed client is limited";
    // 1 kpps over the window plus one bucket (at least a burst) per lcore,
    // plus what was in flight on the primary when the route changed.
    const double ceiling = 1'000 * elapsed + 2.0 * cfg.burst * app.plan().tx_lcores.size();
    EXPECT_LE(static_cast<double>(d.tx_packets[1]), ceiling);
    for (const auto id : app.clients().ids()) {
        if (id != victim) {
            EXPECT_EQ(app.client_counters(id).drops, 0U) << "client " << id;
        }
    }
}

// --state-dir: a client's profile and recent demand outlive the appliance; a
// second appliance on the same directory knows a returning client at once.
TEST(appliance, history_survives_a_restart_and_warm_starts_returning_clients)
{
    char dir_template[] = "/tmp/shadownet-state-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    const std::string dir = dir_template;
    app_config cfg;
    cfg.virtual_ports = 2;
    cfg.traffic.rate_pps = 20'000;
    cfg.traffic.clients = 4;
    cfg.snm.profile_window_s = 0.5;
    cfg.snm.state_dir = dir;
    cfg.snm.history_flush_s = 0.2;
    std::size_t profiled = 0;
    {
        appliance first(cfg);
        (void)run_for(first, std::chrono::milliseconds(1500));
        for (const auto id : first.clients().ids())
            profiled += first.shadow_manager().client(id)->prof.kind != snm::client_class::learning;
        ASSERT_NE(first.history(), nullptr);
    }
    EXPECT_EQ(profiled, 4U) << "every client profiled in the first run";
    {
        cfg.snm.profile_window_s = 60; // a new client would be learning for a minute
        appliance second(cfg);
        ASSERT_NE(second.history(), nullptr);
        EXPECT_EQ(second.history()->keys().size(), 4U);
        second.start();
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
        while (second.clients().size() < 4 && std::chrono::steady_clock::now() < end)
            second.poll();
        std::size_t known = 0;
        for (const auto id : second.clients().ids()) {
            const auto v = second.shadow_manager().client(id);
            ASSERT_TRUE(v);
            known += v->prof.kind != snm::client_class::learning && v->prof.mean_pps > 0;
        }
        second.stop();
        EXPECT_EQ(known, second.clients().size()) << "returning clients are known at once";
        EXPECT_GE(known, 1U);
    }
    std::filesystem::remove_all(dir);
}

// The shadow's reserve comes into service while a client on the shadow needs
// more than its base capacity; nothing in flight is lost by it (the only
// drops are over-reservation drops before the step).
TEST(appliance, shadow_reserve_comes_into_service_under_load)
{
    using dataplane::drop_reason;
    app_config cfg;
    cfg.virtual_ports = 2;
    cfg.traffic.rate_pps = 40'000;
    cfg.traffic.clients = 2; // ~10 kpps per client and port
    cfg.snm.policy = snm_policy::off; // the operator moves the client; the manager still reserves
    cfg.snm.shadow_capacity = {{std::nullopt, {4'000, 0}}};
    cfg.snm.shadow_reserve = {{std::nullopt, {40'000, 0}}};
    cfg.snm.reserve_steps = 4;
    appliance app(cfg);
    app.start();
    const auto run = [&](auto done, std::chrono::milliseconds limit) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (!done() && std::chrono::steady_clock::now() < end)
            app.poll();
    };
    run([&] { return app.clients().size() >= 2; }, std::chrono::milliseconds(2000));
    ASSERT_GE(app.clients().size(), 2U);
    for (const auto id : app.clients().ids())
        app.set_client_route(id, dataplane::path::shadow);
    const auto stepped = [&] {
        for (const auto& p : app.snm_view().scaling)
            if (p.steps_active > 0)
                return true;
        return false;
    };
    run(stepped, std::chrono::milliseconds(3000));
    app.stop();
    const auto s = app.snapshot();
    expect_accounted(s);
    ASSERT_TRUE(s.manager);
    bool reserve_up = false;
    for (const auto& e : s.manager->scale_events)
        reserve_up = reserve_up || e.action == "reserve-up";
    EXPECT_TRUE(reserve_up);
    double capacity = 0;
    for (const auto& p : s.manager->scaling)
        capacity = std::max(capacity, p.capacity(p.steps_active).pps);
    EXPECT_GT(capacity, 4'000);
    for (std::size_t r = 0; r < dataplane::drop_reason_count; ++r)
        if (static_cast<drop_reason>(r) != drop_reason::shadow_over_capacity) {
            EXPECT_EQ(s.drops()[r], 0U) << dataplane::drop_reason_names[r];
        }
}
