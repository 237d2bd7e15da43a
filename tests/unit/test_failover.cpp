// Failover decisions (snm::failover) on sampled ports, without EAL: what
// counts as a failure, who takes over, when a port returns.
#include <gtest/gtest.h>

#include <stdexcept>

#include "shadownet/snm/failover.hpp"

using namespace shadownet::snm;

namespace {

// A port's counters as the appliance would sample them, advanced by hand.
struct fake_port {
    std::uint16_t id;
    bool link = true;
    std::uint64_t tx = 0, refused = 0, rx = 0;
    bool rx_expected = true;
    bool faulted = false;
    std::uint64_t errors = 0;
    [[nodiscard]] port_sample sample() const { return {id, link, tx, refused, errors, rx, rx_expected, faulted, {}}; }
};

failover_update look(failover& f, double t, std::initializer_list<const fake_port*> ports)
{
    std::vector<port_sample> s;
    for (const auto* p : ports)
        s.push_back(p->sample());
    return f.observe(t, s);
}

const egress_view& egress(const failover& f, std::uint16_t port, std::vector<egress_view>& keep)
{
    keep = f.egresses();
    for (const auto& e : keep)
        if (e.port == port)
            return e;
    throw std::logic_error("no such egress");
}

bool has_event(const failover_update& u, const std::string& what)
{
    for (const auto& e : u.events)
        if (e.what == what)
            return true;
    return false;
}

} // namespace

TEST(failover, link_down_moves_the_primary_to_the_shadow_port_and_the_old_primary_returns_as_shadow)
{
    failover_config cfg;
    cfg.holddown_s = 0.5;
    failover f(cfg, {{1, 2}}, {});
    fake_port p1{1}, p2{2};
    EXPECT_TRUE(look(f, 0.0, {&p1, &p2}).roles.empty());
    look(f, 0.1, {&p1, &p2});
    p1.link = false;
    const auto u = look(f, 0.2, {&p1, &p2});
    ASSERT_EQ(u.roles.size(), 1U);
    EXPECT_EQ(u.roles[0].egress, 1);
    EXPECT_EQ(u.roles[0].primary, 2);
    EXPECT_EQ(u.roles[0].shadow, 2); // no spare: the new primary's own shadow queues
    EXPECT_EQ(u.roles[0].epoch, 1);
    ASSERT_EQ(u.out_of_service.size(), 1U);
    EXPECT_EQ(u.out_of_service[0], (std::pair<std::uint16_t, bool>{1, true}));
    EXPECT_TRUE(has_event(u, "port-failed") && has_event(u, "failover"));
    std::vector<egress_view> keep;
    EXPECT_EQ(egress(f, 1, keep).failovers, 1U);

    // Back up: it must stay healthy for the hold-down before it returns.
    p1.link = true;
    EXPECT_TRUE(look(f, 0.3, {&p1, &p2}).empty());
    p1.link = false; // a blip restarts the hold-down
    EXPECT_TRUE(look(f, 0.5, {&p1, &p2}).empty());
    p1.link = true;
    EXPECT_TRUE(look(f, 0.6, {&p1, &p2}).empty());
    EXPECT_TRUE(look(f, 1.0, {&p1, &p2}).empty());
    const auto back = look(f, 1.15, {&p1, &p2});
    ASSERT_EQ(back.roles.size(), 1U);
    EXPECT_EQ(back.roles[0].primary, 2); // no flap back unless asked
    EXPECT_EQ(back.roles[0].shadow, 1);
    EXPECT_EQ(back.roles[0].epoch, 2);
    EXPECT_EQ(back.out_of_service[0], (std::pair<std::uint16_t, bool>{1, false}));
}

TEST(failover, a_port_never_up_is_waiting_not_failed)
{
    failover f({}, {{1, 2}}, {});
    fake_port p1{1, false}, p2{2, false}; // memif ports before their peer connects
    EXPECT_TRUE(look(f, 0.0, {&p1, &p2}).empty());
    EXPECT_TRUE(look(f, 1.0, {&p1, &p2}).empty());
    EXPECT_EQ(f.ports().front().health, port_health::waiting);
    p1.link = true;
    look(f, 1.1, {&p1, &p2});
    EXPECT_EQ(f.ports().front().health, port_health::up);
    // The shadow never came up: port 1's failure has nowhere to go.
    p1.link = false;
    const auto u = look(f, 1.2, {&p1, &p2});
    EXPECT_TRUE(has_event(u, "egress-down"));
    EXPECT_TRUE(u.roles.empty());
    std::vector<egress_view> keep;
    EXPECT_TRUE(egress(f, 1, keep).down);
}

TEST(failover, a_tx_queue_that_stops_draining_is_a_failure_after_the_stall_time_only)
{
    failover_config cfg;
    cfg.stall_s = 0.001;
    failover f(cfg, {{1, 2}}, {});
    fake_port p1{1}, p2{2};
    look(f, 0.0, {&p1, &p2});
    look(f, 0.0001, {&p1, &p2});
    // Taken and refused alike: a busy queue, not a dead one.
    for (int i = 1; i <= 30; ++i) {
        p1.tx += 10;
        p1.refused += 5;
        EXPECT_TRUE(look(f, 0.0001 + i * 0.0001, {&p1, &p2}).empty()) << i;
    }
    // Nothing taken any more: not yet after 0.5 ms, a failure after 1 ms.
    double t = 0.0032;
    for (int i = 0; i < 5; ++i, t += 0.0001) {
        p1.refused += 32;
        EXPECT_TRUE(look(f, t, {&p1, &p2}).empty()) << t;
    }
    failover_update u;
    for (int i = 0; i < 8 && u.roles.empty(); ++i, t += 0.0001) {
        p1.refused += 32;
        u = look(f, t, {&p1, &p2});
    }
    ASSERT_EQ(u.roles.size(), 1U);
    EXPECT_EQ(u.roles[0].primary, 2);
    EXPECT_NE(f.events().front().detail.find("TX stalled"), std::string::npos) << f.events().front().detail;
}

TEST(failover, packets_the_driver_takes_and_then_fails_count_as_refused)
{
    failover_config cfg;
    cfg.stall_s = 0.001;
    failover f(cfg, {{1, 2}}, {});
    fake_port p1{1}, p2{2};
    look(f, 0, {&p1, &p2});
    look(f, 0.0001, {&p1, &p2});
    failover_update u;
    double t = 0.0002;
    for (int i = 0; i < 20 && u.roles.empty(); ++i, t += 0.0001) {
        p1.tx += 32; // taken...
        p1.errors += 32; // ...and every one of them failed (a NIC whose link the driver does not report)
        u = look(f, t, {&p1, &p2});
    }
    ASSERT_EQ(u.roles.size(), 1U);
    EXPECT_NE(f.events().front().detail.find("refused or failed"), std::string::npos) << f.events().front().detail;
    EXPECT_GE(t, 0.0011);
}

TEST(failover, an_idle_port_is_not_stalled_and_few_refusals_are_not_enough)
{
    failover_config cfg;
    cfg.stall_s = 0.001;
    cfg.stall_min_refused = 4;
    failover f(cfg, {{1, 2}}, {});
    fake_port p1{1}, p2{2};
    look(f, 0, {&p1, &p2});
    look(f, 0.001, {&p1, &p2});
    EXPECT_TRUE(look(f, 1.0, {&p1, &p2}).empty()); // no traffic at all
    p1.refused += 2;                                // one unlucky burst
    EXPECT_TRUE(look(f, 1.001, {&p1, &p2}).empty());
    EXPECT_TRUE(look(f, 2.0, {&p1, &p2}).empty());
}

TEST(failover, rx_silence_counts_only_when_enabled_expected_and_after_real_traffic)
{
    failover_config cfg;
    cfg.rx_silence_s = 0.01;
    cfg.rx_silence_min_pps = 1000;
    failover f(cfg, {{1, 2}}, {});
    fake_port p1{1}, p2{2};
    double t = 0;
    look(f, t, {&p1, &p2});
    for (int i = 0; i < 200; ++i) { // 2 s at 100 kpps
        t += 0.01;
        p1.rx += 1000;
        ASSERT_TRUE(look(f, t, {&p1, &p2}).empty());
    }
    // Paused: silence means nothing, and after it the port must be seen
    // receiving again before its silence counts.
    p1.rx_expected = false;
    EXPECT_TRUE(look(f, t + 0.05, {&p1, &p2}).empty());
    p1.rx_expected = true;
    t += 0.06;
    EXPECT_TRUE(look(f, t, {&p1, &p2}).empty());
    EXPECT_TRUE(look(f, t + 0.5, {&p1, &p2}).empty());
    t += 0.5;
    for (int i = 0; i < 100; ++i) {
        t += 0.01;
        p1.rx += 1000;
        ASSERT_TRUE(look(f, t, {&p1, &p2}).empty());
    }
    EXPECT_TRUE(look(f, t + 0.005, {&p1, &p2}).empty());
    const auto u = look(f, t + 0.011, {&p1, &p2});
    EXPECT_TRUE(has_event(u, "port-failed"));

    failover quiet(failover_config{}, {{1, 2}}, {}); // off by default
    fake_port q1{1}, q2{2};
    look(quiet, 0, {&q1, &q2});
    q1.rx = 100000;
    look(quiet, 1, {&q1, &q2});
    EXPECT_TRUE(look(quiet, 10, {&q1, &q2}).empty());
}

TEST(failover, a_spare_becomes_the_new_shadow_and_replaces_a_failed_shadow)
{
    failover f({}, {{1, 2}}, {3});
    fake_port p1{1}, p2{2}, p3{3};
    look(f, 0, {&p1, &p2, &p3});
    look(f, 0.1, {&p1, &p2, &p3});
    EXPECT_TRUE(f.ports().back().spare);
    p1.link = false;
    auto u = look(f, 0.2, {&p1, &p2, &p3});
    ASSERT_EQ(u.roles.size(), 1U);
    EXPECT_EQ(u.roles[0].primary, 2);
    EXPECT_EQ(u.roles[0].shadow, 3);
    EXPECT_FALSE(f.ports().back().spare);
    // The new shadow fails: no spare left, the primary's own queues serve.
    p3.link = false;
    u = look(f, 0.3, {&p1, &p2, &p3});
    ASSERT_EQ(u.roles.size(), 1U);
    EXPECT_EQ(u.roles[0].primary, 2);
    EXPECT_EQ(u.roles[0].shadow, 2);
    EXPECT_TRUE(has_event(u, "shadow-replaced"));
    EXPECT_THROW(failover({}, {{1, 2}}, {2}), std::invalid_argument);
}

TEST(failover, an_egress_without_a_shadow_port_goes_down_and_comes_back)
{
    failover_config cfg;
    cfg.holddown_s = 0.1;
    failover f(cfg, {{0, 0}}, {});
    fake_port p0{0};
    look(f, 0, {&p0});
    look(f, 0.01, {&p0});
    p0.link = false;
    auto u = look(f, 0.02, {&p0});
    EXPECT_TRUE(has_event(u, "egress-down"));
    EXPECT_EQ(u.out_of_service[0], (std::pair<std::uint16_t, bool>{0, true}));
    p0.link = true;
    look(f, 0.03, {&p0});
    u = look(f, 0.2, {&p0});
    EXPECT_TRUE(has_event(u, "egress-up"));
    ASSERT_EQ(u.roles.size(), 1U);
    EXPECT_EQ(u.roles[0].primary, 0);
}

TEST(failover, a_flapping_port_waits_longer_each_time)
{
    failover_config cfg;
    cfg.holddown_s = 0.1;
    failover f(cfg, {{1, 2}}, {});
    fake_port p1{1}, p2{2};
    look(f, 0, {&p1, &p2});
    look(f, 0.01, {&p1, &p2});
    std::vector<double> holddowns;
    double t = 0.02;
    for (int i = 0; i < 3; ++i) {
        p1.link = false;
        look(f, t, {&p1, &p2});
        holddowns.push_back(f.ports().front().holddown_s);
        p1.link = true;
        look(f, t + 0.01, {&p1, &p2});
        t += 2.0; // long enough for any hold-down so far
        look(f, t, {&p1, &p2});
        look(f, t + 0.01, {&p1, &p2});
        t += 0.02;
    }
    EXPECT_EQ(holddowns, (std::vector<double>{0.1, 0.2, 0.4}));
}

TEST(failover, revert_gives_the_returning_primary_its_role_back)
{
    failover_config cfg;
    cfg.holddown_s = 0.1;
    cfg.revert = true;
    failover f(cfg, {{1, 2}}, {});
    fake_port p1{1}, p2{2};
    look(f, 0, {&p1, &p2});
    look(f, 0.01, {&p1, &p2});
    p1.link = false;
    look(f, 0.02, {&p1, &p2});
    p1.link = true;
    look(f, 0.03, {&p1, &p2});
    const auto u = look(f, 0.2, {&p1, &p2});
    ASSERT_EQ(u.roles.size(), 2U); // returns as shadow, then reverts
    EXPECT_EQ(u.roles.back().primary, 1);
    EXPECT_EQ(u.roles.back().shadow, 2);
    EXPECT_TRUE(has_event(u, "revert"));
}

TEST(failover, an_injected_fault_keeps_a_port_from_returning_and_the_event_says_how_fast_it_was_found)
{
    failover_config cfg;
    cfg.holddown_s = 0.1;
    failover f(cfg, {{1, 2}}, {});
    fake_port p1{1}, p2{2};
    look(f, 0, {&p1, &p2});
    look(f, 0.01, {&p1, &p2});
    port_sample s1 = p1.sample();
    s1.link_up = false;
    s1.faulted = true;
    s1.fault_since = 0.0199;
    const port_sample s2 = p2.sample();
    f.observe(0.02, std::vector<port_sample>{s1, s2});
    EXPECT_NE(f.events().front().detail.find("detected 100 us after the fault"), std::string::npos)
        << f.events().front().detail;
    s1.link_up = true; // link fine, fault still on
    for (double t = 0.03; t < 1; t += 0.1)
        EXPECT_TRUE(f.observe(t, std::vector<port_sample>{s1, s2}).empty());
    s1.faulted = false;
    f.observe(1.0, std::vector<port_sample>{s1, s2});
    const auto u = f.observe(1.2, std::vector<port_sample>{s1, s2});
    EXPECT_TRUE(has_event(u, "port-returned"));
}

TEST(failover, switchover_swaps_roles_and_refuses_what_it_cannot_do)
{
    failover f({}, {{1, 2}, {0, 0}}, {});
    fake_port p0{0}, p1{1}, p2{2};
    EXPECT_THROW(f.switchover(0, 1), std::invalid_argument); // the shadow is not up yet
    look(f, 0, {&p0, &p1, &p2});
    auto u = f.switchover(0.1, 1);
    ASSERT_EQ(u.roles.size(), 1U);
    EXPECT_EQ(u.roles[0].primary, 2);
    EXPECT_EQ(u.roles[0].shadow, 1);
    EXPECT_TRUE(u.out_of_service.empty()); // nothing failed
    EXPECT_THROW(f.switchover(0.2, 1), std::invalid_argument); // 1 is the shadow now
    EXPECT_THROW(f.switchover(0.2, 0), std::invalid_argument); // its own queues only
    EXPECT_THROW(f.switchover(0.2, 9), std::invalid_argument);
    u = f.switchover(0.3, 2);
    EXPECT_EQ(u.roles[0].primary, 1);
    EXPECT_EQ(u.roles[0].epoch, 2);
}

TEST(failover, off_decides_nothing)
{
    failover_config cfg;
    cfg.enabled = false;
    failover f(cfg, {{1, 2}}, {});
    fake_port p1{1}, p2{2};
    look(f, 0, {&p1, &p2});
    p1.link = false;
    EXPECT_TRUE(look(f, 1, {&p1, &p2}).empty());
}
