// The shadow network manager's decisions, driven by a simulated primary: a
// link of fixed capacity that drops, from every client alike, whatever its
// clients offer beyond it. No EAL: the manager is pure logic.
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "shadownet/snm/manager.hpp"

using namespace shadownet;
using namespace shadownet::snm;

namespace {

constexpr double tick = 0.1;

// One tick of what the fast path reports for clients offering `offered` (id,
// pps) towards egress 1 in 64-byte packets: the simulated primary of
// `capacity` pps drops its overflow from every client on it in proportion;
// a client on the shadow is carried whole. `via` is the routes the test has
// applied (absent: primary).
std::vector<observation> through_the_primary(const std::vector<std::pair<std::uint32_t, double>>& offered,
                                             std::map<std::uint32_t, path>& via, double capacity)
{
    std::vector<observation> obs;
    double primary = 0;
    for (const auto& [id, pps] : offered) {
        observation o{id, 1, pps, pps * 512, 0, 0, 0};
        if (via[id] == path::primary)
            primary += pps;
        else
            o.shadow_tx_pps = pps;
        obs.push_back(o);
    }
    const double loss_share = primary > capacity ? (primary - capacity) / primary : 0;
    for (auto& o : obs)
        if (via[o.id] == path::primary)
            o.primary_drop_pps = o.pps * loss_share;
    return obs;
}

struct outcome {
    double well_behaved_lost = 0; // packets the other clients lost on the primary
    double offered = 0;
    unsigned to_shadow = 0, to_primary = 0;
    std::map<std::uint32_t, unsigned> switched; // client -> switches to the shadow
    double first_switch_s = -1;
    scores score;
};

// n clients at `base` pps each with ±3 % noise; client 0 follows `surge(t)`
// (a multiplier). The primary carries `capacity` pps; the shadow is unlimited.
template <typename Surge>
outcome simulate(snm_policy policy, unsigned n, double base, double capacity, double seconds, Surge surge)
{
    snm_config cfg;
    cfg.policy = policy;
    cfg.horizon_s = 1.0;
    cfg.profile_window_s = 3;
    manager m(cfg, tick, [&](std::uint16_t) { return rate_spec{capacity, 0}; },
              [](std::uint16_t) { return rate_spec{}; });
    for (std::uint32_t id = 1; id <= n; ++id)
        m.client_added(id, "10.0.0." + std::to_string(id), 0);
    std::map<std::uint32_t, path> via;
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> noise(0.97, 1.03);
    outcome out;
    for (double t = tick; t <= seconds; t += tick) {
        std::vector<std::pair<std::uint32_t, double>> offered;
        for (std::uint32_t id = 1; id <= n; ++id)
            offered.emplace_back(id, base * noise(rng) * (id == 1 ? surge(t) : 1.0));
        const auto obs = through_the_primary(offered, via, capacity);
        for (const auto& o : obs)
            if (o.id != 1)
                out.well_behaved_lost += o.primary_drop_pps * tick;
        for (const auto& o : obs)
            if (o.id != 1)
                out.offered += o.pps * tick;
        for (const auto& a : m.tick(t, obs)) {
            if (a.what != action::kind::route)
                continue;
            EXPECT_NE(via[a.id], a.via) << "a route action must change the route";
            via[a.id] = a.via;
            if (a.via == path::shadow) {
                ++out.to_shadow;
                ++out.switched[a.id];
                if (out.first_switch_s < 0)
                    out.first_switch_s = t;
            } else {
                ++out.to_primary;
            }
        }
    }
    out.score = m.score();
    return out;
}

// Client 0 goes from 1x to 10x over two seconds from t = 10 s, holds for five
// seconds, then falls back within a second.
double flash_crowd(double t)
{
    if (t < 10)
        return 1;
    if (t < 12)
        return 1 + 9 * (t - 10) / 2;
    if (t < 17)
        return 10;
    if (t < 18)
        return 10 - 9 * (t - 17);
    return 1;
}

} // namespace

TEST(snm, predictive_moves_the_surging_client_before_the_primary_overflows)
{
    // Ten clients at 100 pps, a primary of 1 500 pps: the surge needs 1 900.
    const auto pred = simulate(snm_policy::predictive, 10, 100, 1500, 30, flash_crowd);
    const auto reac = simulate(snm_policy::reactive, 10, 100, 1500, 30, flash_crowd);
    const auto off = simulate(snm_policy::off, 10, 100, 1500, 30, flash_crowd);

    EXPECT_EQ(off.to_shadow, 0U);
    EXPECT_GT(off.well_behaved_lost, 0.0);
    // Only the surging client moves, once, and comes back once.
    EXPECT_EQ(pred.switched.size(), 1U);
    EXPECT_EQ(pred.switched.count(1), 1U);
    EXPECT_EQ(pred.to_shadow, 1U);
    EXPECT_EQ(pred.to_primary, 1U);
    EXPECT_EQ(reac.switched.count(1), 1U);
    // Before the overflow (the sum passes 1 500 at t ~ 11.3 s).
    EXPECT_LT(pred.first_switch_s, 11.3);
    EXPECT_LT(pred.first_switch_s, reac.first_switch_s);
    EXPECT_EQ(pred.well_behaved_lost, 0.0);
    EXPECT_LT(pred.well_behaved_lost * 10, reac.well_behaved_lost + 1e-9);
    EXPECT_EQ(pred.score.needed, 1U);
    EXPECT_GT(pred.score.mean_lead_s(), 0.0);
}

TEST(snm, steady_noisy_load_near_the_watermark_does_not_flap)
{
    // 85 % of capacity with noise, for a minute: nothing to do.
    const auto pred = simulate(snm_policy::predictive, 10, 85, 1000, 60, [](double) { return 1.0; });
    EXPECT_EQ(pred.to_shadow, 0U) << "first switch at " << pred.first_switch_s;
    const auto reac = simulate(snm_policy::reactive, 10, 85, 1000, 60, [](double) { return 1.0; });
    EXPECT_EQ(reac.to_shadow, 0U);
}

TEST(snm, profiles_classify_clients)
{
    snm_config cfg;
    cfg.profile_window_s = 2;
    manager m(cfg, tick, [](std::uint16_t) { return rate_spec{}; }, [](std::uint16_t) { return rate_spec{}; });
    m.client_added(1, "steady", 0);
    m.client_added(2, "bursty", 0);
    m.client_added(3, "ramp", 0);
    for (int k = 1; k <= 30; ++k) {
        const double t = k * tick;
        std::vector<observation> obs{
            {1, 1, 100.0 + (k % 2), 100 * 512, 0, 0, 0},
            {2, 1, k % 5 == 0 ? 1000.0 : 10.0, 0, 0, 0, 0},
            {3, 1, 10.0 * k, 0, 0, 0, 0},
        };
        m.tick(t, obs);
    }
    EXPECT_EQ(m.client(1)->prof.kind, client_class::steady);
    EXPECT_NEAR(m.client(1)->prof.mean_pps, 100.5, 0.6);
    EXPECT_NEAR(m.client(1)->prof.mean_packet_bytes, 100 * 512 / 8 / 100.5, 1);
    EXPECT_EQ(m.client(2)->prof.kind, client_class::bursty);
    EXPECT_EQ(m.client(3)->prof.kind, client_class::suspicious);
    EXPECT_FALSE(m.client(4).has_value());
}

TEST(snm, reservations_follow_the_forecast_and_report_overcommit)
{
    snm_config cfg;
    cfg.headroom = 1.2;
    // A shadow of 300 pps for clients that together want ~480.
    manager m(cfg, tick, [](std::uint16_t) { return rate_spec{}; },
              [](std::uint16_t) { return rate_spec{300, 0}; });
    for (std::uint32_t id = 1; id <= 4; ++id)
        m.client_added(id, "c", 0);
    m.note_route(4, path::shadow, 0, "operator");
    std::vector<action> last;
    for (int k = 1; k <= 50; ++k) {
        std::vector<observation> obs;
        for (std::uint32_t id = 1; id <= 4; ++id)
            obs.push_back({id, 1, 100.0, 0, 0, 0, id == 4 ? 100.0 : 0});
        last = m.tick(k * tick, obs);
    }
    const auto c4 = m.client(4);
    ASSERT_TRUE(c4);
    EXPECT_NEAR(c4->res.wanted_pps, 120, 15);
    EXPECT_NEAR(c4->res.pps, c4->res.wanted_pps, 1e-9) << "the client on the shadow is served first";
    double granted = 0;
    for (std::uint32_t id = 1; id <= 4; ++id)
        granted += m.client(id)->res.pps;
    EXPECT_LE(granted, 300 + 1e-6);
    EXPECT_GT(m.score().overcommit_ticks, 0U);
    const auto ports = m.ports();
    ASSERT_EQ(ports.size(), 1U);
    EXPECT_EQ(ports[0].clients_on_shadow, 1U);
    EXPECT_NEAR(ports[0].shadow_used_pps, 100, 1e-9);
}

TEST(snm, operator_routes_are_remembered_in_the_history)
{
    snm_config cfg;
    manager m(cfg, tick, [](std::uint16_t) { return rate_spec{}; }, [](std::uint16_t) { return rate_spec{}; });
    m.client_added(7, "c", 0);
    m.note_route(7, path::shadow, 1.5, "operator");
    m.note_route(7, path::primary, 2.5, "operator");
    const auto v = m.client(7);
    ASSERT_EQ(v->history.size(), 2U);
    EXPECT_EQ(v->history[0].via, path::shadow);
    EXPECT_DOUBLE_EQ(v->history[1].t, 2.5);
    EXPECT_EQ(v->via, path::primary);
}

namespace {

struct flood_outcome {
    double well_behaved_lost = 0;
    bool newcomers_to_shadow = false;
    std::size_t newcomers_on_shadow = 0, newcomers = 0;
    unsigned steady_switched = 0;
};

// Ten steady clients at 100 pps on a 1 500 pps primary; from t = 10 s, ten new
// sources a tick, 20 pps each (a spoofed ramp: 2 000 pps more every second).
flood_outcome flood(snm_policy policy)
{
    snm_config cfg;
    cfg.policy = policy;
    cfg.profile_window_s = 3;
    const double capacity = 1500;
    manager m(cfg, tick, [&](std::uint16_t) { return rate_spec{capacity, 0}; },
              [](std::uint16_t) { return rate_spec{}; });
    std::map<std::uint32_t, path> via;
    std::uint32_t next = 1;
    for (; next <= 10; ++next)
        m.client_added(next, "steady", 0);
    flood_outcome out;
    for (double t = tick; t <= 16; t += tick) {
        if (t >= 10 && t < 12.5)
            for (int k = 0; k < 10; ++k, ++next) {
                m.client_added(next, "spoofed", t);
                ++out.newcomers;
            }
        std::vector<std::pair<std::uint32_t, double>> offered;
        for (std::uint32_t id = 1; id < next; ++id)
            offered.emplace_back(id, id <= 10 ? 100.0 : 20.0);
        const auto obs = through_the_primary(offered, via, capacity);
        for (const auto& o : obs)
            if (o.id <= 10)
                out.well_behaved_lost += o.primary_drop_pps * tick;
        for (const auto& a : m.tick(t, obs)) {
            if (a.what == action::kind::newcomers)
                out.newcomers_to_shadow = out.newcomers_to_shadow || a.via == path::shadow;
            if (a.what != action::kind::route)
                continue;
            via[a.id] = a.via;
            if (a.id <= 10 && a.via == path::shadow)
                ++out.steady_switched;
        }
    }
    for (std::uint32_t id = 11; id < next; ++id)
        out.newcomers_on_shadow += via[id] == path::shadow;
    return out;
}

} // namespace

TEST(snm, a_flood_of_new_sources_goes_to_the_shadow_before_the_primary_overflows)
{
    const auto pred = flood(snm_policy::predictive);
    const auto reac = flood(snm_policy::reactive);
    const auto off = flood(snm_policy::off);
    EXPECT_TRUE(pred.newcomers_to_shadow);
    EXPECT_EQ(pred.steady_switched, 0U) << "the steady clients stay on the primary";
    // The flood never stops: only what fits under the low watermark (1 050
    // pps, 50 over the steady load: a few 20 pps sources) may come back.
    EXPECT_GE(pred.newcomers_on_shadow + 10, pred.newcomers);
    EXPECT_GT(pred.newcomers_on_shadow, 0U);
    EXPECT_GT(off.well_behaved_lost, 0.0);
    EXPECT_LT(pred.well_behaved_lost * 10, reac.well_behaved_lost + 1e-9)
        << "predictive " << pred.well_behaved_lost << " reactive " << reac.well_behaved_lost;
}

TEST(snm, overcommit_serves_priority_first_then_clients_on_the_shadow_then_the_smaller_need)
{
    // A shadow of 250 pps; clients 1 and 2 want 100, client 3 wants 200, and
    // client 4, on the shadow now, 100 (constant demand, no headroom: each
    // wants exactly its rate).
    snm_config cfg;
    cfg.headroom = 1.0;
    manager m(cfg, tick, [](std::uint16_t) { return rate_spec{}; }, [](std::uint16_t) { return rate_spec{250, 0}; });
    for (std::uint32_t id = 1; id <= 4; ++id)
        m.client_added(id, "10.0.0." + std::to_string(id), 0);
    m.note_route(4, path::shadow, 0, "operator");
    double t = 0;
    std::vector<action> last;
    const auto run = [&](int ticks) {
        for (int k = 0; k < ticks; ++k) {
            t += tick;
            const std::vector<observation> obs{{1, 1, 100, 0, 0, 0, 0},
                                               {2, 1, 100, 0, 0, 0, 0},
                                               {3, 1, 200, 0, 0, 0, 0},
                                               {4, 1, 100, 0, 0, 0, 100}};
            last = m.tick(t, obs);
        }
    };
    const auto granted = [&](std::uint32_t id) { return m.client(id)->res.pps; };
    run(20);
    // All at priority 0: the client on the shadow, then the smaller needs.
    EXPECT_DOUBLE_EQ(granted(4), 100);
    EXPECT_DOUBLE_EQ(granted(1), 100);
    EXPECT_DOUBLE_EQ(granted(2), 50);
    EXPECT_DOUBLE_EQ(granted(3), 0);
    EXPECT_EQ(m.client(3)->priority, 0);

    // Client 3 first: it is served whole, before the client on the shadow,
    // whose budget in the fast path shrinks with its reservation.
    ASSERT_TRUE(m.set_priority(3, 5));
    run(1);
    EXPECT_EQ(m.client(3)->priority, 5);
    EXPECT_DOUBLE_EQ(granted(3), 200);
    EXPECT_DOUBLE_EQ(granted(4), 50);
    EXPECT_DOUBLE_EQ(granted(1), 0);
    EXPECT_DOUBLE_EQ(granted(2), 0);
    bool budget_cut = false;
    for (const auto& a : last)
        budget_cut = budget_cut || (a.what == action::kind::budget && a.id == 4 && a.budget.pps == 50);
    EXPECT_TRUE(budget_cut) << "the fast path must meter client 4 at its new reservation";

    // Two at priority 5: the smaller need first within the priority.
    ASSERT_TRUE(m.set_priority(1, 5));
    run(1);
    EXPECT_DOUBLE_EQ(granted(1), 100);
    EXPECT_DOUBLE_EQ(granted(3), 150);
    EXPECT_DOUBLE_EQ(granted(4), 0);
    EXPECT_DOUBLE_EQ(granted(2), 0);
    EXPECT_GT(m.score().overcommit_ticks, 0U);
    EXPECT_FALSE(m.set_priority(99, 1));
}

namespace {

struct adapt_outcome {
    scores score;
    double upper_sum = 0; // the clients' predicted upper bounds at the end
};

// Ten clients at 100 pps (±3 % noise) on a 1 500 pps primary, the shadow
// unlimited. demand(id, t) multiplies a client's rate; glitch(t) adds drops
// on the primary that no forecast could see (a flaky link); stalled(t) tells
// the manager that a forwarding lcore stalled in that tick.
template <typename Demand, typename Glitch, typename Stalled = bool (*)(double)>
adapt_outcome adapt_run(bool adapt, double seconds, Demand demand, Glitch glitch,
                        Stalled stalled = [](double) { return false; })
{
    snm_config cfg;
    cfg.adapt = adapt;
    cfg.profile_window_s = 3;
    const double capacity = 1500;
    manager m(cfg, tick, [&](std::uint16_t) { return rate_spec{capacity, 0}; },
              [](std::uint16_t) { return rate_spec{}; });
    for (std::uint32_t id = 1; id <= 10; ++id)
        m.client_added(id, "10.0.0." + std::to_string(id), 0);
    std::map<std::uint32_t, path> via;
    std::mt19937 rng(3);
    std::uniform_real_distribution<double> noise(0.97, 1.03);
    for (double t = tick; t <= seconds; t += tick) {
        std::vector<std::pair<std::uint32_t, double>> offered;
        for (std::uint32_t id = 1; id <= 10; ++id)
            offered.emplace_back(id, 100 * noise(rng) * demand(id, t));
        auto obs = through_the_primary(offered, via, capacity);
        for (auto& o : obs)
            if (via[o.id] == path::primary)
                o.primary_drop_pps += glitch(t) ? 5 : 0;
        for (const auto& a : m.tick(t, obs, stalled(t)))
            if (a.what == action::kind::route)
                via[a.id] = a.via;
    }
    adapt_outcome out;
    out.score = m.score();
    for (std::uint32_t id = 1; id <= 10; ++id)
        out.upper_sum += m.client(id)->pred.upper_pps;
    return out;
}

} // namespace

TEST(snm, unforeseen_losses_lower_the_high_watermark_and_raise_the_quantile)
{
    const auto steady = [](std::uint32_t, double) { return 1.0; };
    // Drops on the primary from t = 8 s to 14 s that the forecasts (a steady
    // 1 000 pps on a 1 500 pps primary) did not foresee.
    const auto glitch = [](double t) { return t >= 8 && t < 14; };
    const auto fixed = adapt_run(false, 20, steady, glitch);
    const auto learnt = adapt_run(true, 20, steady, glitch);

    EXPECT_GT(fixed.score.unforeseen_loss_ticks, 50U);
    EXPECT_DOUBLE_EQ(fixed.score.high_watermark, 0.9);
    EXPECT_DOUBLE_EQ(fixed.score.quantile, 0.95);
    EXPECT_EQ(fixed.score.quantile_raises, 0U);

    EXPECT_EQ(learnt.score.unforeseen_loss_ticks, fixed.score.unforeseen_loss_ticks);
    EXPECT_LT(learnt.score.high_watermark, 0.9);
    EXPECT_GE(learnt.score.high_watermark, 0.5) << "bounded";
    EXPECT_NEAR(learnt.score.low_watermark, learnt.score.high_watermark - 0.2, 1e-9) << "the band keeps its width";
    EXPECT_GT(learnt.score.quantile, 0.95);
    EXPECT_LE(learnt.score.quantile, 0.99) << "bounded";
    // One raise per horizon (1 s) of losses at most, not one per tick.
    EXPECT_GE(learnt.score.quantile_raises, 2U);
    EXPECT_LE(learnt.score.quantile_raises, 7U);
    EXPECT_EQ(learnt.score.quantile_cuts, 0U);
    // The same demand, forecast at a higher quantile: wider upper bounds.
    EXPECT_GT(learnt.upper_sum, fixed.upper_sum);
}

TEST(snm, losses_below_capacity_during_a_stall_are_counted_apart_and_not_learned_from)
{
    const auto steady = [](std::uint32_t, double) { return 1.0; };
    const auto window = [](double t) { return t >= 8 && t < 14; };
    // The drops of the test above on a primary at two thirds of its
    // capacity, in ticks in which the fast path stalled: the backlog of a
    // stall, not the demand.
    const auto stalls = adapt_run(true, 20, steady, window, window);
    EXPECT_EQ(stalls.score.unforeseen_loss_ticks, 0U);
    EXPECT_GT(stalls.score.stall_loss_ticks, 50U);
    EXPECT_GT(stalls.score.stall_loss_packets, 0.0);
    EXPECT_DOUBLE_EQ(stalls.score.high_watermark, 0.9);
    EXPECT_DOUBLE_EQ(stalls.score.quantile, 0.95);
    EXPECT_EQ(stalls.score.quantile_raises, 0U);

    // A primary within a bucket of its capacity (1 480 of 1 500 pps) that
    // drops is the demand's, stall or not.
    const auto near_capacity = [](std::uint32_t, double t) { return t >= 8 && t < 14 ? 1.48 : 1.0; };
    const auto full = adapt_run(true, 20, near_capacity, window, window);
    EXPECT_GT(full.score.unforeseen_loss_ticks, 0U);
    EXPECT_GT(full.score.quantile_raises, 0U) << "learned from";
}

TEST(snm, unneeded_switches_with_idle_reservations_raise_the_watermark_and_lower_the_quantile)
{
    // Client 1 ramps to 5x over 0.4 s every 10 s from t = 8 s, then goes
    // silent for 3 s: the predictive policy moves it (its trend says the
    // primary will be constrained), but the primary would never have been
    // over capacity (900 + 500 < 1 500), and on the shadow it is reserved
    // what its surge suggested while it sends nothing.
    const auto spiky = [](std::uint32_t id, double t) {
        if (id != 1 || t < 8)
            return 1.0;
        const double in = std::fmod(t - 8, 10.0);
        if (in < 0.4)
            return 1 + 4 * in / 0.4;
        return in < 3.4 ? 0.0 : 1.0;
    };
    const auto none = [](double) { return false; };
    const auto fixed = adapt_run(false, 70, spiky, none);
    const auto learnt = adapt_run(true, 70, spiky, none);

    EXPECT_EQ(fixed.score.needed, 0U);
    EXPECT_GE(fixed.score.unneeded, 4U);
    EXPECT_DOUBLE_EQ(fixed.score.high_watermark, 0.9);
    EXPECT_DOUBLE_EQ(fixed.score.quantile, 0.95);

    EXPECT_EQ(learnt.score.needed, 0U);
    EXPECT_GE(learnt.score.unneeded, 3U);
    EXPECT_EQ(learnt.score.unforeseen_loss_ticks, 0U);
    EXPECT_GT(learnt.score.high_watermark, 0.9) << "mostly unneeded: switch later";
    EXPECT_LE(learnt.score.high_watermark, 0.98) << "bounded";
    EXPECT_GE(learnt.score.quantile_cuts, 1U);
    EXPECT_LT(learnt.score.quantile, 0.95) << "idle reservations: narrower bounds";
    EXPECT_GE(learnt.score.quantile, 0.8) << "bounded";
    EXPECT_EQ(learnt.score.quantile_raises, 0U);
}

TEST(snm, a_client_that_keeps_coming_back_waits_longer_each_time)
{
    // Half-life 20 s, --min-switch-interval 2 s.
    flap_damping f;
    EXPECT_DOUBLE_EQ(f.wait(0, 20, 2), 2) << "never returned: the interval";
    f.returned(10, 20);
    EXPECT_DOUBLE_EQ(f.wait(15, 20, 2), 4) << "back within a half-life: twice";
    EXPECT_DOUBLE_EQ(f.wait(10 + 40, 20, 2), 2) << "two half-lives later: forgotten";
    f.returned(15, 20);
    EXPECT_DOUBLE_EQ(f.wait(16, 20, 2), 8) << "a second return soon after: four times";
    for (int k = 0; k < 10; ++k)
        f.returned(16, 20);
    EXPECT_DOUBLE_EQ(f.wait(16, 20, 2), 2 * 16) << "at most 2^4";
}

TEST(snm, needed_switches_leave_the_quantile_alone)
{
    // The flash crowd the predictive policy handles without loss: nothing to
    // learn from. Reactive loses packets first: its quantile is raised.
    const auto pred = simulate(snm_policy::predictive, 10, 100, 1500, 30, flash_crowd);
    EXPECT_EQ(pred.score.needed, 1U);
    EXPECT_DOUBLE_EQ(pred.score.quantile, 0.95);
    EXPECT_EQ(pred.score.quantile_cuts + pred.score.quantile_raises, 0U);
    const auto reac = simulate(snm_policy::reactive, 10, 100, 1500, 30, flash_crowd);
    EXPECT_GT(reac.score.unforeseen_loss_ticks, 0U);
    EXPECT_GT(reac.score.quantile, 0.95);
}

TEST(snm, clients_that_leave_together_are_judged_needed_together)
{
    // Clients 1 and 2 each grow from 100 to 400 pps over two seconds at
    // t = 10 s and hold until t = 20 s: 800 + 400 fits the 1 500 pps primary,
    // 800 + 400 + 400 does not. The predictive policy moves both; had it done
    // nothing the primary would have overflowed, so both switches were needed
    // (judged one at a time against the primary plus itself, neither was).
    const auto pair = [](std::uint32_t id, double t) {
        if (id > 2 || t < 10 || t >= 20)
            return 1.0;
        return t < 12 ? 1 + 3 * (t - 10) / 2 : 4.0;
    };
    const auto out = adapt_run(false, 30, pair, [](double) { return false; });
    EXPECT_EQ(out.score.switches_to_shadow, 2U);
    EXPECT_EQ(out.score.needed, 2U);
    EXPECT_EQ(out.score.unneeded, 0U);
}

TEST(snm, clients_on_the_shadow_share_one_margin)
{
    // Forty small clients on the shadow, 20 pps each with +-50 % noise from
    // one tick to the next (a spoofed flood's sources). Each alone needs a
    // wide margin; together their noise mostly cancels, and the port reserves
    // the quantile of their sum, not the sum of their quantiles.
    snm_config cfg;
    cfg.profile_window_s = 3;
    manager m(cfg, tick, [](std::uint16_t) { return rate_spec{}; }, [](std::uint16_t) { return rate_spec{}; });
    constexpr std::uint32_t n = 40;
    for (std::uint32_t id = 1; id <= n; ++id) {
        m.client_added(id, "10.9.0." + std::to_string(id), 0);
        m.note_route(id, path::shadow, 0, "operator");
    }
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> noise(0.5, 1.5);
    double worst = 0, reserved_before = 0;
    int judged = 0, short_ticks = 0;
    for (int k = 1; k <= 400; ++k) {
        std::vector<observation> obs;
        double demand = 0;
        for (std::uint32_t id = 1; id <= n; ++id) {
            const double pps = 20 * noise(rng);
            demand += pps;
            obs.push_back({id, 1, pps, pps * 512, 0, 0, pps});
        }
        // What was reserved last tick is what this tick's demand met.
        if (reserved_before > 0) {
            ++judged;
            short_ticks += demand > reserved_before;
        }
        m.tick(k * tick, obs);
        reserved_before = 0;
        if (k * tick < 6)
            continue; // profiles are built at 3 s; the trackers settle after
        for (std::uint32_t id = 1; id <= n; ++id)
            reserved_before += m.client(id)->res.pps;
        worst = std::max(worst, reserved_before / (20 * n)); // over their mean demand
    }
    // Still a quantile of the sum (p95, plus the headroom): their summed
    // demand seldom exceeds it...
    ASSERT_GT(judged, 300);
    EXPECT_LE(short_ticks, judged / 20);
    // ...and it is far below the sum of their own quantiles, which reserved
    // 1.6-1.7x their mean.
    EXPECT_LE(worst, 1.3);
}

namespace {

// A returning client's recent demand: enough history that both its learners
// are fitted and due for a refit at once.
manager::warm_start noisy_history(std::uint32_t id, std::size_t n)
{
    std::mt19937 rng(id);
    std::normal_distribution<double> noise(0, 5);
    manager::warm_start w;
    for (std::size_t i = 0; i < n; ++i) {
        w.pps.push_back(100 + 10 * std::sin(static_cast<double>(i) / 20) + noise(rng));
        w.bps.push_back(w.pps.back() * 512);
    }
    return w;
}

std::string key_of(const char* prefix, std::uint32_t id)
{
    std::string k(prefix);
    k += std::to_string(id);
    return k;
}

std::vector<observation> steady_obs(std::uint32_t first, std::uint32_t last, std::mt19937& rng)
{
    std::normal_distribution<double> noise(0, 5);
    std::vector<observation> obs;
    for (std::uint32_t id = first; id <= last; ++id) {
        observation o;
        o.id = id;
        o.egress = 1;
        o.pps = 100 + noise(rng);
        o.bps = o.pps * 512;
        obs.push_back(o);
    }
    return obs;
}

} // namespace

TEST(snm, refits_run_in_the_background_with_a_bound_in_flight)
{
    // 300 returning clients: 600 learners due at once. Each tick hands at
    // most 64 jobs to the pool and never waits for them; with the pool done
    // between ticks (wait_refits stands for the 100 ms a tick leaves it),
    // every learner is refitted within ten ticks, each outcome applied at
    // the start of the tick after it was taken.
    snm_config cfg;
    manager m(cfg, tick, [](std::uint16_t) { return rate_spec{}; }, [](std::uint16_t) { return rate_spec{}; },
              {{}, true});
    constexpr std::uint32_t n = 300;
    for (std::uint32_t id = 1; id <= n; ++id) {
        const auto h = noisy_history(id, 300);
        m.client_added(id, key_of("c", id), 0, &h);
    }
    std::mt19937 rng(3);
    std::uint64_t submitted = 0;
    for (int k = 1; k <= 12; ++k) {
        m.tick(k * tick, steady_obs(1, n, rng));
        const auto r = m.refits();
        EXPECT_LE(r.submitted - submitted, 64U) << "tick " << k;
        EXPECT_LE(r.in_flight, 64U) << "tick " << k;
        if (k == 1) {
            EXPECT_EQ(r.submitted, 64U) << "the first tick fills the bound";
        }
        submitted = r.submitted;
        m.wait_refits();
    }
    const auto r = m.refits();
    EXPECT_EQ(r.submitted, 2U * n);
    EXPECT_EQ(r.applied, 2U * n);
    EXPECT_EQ(r.discarded, 0U);
    EXPECT_EQ(r.in_flight, 0U);
    for (std::uint32_t id = 1; id <= n; ++id)
        ASSERT_TRUE(m.client(id)->pred.valid);
}

TEST(snm, removing_a_client_with_refits_in_flight_is_safe)
{
    // 30 returning clients' 60 refits go to the pool; 10 clients are removed
    // while they run, and 5 of them come back at once under the same id. The
    // outcomes of the removed ones are dropped, not given to the newcomers
    // (whose learners are refitted on their own jobs next tick).
    snm_config cfg;
    manager m(cfg, tick, [](std::uint16_t) { return rate_spec{}; }, [](std::uint16_t) { return rate_spec{}; },
              {{}, true});
    for (std::uint32_t id = 1; id <= 30; ++id) {
        const auto h = noisy_history(id, 300);
        m.client_added(id, key_of("c", id), 0, &h);
    }
    std::mt19937 rng(4);
    m.tick(tick, steady_obs(1, 30, rng));
    EXPECT_EQ(m.refits().submitted, 60U);
    for (std::uint32_t id = 1; id <= 10; ++id)
        m.client_removed(id);
    for (std::uint32_t id = 1; id <= 5; ++id) {
        const auto h = noisy_history(id + 100, 300);
        m.client_added(id, key_of("again", id), tick, &h);
    }
    m.wait_refits();
    m.tick(2 * tick, steady_obs(1, 30, rng));
    auto r = m.refits();
    EXPECT_EQ(r.applied, 40U);
    EXPECT_EQ(r.discarded, 20U);
    EXPECT_EQ(r.submitted, 70U) << "the returning five's own refits";
    m.wait_refits();
    m.tick(3 * tick, steady_obs(1, 30, rng));
    r = m.refits();
    EXPECT_EQ(r.applied, 50U);
    EXPECT_EQ(r.discarded, 20U);
    // And a manager destroyed with refits in flight waits for them.
    for (std::uint32_t id = 1; id <= 30; ++id)
        m.client_removed(id);
    auto m2 = std::make_unique<manager>(cfg, tick, [](std::uint16_t) { return rate_spec{}; },
                                        [](std::uint16_t) { return rate_spec{}; }, refit_setup{{}, true});
    for (std::uint32_t id = 1; id <= 30; ++id) {
        const auto h = noisy_history(id, 300);
        m2->client_added(id, key_of("c", id), 0, &h);
    }
    m2->tick(tick, steady_obs(1, 30, rng));
    EXPECT_GT(m2->refits().submitted, 0U);
    m2.reset();
}
