#include "shadownet/snm/manager.hpp"

#include "shadownet/forecast/intervals.hpp"
#include "shadownet/forecast/refit_pool.hpp"

#include <algorithm>
#include <chrono>
#include <utility>
#include <cmath>
#include <limits>

namespace shadownet::snm {

namespace {

constexpr std::size_t route_history_kept = 32;
// A client is moved for its own surge only if its demand is predicted (or,
// reactive, measured) this far above its normal; otherwise only when the
// primary would be over capacity outright, the biggest grower first.
constexpr double surge_ratio = 1.5;
// A switch is judged "needed" if, within this many horizons, the primary would
// have carried more than its capacity had the client stayed.
constexpr double judge_horizons = 5;
constexpr double judge_min_s = 5;
// Refits (a fit over the window, about a millisecond a series) run in the
// background on a TBB arena pinned to the control cpuset (refit_some): at
// most this many jobs in flight, so a burst of due clients (made in the same
// second) is spread over ticks and the memory held by jobs stays bounded.
constexpr std::size_t refit_in_flight = 64;
// The refit threads' nice value: the control thread sharing their CPUs gets
// about nine tenths of them when both want to run (CFS weights 1024 : 110).
constexpr int refit_nice = 10;
// A reservation on the shadow is resized every tick: it covers this many.
constexpr std::uint32_t reserve_ticks = 2;
// Quantile adaptation (adapt(), docs/shadow-manager.md "Score and adapt").
// An unforeseen loss moves the quantile a quarter of the way to its ceiling,
// at most once per horizon (the ticks of one overload are one event, and a
// new quantile needs a horizon to show in the forecasts); a run of unneeded
// switches in a row, while the shadow's clients were reserved far more than
// they used, takes a step down. Raised fast, lowered slowly: a loss costs
// packets, an idle reservation only capacity.
constexpr double quantile_ceiling = 0.99;
constexpr double quantile_floor = 0.8;
constexpr double quantile_raise_share = 0.25;
constexpr double quantile_cut = 0.01;
constexpr std::uint32_t quantile_unneeded_run = 3;
constexpr double quantile_idle_ratio = 2.0; // reserved over used on the shadow: "far more"
// Flap damping (flap_damping): the penalty's half-life, in
// --min-switch-interval.
constexpr double flap_half_life_intervals = 10;


double utilisation(double pps, double bps, const rate_spec& cap) noexcept
{
    double u = 0;
    if (cap.pps > 0)
        u = std::max(u, pps / cap.pps);
    if (cap.bps > 0)
        u = std::max(u, bps / cap.bps);
    return u;
}

bool limited(const rate_spec& cap) noexcept
{
    return cap.pps > 0 || cap.bps > 0;
}

// q: the manager's quantile now (it adapts; see adapt()).
forecast::learner_options learner_options_for(double q, std::uint32_t horizon)
{
    forecast::learner_options o;
    o.model = forecast::models::damped();
    o.horizon = std::max<std::uint32_t>(1, horizon);
    o.capacity_q = q;
    o.level = std::min(0.99, 2 * q - 1);
    o.warmup = 10;
    o.window = 300;
    o.refit_every = 100;
    o.residual_window = 50; // a surge's errors widen the quantile for ~5 s, not minutes
    o.defer_refits = true;  // the manager runs them in the background (refit_some)
    return o;
}

} // namespace

const char* name_of(client_class c) noexcept
{
    switch (c) {
    case client_class::learning: return "learning";
    case client_class::steady: return "steady";
    case client_class::bursty: return "bursty";
    case client_class::periodic: return "periodic";
    case client_class::suspicious: return "suspicious";
    }
    return "?";
}

struct manager::client_state {
    std::uint32_t id = 0;
    std::string key;
    double created_s = 0;
    path via = path::primary;
    int priority = 0; // the operator's (set_priority): the reservation order's first key
    double last_switch_s = -std::numeric_limits<double>::infinity();
    std::uint32_t calm_ticks = 0; // ticks in a row the return condition held
    flap_damping flaps; // its returns: how long its next return waits
    std::deque<route_event> history;
    std::uint16_t egress = 0;
    observation last;
    bool seen = false;

    // Profile accumulators over the first window.
    std::vector<double> window_pps;
    double sum_bps = 0, peak_bps = 0;
    profile prof;

    forecast::series_learner pps_model, bps_model;
    trend_tracker pps_trend, bps_trend;
    prediction pred;
    reservation res;
    rate_spec applied_budget{-1, -1};

    client_state(const forecast::learner_options& o) : pps_model(o), bps_model(o) {}
    [[nodiscard]] double baseline_pps() const noexcept
    {
        if (prof.kind != client_class::learning)
            return prof.mean_pps;
        double s = 0;
        for (const double v : window_pps)
            s += v;
        return window_pps.empty() ? 0 : s / static_cast<double>(window_pps.size());
    }
};

struct manager::pending_switch {
    std::uint32_t id;
    std::uint16_t port;
    double at_s;
};

manager::manager(const snm_config& cfg, double tick_s, capacity_fn primary, capacity_fn shadow, refit_setup refits)
    : cfg_(cfg), tick_s_(tick_s), primary_cap_(std::move(primary)), shadow_cap_(std::move(shadow)),
      refit_pool_(std::make_unique<forecast::refit_pool>(std::move(refits.cpus), 0, refit_nice)),
      refits_background_(refits.background)
{
    horizon_ticks_ = static_cast<std::uint32_t>(std::max(1.0, std::round(cfg.horizon_s / tick_s)));
    sustain_ticks_ = static_cast<std::uint32_t>(std::max(1.0, std::round(cfg.sustain_s / tick_s)));
    return_ticks_ = std::max(sustain_ticks_, horizon_ticks_);
    scores_.high_watermark = cfg.high_watermark;
    scores_.low_watermark = cfg.low_watermark;
    scores_.quantile = cfg.quantile;
}

manager::~manager() = default;

std::size_t manager::size() const noexcept
{
    return clients_.size();
}

void manager::client_added(std::uint32_t id, std::string key, double now_s, const warm_start* history)
{
    auto c = std::make_unique<client_state>(learner_options_for(scores_.quantile, horizon_ticks_));
    c->id = id;
    c->key = std::move(key);
    c->created_s = now_s;
    if (history != nullptr) {
        // A client we have seen before: its profile is known at once (no
        // learning window), and its forecasts start from its recent demand.
        if (history->prof && history->prof->kind != client_class::learning)
            c->prof = *history->prof;
        for (const double v : history->pps) {
            c->pps_model.observe(v);
            c->pps_trend.update(v);
        }
        for (const double v : history->bps) {
            c->bps_model.observe(v);
            c->bps_trend.update(v);
        }
    }
    clients_[id] = std::move(c);
}

std::vector<std::pair<std::uint32_t, profile>> manager::take_new_profiles()
{
    return std::exchange(new_profiles_, {});
}

void manager::client_removed(std::uint32_t id)
{
    clients_.erase(id);
    std::erase_if(pending_, [id](const pending_switch& p) { return p.id == id; });
}

bool manager::set_priority(std::uint32_t id, int priority)
{
    const auto it = clients_.find(id);
    if (it == clients_.end())
        return false;
    it->second->priority = priority;
    return true;
}

void manager::note_route(std::uint32_t id, path via, double now_s, const std::string& reason)
{
    const auto it = clients_.find(id);
    if (it == clients_.end())
        return;
    client_state& c = *it->second;
    if (c.via == via)
        return;
    c.via = via;
    c.last_switch_s = now_s;
    c.calm_ticks = 0;
    c.history.push_back({now_s, via, reason});
    if (c.history.size() > route_history_kept)
        c.history.pop_front();
}

void manager::update_profile(client_state& c, const observation& o, double now_s)
{
    if (c.prof.kind != client_class::learning)
        return;
    c.window_pps.push_back(o.pps);
    c.sum_bps += o.bps;
    c.peak_bps = std::max(c.peak_bps, o.bps);
    c.prof.observed_s = now_s - c.created_s;
    if (c.prof.observed_s < cfg_.profile_window_s || c.window_pps.size() < 3)
        return;
    const auto n = static_cast<double>(c.window_pps.size());
    double sum = 0, sumsq = 0, peak = 0;
    for (const double v : c.window_pps) {
        sum += v;
        sumsq += v * v;
        peak = std::max(peak, v);
    }
    profile& p = c.prof;
    p.mean_pps = sum / n;
    p.peak_pps = peak;
    std::vector<double> sorted = c.window_pps;
    std::sort(sorted.begin(), sorted.end());
    p.p95_pps = sorted[static_cast<std::size_t>(std::floor(0.95 * (n - 1)))];
    p.mean_bps = c.sum_bps / n;
    p.peak_bps = c.peak_bps;
    p.cv = p.mean_pps > 0 ? std::sqrt(std::max(0.0, sumsq / n - p.mean_pps * p.mean_pps)) / p.mean_pps : 0;
    p.mean_packet_bytes = p.mean_pps > 0 ? p.mean_bps / 8 / p.mean_pps : 0;
    // Growing all through its first window (the last quarter well above the
    // first): a ramp, the shape of an attack or a runaway; otherwise by spread.
    const std::size_t q = sorted.size() / 4;
    double first = 0, last = 0;
    for (std::size_t i = 0; i < q; ++i) {
        first += c.window_pps[i];
        last += c.window_pps[c.window_pps.size() - 1 - i];
    }
    if (q > 0 && last > 3 * first && last > 0)
        p.kind = client_class::suspicious;
    else if (p.cv > 0.5 || (p.mean_pps > 0 && p.peak_pps > 3 * p.mean_pps))
        p.kind = client_class::bursty;
    else
        p.kind = client_class::steady;
    new_profiles_.emplace_back(c.id, p);
    c.window_pps.clear();
    c.window_pps.shrink_to_fit();
}

void manager::observe(client_state& c, const observation& o, double now_s)
{
    c.last = o;
    c.egress = o.egress;
    c.seen = true;
    update_profile(c, o, now_s);
    c.pps_model.observe(o.pps);
    c.bps_model.observe(o.bps);
    c.pps_trend.update(o.pps);
    c.bps_trend.update(o.bps);

    prediction& p = c.pred;
    if (c.prof.kind == client_class::learning) {
        // A client's first seconds are its arrival, not a surge: its ramp
        // from nothing would extrapolate to a phantom flood. Until its
        // profile is built it counts at what it does now.
        p.valid = true;
        p.mean_pps = p.upper_pps = o.pps;
        p.mean_bps = p.upper_bps = o.bps;
        return;
    }
    const auto& lp = c.pps_model.current();
    const auto& lb = c.bps_model.current();
    const double fast_pps = c.pps_trend.ahead(horizon_ticks_);
    const double fast_bps = c.bps_trend.ahead(horizon_ticks_);
    p.valid = true;
    if (lp.valid) {
        p.mean_pps = std::max(lp.mean, fast_pps);
        p.upper_pps = std::max({lp.capacity, fast_pps, p.mean_pps});
    } else {
        p.mean_pps = std::max(o.pps, fast_pps);
        p.upper_pps = p.mean_pps;
    }
    if (lb.valid) {
        p.mean_bps = std::max(lb.mean, fast_bps);
        p.upper_bps = std::max({lb.capacity, fast_bps, p.mean_bps});
    } else {
        p.mean_bps = std::max(o.bps, fast_bps);
        p.upper_bps = p.mean_bps;
    }
}

std::string manager::fmt_reason(const char* why, const char* who)
{
    return std::string(why) + " (" + who + ")";
}

void manager::switch_client(client_state& c, path via, double now_s, std::string reason, std::vector<action>& out)
{
    if (via == path::shadow) {
        // Its reservation goes in before its packets do.
        const rate_spec b{std::max(1.0, c.res.pps), c.res.bps > 0 ? c.res.bps : 0};
        action a;
        a.what = action::kind::budget;
        a.id = c.id;
        a.budget = b;
        out.push_back(a);
        c.applied_budget = b;
        ++scores_.switches_to_shadow;
        pending_.push_back({c.id, c.egress, now_s});
    } else {
        ++scores_.returns;
        c.flaps.returned(now_s, flap_half_life_s());
        // Returned before the primary would have overflowed: not needed.
        const auto before = pending_.size();
        std::erase_if(pending_, [&](const pending_switch& p) { return p.id == c.id; });
        for (auto n = before - pending_.size(); n > 0; --n)
            judged(false);
    }
    action a;
    a.what = action::kind::route;
    a.id = c.id;
    a.via = via;
    a.reason = reason;
    out.push_back(a);
    note_route(c.id, via, now_s, reason);
}

double manager::flap_half_life_s() const noexcept
{
    return flap_half_life_intervals * std::max(cfg_.min_interval_s, tick_s_);
}

void manager::decide_port(std::uint16_t port, double now_s, std::vector<action>& out)
{
    port_view& pv = ports_[port];
    const rate_spec cap = pv.primary_capacity;
    if (!limited(cap) || cfg_.policy == snm_policy::off)
        return;
    const bool predictive = cfg_.policy == snm_policy::predictive;
    const double hi = scores_.high_watermark;
    const double lo = scores_.low_watermark;

    // The primary's load as the policy sees it: predicted (means plus the
    // independent spread of the clients' upper quantiles) or measured.
    struct load {
        double mean_pps = 0, var_pps = 0, mean_bps = 0, var_bps = 0;
        void add(const client_state& c, bool pred, double sign = 1)
        {
            if (pred) {
                mean_pps += sign * c.pred.mean_pps;
                var_pps += sign * std::pow(c.pred.upper_pps - c.pred.mean_pps, 2);
                mean_bps += sign * c.pred.mean_bps;
                var_bps += sign * std::pow(c.pred.upper_bps - c.pred.mean_bps, 2);
            } else {
                mean_pps += sign * c.last.pps;
                mean_bps += sign * c.last.bps;
            }
        }
        [[nodiscard]] double util(const rate_spec& cap) const
        {
            return utilisation(mean_pps + std::sqrt(std::max(0.0, var_pps)),
                               mean_bps + std::sqrt(std::max(0.0, var_bps)), cap);
        }
    };
    // Newcomers (clients still learning) count as one group: each is too
    // young to forecast, but together their demand is a series like any
    // other, and a flood of new sources (a spoofed SYN ramp) is a surge of it.
    // A flood is new sources joining an established population: while every
    // client on the port is new (traffic is just starting) there is no group.
    newcomer_state& ng = newcomers_[port];
    bool settled = false;
    for (const auto& [id, cp] : clients_)
        if (cp->seen && cp->egress == port && cp->prof.kind != client_class::learning) {
            settled = true;
            break;
        }
    load primary;
    double primary_drops = 0, newcomers_primary_pps = 0, newcomers_primary_bps = 0;
    std::vector<client_state*> on_primary, on_shadow, newcomers_on_primary;
    for (auto& [id, cp] : clients_) {
        client_state& c = *cp;
        if (!c.seen || c.egress != port)
            continue;
        if (c.via == path::primary) {
            primary.add(c, predictive);
            primary_drops += c.last.primary_drop_pps;
            on_primary.push_back(&c);
            if (c.prof.kind == client_class::learning) {
                newcomers_on_primary.push_back(&c);
                newcomers_primary_pps += c.last.pps;
                newcomers_primary_bps += c.last.bps;
            }
        } else {
            on_shadow.push_back(&c);
        }
    }
    // The newcomers' predicted growth lands on the primary unless they are
    // being sent to the shadow already.
    double newcomer_growth = 0;
    if (predictive && settled && !ng.to_shadow) {
        newcomer_growth = std::max(0.0, ng.pps.ahead(horizon_ticks_) - ng.pps.level);
        const double bytes_per_packet = newcomers_primary_pps > 0 ? newcomers_primary_bps / newcomers_primary_pps : 0;
        primary.mean_pps += newcomer_growth;
        primary.mean_bps += newcomer_growth * bytes_per_packet;
    }
    // Predictive acts when the forecast crosses the high watermark; reactive,
    // like the seed's `ON resource_threshold_exceeded`, when the resource is
    // exceeded: the measured load is over the capacity or the primary drops.
    const double util = primary.util(cap);
    const bool over = predictive ? util > hi : (util > 1.0 || primary_drops > 0);
    std::uint32_t& streak = constrained_for_[port];
    streak = over ? streak + 1 : 0;
    pv.constrained = over;
    const char* why = predictive ? "predicted primary over high watermark" : "measured primary over high watermark";

    // While newcomers go to the shadow, so does every client that arrives.
    if (ng.to_shadow)
        for (client_state* c : newcomers_on_primary) {
            primary.add(*c, predictive, -1);
            switch_client(*c, path::shadow, now_s, "newcomer while the primary is constrained", out);
        }

    if (streak >= sustain_ticks_) {
        // Move the clients whose demand grew most beyond their own normal,
        // until the rest fits under the middle of the two watermarks. The
        // newcomers as a group compete with their predicted total.
        const auto surge = [&](const client_state& c) {
            const double now_pps = predictive ? c.pred.upper_pps : c.last.pps;
            return now_pps - c.baseline_pps();
        };
        std::sort(on_primary.begin(), on_primary.end(),
                  [&](const client_state* a, const client_state* b) { return surge(*a) > surge(*b); });
        const double target = (hi + lo) / 2;
        const bool overflow = util > 1.0;
        const double group_surge =
            settled && !ng.to_shadow && !newcomers_on_primary.empty() ? newcomers_primary_pps + newcomer_growth : 0;
        load rest = primary;
        const auto move_newcomers = [&] {
            ng.to_shadow = true;
            rest.mean_pps -= newcomer_growth;
            for (client_state* c : newcomers_on_primary) {
                rest.add(*c, predictive, -1);
                switch_client(*c, path::shadow, now_s, fmt_reason(why, "newcomers"), out);
            }
        };
        bool group_moved = false;
        for (client_state* c : on_primary) {
            if (rest.util(cap) <= target)
                break;
            if (c->via != path::primary)
                continue; // moved with the newcomers
            if (!group_moved && group_surge > 0 && group_surge >= surge(*c)) {
                move_newcomers();
                group_moved = true;
                if (rest.util(cap) <= target)
                    break;
            }
            if (c->prof.kind == client_class::learning && !overflow)
                continue; // not yet known what is normal for it
            const double own = surge(*c);
            const bool surging = own > (surge_ratio - 1) * c->baseline_pps() && own > 0;
            if (!(surging || (overflow && own > 0)) || now_s - c->last_switch_s < cfg_.min_interval_s)
                continue;
            rest.add(*c, predictive, -1);
            switch_client(*c, path::shadow, now_s, why, out);
        }
        if (!group_moved && group_surge > 0 && rest.util(cap) > target)
            move_newcomers();
        return;
    }
    // Back to the primary, the smallest first, as many as fit: each returns
    // only if the primary with it (and those returned before it this tick)
    // stays below the low watermark. The same measure as the switch, so that
    // low < high really is a hysteresis band: a surge's errors widen a
    // client's upper quantile for as long as they are in its residual window
    // (a few seconds), which keeps it on the shadow until its demand has been
    // ordinary for that long.
    std::sort(on_shadow.begin(), on_shadow.end(), [](const client_state* a, const client_state* b) {
        return a->pred.upper_pps < b->pred.upper_pps;
    });
    load with = primary;
    bool newcomers_back = ng.to_shadow;
    for (client_state* c : on_shadow) {
        load tried = with;
        tried.add(*c, predictive);
        const bool calm = tried.util(cap) <= lo;
        c->calm_ticks = calm ? c->calm_ticks + 1 : 0;
        if (c->prof.kind == client_class::learning && ng.to_shadow) {
            newcomers_back = newcomers_back && calm;
            continue; // newcomers come back as a group, below
        }
        const double wait_s = c->flaps.wait(now_s, flap_half_life_s(), cfg_.min_interval_s);
        if (calm && c->calm_ticks >= return_ticks_ && now_s - c->last_switch_s >= wait_s) {
            switch_client(*c, path::primary, now_s, "primary below low watermark", out);
            with = tried;
        }
    }
    if (ng.to_shadow) {
        ng.calm_ticks = newcomers_back ? ng.calm_ticks + 1 : 0;
        if (ng.calm_ticks >= return_ticks_ && now_s - ng.since_s >= cfg_.min_interval_s) {
            ng.to_shadow = false;
            ng.calm_ticks = 0;
        }
    }
}

void manager::reserve_port(std::uint16_t port, std::vector<action>& out)
{
    port_view& pv = ports_[port];
    const rate_spec cap = pv.shadow_capacity;
    std::vector<client_state*> mine;
    for (auto& [id, cp] : clients_)
        if (cp->seen && cp->egress == port)
            mine.push_back(cp.get());
    // The order when the shadow cannot hold every reservation
    // (docs/shadow-manager.md, "Reserve"): priority, higher first (the
    // operator's word); then, within a priority, clients on the shadow now
    // (they use it: shorting them drops their packets now, shorting the rest
    // only a promise); then the smaller predicted need first, so that an
    // overcommit leaves the fewest clients short. Ties by id, so the order
    // is the same every tick.
    std::sort(mine.begin(), mine.end(), [](const client_state* a, const client_state* b) {
        if (a->priority != b->priority)
            return a->priority > b->priority;
        if ((a->via == path::shadow) != (b->via == path::shadow))
            return a->via == path::shadow;
        if (a->pred.upper_pps != b->pred.upper_pps)
            return a->pred.upper_pps < b->pred.upper_pps;
        return a->id < b->id;
    });
    double left_pps = cap.pps > 0 ? cap.pps : std::numeric_limits<double>::infinity();
    double left_bps = cap.bps > 0 ? cap.bps : std::numeric_limits<double>::infinity();
    double wanted = 0, reserved = 0, used = 0;
    // A client on the primary is reserved its horizon's upper quantile: it may
    // have to move at any tick. One on the shadow has its reservation resized
    // every tick, so it needs only the next ticks' upper bound (the surge
    // tracker's, at the same quantile): the horizon's quantile, widened by the
    // errors of the surge that brought it there, would reserve several times
    // what it uses.
    const double z = forecast::normal_quantile(scores_.quantile);
    const auto tracked = [](const client_state* c) {
        return c->via == path::shadow && c->prof.kind != client_class::learning;
    };
    // The shadow's clients share one margin: the quantile of their summed
    // demand is their summed means plus z times the root of their summed
    // variances (independent errors, as for the primary's load in
    // decide_port), not the sum of their own quantiles. Each client's margin
    // is scaled by pooled / summed (1 for a client alone), so the port
    // reserves the pooled quantile. A spoofed flood's thousands of 15 pps
    // sources, each noisy from one tick to the next, were reserved twice
    // what they used between them. A client above its share is metered with
    // a bucket of at least an RX burst (dataplane::token_meter), which takes
    // up a small client's noise.
    double margin_sum_pps = 0, margin_sq_pps = 0, margin_sum_bps = 0, margin_sq_bps = 0;
    for (const client_state* c : mine)
        if (tracked(c)) {
            const double mp = c->pps_trend.near_margin(z), mb = c->bps_trend.near_margin(z);
            margin_sum_pps += mp;
            margin_sq_pps += mp * mp;
            margin_sum_bps += mb;
            margin_sq_bps += mb * mb;
        }
    const double pool_pps = margin_sum_pps > 0 ? std::sqrt(margin_sq_pps) / margin_sum_pps : 1;
    const double pool_bps = margin_sum_bps > 0 ? std::sqrt(margin_sq_bps) / margin_sum_bps : 1;
    for (client_state* c : mine) {
        reservation& r = c->res;
        const bool on_shadow = tracked(c);
        r.wanted_pps = (on_shadow ? c->pps_trend.near_mean(reserve_ticks) + pool_pps * c->pps_trend.near_margin(z)
                                  : c->pred.upper_pps) *
                       cfg_.headroom;
        const double wanted_bps =
            (on_shadow ? c->bps_trend.near_mean(reserve_ticks) + pool_bps * c->bps_trend.near_margin(z)
                       : c->pred.upper_bps) *
            cfg_.headroom;
        r.pps = std::min(r.wanted_pps, left_pps);
        r.bps = std::min(wanted_bps, left_bps);
        left_pps -= r.pps;
        left_bps -= r.bps;
        wanted += r.wanted_pps;
        reserved += r.pps;
        if (c->via == path::shadow) {
            used += c->last.shadow_tx_pps;
            ++pv.clients_on_shadow;
            // Keep the fast path's budget in step, without rewriting it for noise.
            const rate_spec b{std::max(1.0, r.pps), r.bps};
            const auto moved = [](double a, double b2) { return std::abs(a - b2) > 0.05 * std::max(a, b2); };
            if (moved(b.pps, c->applied_budget.pps) || moved(b.bps, c->applied_budget.bps)) {
                action a;
                a.what = action::kind::budget;
                a.id = c->id;
                a.budget = b;
                out.push_back(a);
                c->applied_budget = b;
            }
        }
    }
    pv.shadow_wanted_pps = wanted;
    pv.shadow_reserved_pps = reserved;
    pv.shadow_used_pps = used;
    if (limited(cap) && wanted > reserved * 1.0000001)
        ++scores_.overcommit_ticks;
}

void manager::score_tick(double now_s, bool fast_path_stalled)
{
    // Per port: the primary's load after this tick's decisions, its drops
    // during the tick, and the shadow's use.
    std::map<std::uint16_t, double> primary_pps, primary_loss;
    double shadow_used = 0, shadow_reserved = 0;
    for (auto& [id, cp] : clients_) {
        const client_state& c = *cp;
        if (!c.seen)
            continue;
        if (c.via == path::primary)
            primary_pps[c.egress] += c.last.pps;
        primary_loss[c.egress] += c.last.primary_drop_pps * tick_s_;
        if (c.via == path::shadow) {
            shadow_used += c.last.shadow_tx_pps;
            shadow_reserved += c.res.pps;
        }
    }
    // Drops the manager learns from (adapt()): the primary carried about all
    // it can this tick — its measured load within one bucket of its capacity
    // — or the fast path ran without a stall (a flaky link drops below
    // capacity, and only moving clients off it helps). A primary well below
    // its capacity that drops while a forwarding lcore stalled met the
    // backlog of the stall, faster than its bucket drains: not in the
    // demand, and no watermark or quantile would have avoided it.
    double learnt = 0, stalled = 0;
    for (const auto& [port, lost] : primary_loss) {
        if (lost <= 0)
            continue;
        const port_view& pv = ports_[port];
        const rate_spec cap = pv.primary_capacity;
        const double bucket_s = cfg_.capacity_burst_ms / 1000;
        const auto within_a_bucket = [&](double load, double limit) {
            return limit > 0 && load * tick_s_ >= limit * (tick_s_ - bucket_s);
        };
        const bool at_capacity = !limited(cap) || within_a_bucket(pv.measured_pps, cap.pps) ||
                                 within_a_bucket(pv.measured_bps, cap.bps);
        (at_capacity || !fast_path_stalled ? learnt : stalled) += lost;
    }
    if (cfg_.policy != snm_policy::off) {
        if (learnt > 0) {
            ++scores_.unforeseen_loss_ticks;
            scores_.unforeseen_loss_packets += learnt;
        }
        if (stalled > 0) {
            ++scores_.stall_loss_ticks;
            scores_.stall_loss_packets += stalled;
        }
    }
    if (shadow_used > scores_.peak_shadow_used_pps) {
        scores_.peak_shadow_used_pps = shadow_used;
        scores_.reserved_at_peak_pps = shadow_reserved;
    }
    if (shadow_reserved > 0 || shadow_used > 0) {
        run_reserved_pps_ += shadow_reserved;
        run_used_pps_ += shadow_used;
    }
    // A pending switch is needed once the primary would have been over
    // capacity had the manager done nothing: the primary plus every client
    // moved off it whose switch is still pending (on the shadow, not judged
    // yet). Judging each against the primary plus itself alone called
    // clients that left together unneeded whenever no single one of them
    // would have overflowed it: every source of a spoofed flood, and the
    // diurnal clients that went out at the same tick. Unneeded if that
    // never happens in its window.
    std::map<std::uint16_t, double> moved_pps;
    for (const pending_switch& p : pending_) {
        const auto it = clients_.find(p.id);
        if (it != clients_.end() && it->second->via == path::shadow)
            moved_pps[p.port] += it->second->last.pps;
    }
    const double window = std::max(judge_min_s, judge_horizons * cfg_.horizon_s);
    std::erase_if(pending_, [&](const pending_switch& p) {
        const auto it = clients_.find(p.id);
        if (it == clients_.end())
            return true;
        const rate_spec cap = ports_[p.port].primary_capacity;
        const double would = primary_pps[p.port] + moved_pps[p.port];
        if (cap.pps > 0 && would > cap.pps) {
            judged(true);
            scores_.lead_time_sum_s += now_s - p.at_s;
            return true;
        }
        if (now_s - p.at_s > window) {
            judged(false);
            return true;
        }
        return false;
    });
}

void manager::judged(bool needed)
{
    if (needed) {
        ++scores_.needed;
        // A needed switch ends a run of unneeded ones, and what was reserved
        // during it is no evidence against the quantile.
        unneeded_run_ = 0;
        run_reserved_pps_ = run_used_pps_ = 0;
    } else {
        ++scores_.unneeded;
        ++unneeded_run_;
    }
}

void manager::set_quantile(double q)
{
    if (q == scores_.quantile)
        return;
    scores_.quantile = q;
    // Every client's learned upper bound, from its next forecast; the surge
    // tracker's bound and new clients read scores_.quantile directly.
    for (auto& [id, c] : clients_) {
        c->pps_model.set_capacity_quantile(q);
        c->bps_model.set_capacity_quantile(q);
    }
}

void manager::adapt(double now_s)
{
    if (!cfg_.adapt || cfg_.policy == snm_policy::off)
        return;
    const double gap = cfg_.high_watermark - cfg_.low_watermark;
    // Losses it did not foresee: act earlier. Mostly unneeded switches: later.
    const bool new_losses = scores_.unforeseen_loss_ticks > loss_ticks_at_adapt_;
    if (new_losses) {
        scores_.high_watermark = std::max(0.5, scores_.high_watermark - 0.02);
        loss_ticks_at_adapt_ = scores_.unforeseen_loss_ticks;
    }
    const std::uint64_t judged = scores_.needed + scores_.unneeded;
    if (judged >= judged_at_adapt_ + 4) {
        const double recent_unneeded = static_cast<double>(scores_.unneeded) / static_cast<double>(judged);
        if (recent_unneeded > 0.5)
            scores_.high_watermark = std::min(0.98, scores_.high_watermark + 0.02);
        judged_at_adapt_ = judged;
    }
    scores_.low_watermark = std::max(0.0, scores_.high_watermark - gap);

    // The quantile, within [min(floor, configured), max(ceiling, configured)].
    // Losses it did not foresee: wider bounds (forecasts and reservations
    // both). Losses within a horizon of the last raise are the same event.
    const double ceiling = std::max(quantile_ceiling, cfg_.quantile);
    const double floor = std::min(quantile_floor, cfg_.quantile);
    double q = scores_.quantile;
    if (scores_.unforeseen_loss_ticks > loss_ticks_at_quantile_ && now_s - quantile_raised_s_ >= cfg_.horizon_s &&
        q < ceiling) {
        q = std::min(ceiling, q + (ceiling - q) * quantile_raise_share);
        quantile_raised_s_ = now_s;
        ++scores_.quantile_raises;
    }
    loss_ticks_at_quantile_ = scores_.unforeseen_loss_ticks;
    // A run of switches none of which was needed, while the shadow's clients
    // were reserved far more than they used: narrower bounds (fewer
    // switches, smaller reservations). Judged once per run.
    if (unneeded_run_ >= quantile_unneeded_run) {
        const bool idle = run_reserved_pps_ > quantile_idle_ratio * run_used_pps_;
        if (idle && q > floor) {
            q = std::max(floor, q - quantile_cut);
            ++scores_.quantile_cuts;
        }
        unneeded_run_ = 0;
        run_reserved_pps_ = run_used_pps_ = 0;
    }
    set_quantile(q);
}

void manager::apply_refits()
{
    // At the start of a tick, before its observations: an outcome back by
    // then is applied where it was taken (at the end of a previous tick).
    // A learner takes only the job it is waiting for, fresh enough
    // (series_learner::apply_refit); a client removed meanwhile (or removed
    // and added again) has none: dropped.
    if (!refits_background_)
        refit_pool_->wait_idle();
    for (auto& f : refit_pool_->take_finished()) {
        bool applied = false;
        if (const auto it = clients_.find(static_cast<std::uint32_t>(f.tag >> 1)); it != clients_.end()) {
            forecast::series_learner& m = (f.tag & 1U) != 0 ? it->second->bps_model : it->second->pps_model;
            applied = m.apply_refit(std::move(f.outcome));
        }
        ++(applied ? refit_counts_.applied : refit_counts_.discarded);
    }
}

void manager::refit_some()
{
    // At the end of a tick: the due learners, round robin from the cursor, while the bound in
    // flight allows. Never waits: the fits run on the pool's threads.
    if (clients_.empty())
        return;
    std::size_t room = refit_in_flight - std::min(refit_in_flight, refit_pool_->in_flight());
    auto it = clients_.lower_bound(refit_cursor_);
    bool full = false;
    for (std::size_t visited = 0; visited < clients_.size() && !full; ++visited) {
        if (it == clients_.end())
            it = clients_.begin();
        client_state& c = *it->second;
        for (const std::uint64_t which : {0U, 1U}) {
            forecast::series_learner& m = which != 0 ? c.bps_model : c.pps_model;
            if (!m.refit_due())
                continue;
            if (room == 0) {
                full = true; // this client is considered first next tick
                break;
            }
            refit_pool_->submit((std::uint64_t{c.id} << 1) | which, m.take_refit());
            ++refit_counts_.submitted;
            --room;
        }
        if (!full)
            ++it;
    }
    refit_cursor_ = it == clients_.end() ? 0 : it->first;
}

manager::refit_counts manager::refits() const
{
    refit_counts r = refit_counts_;
    r.in_flight = refit_pool_->in_flight();
    return r;
}

void manager::wait_refits()
{
    refit_pool_->wait_idle();
}

std::vector<action> manager::tick(double now_s, std::span<const observation> obs, bool fast_path_stalled)
{
    std::vector<action> out;
    apply_refits();
    for (const auto& o : obs) {
        const auto it = clients_.find(o.id);
        if (it == clients_.end())
            continue;
        observe(*it->second, o, now_s);
        port_view& pv = ports_[o.egress];
        pv.port = o.egress;
    }
    for (auto& [port, pv] : ports_) {
        pv.primary_capacity = primary_cap_(port);
        pv.shadow_capacity = shadow_cap_(port);
        pv.measured_pps = pv.predicted_pps = pv.measured_bps = 0;
        pv.clients_on_shadow = 0;
    }
    for (auto& [id, cp] : clients_)
        if (cp->seen && cp->via == path::primary) {
            ports_[cp->egress].measured_pps += cp->last.pps;
            ports_[cp->egress].measured_bps += cp->last.bps;
            ports_[cp->egress].predicted_pps += cp->pred.upper_pps;
        }
    std::map<std::uint16_t, double> newcomer_pps;
    for (auto& [id, cp] : clients_)
        if (cp->seen && cp->prof.kind == client_class::learning)
            newcomer_pps[cp->egress] += cp->last.pps;
    for (auto& [port, pv] : ports_) {
        newcomer_state& ng = newcomers_[port];
        ng.pps.update(newcomer_pps[port]);
        ng.was_to_shadow = ng.to_shadow;
    }
    for (auto& [port, pv] : ports_)
        reserve_port(port, out);
    for (auto& [port, pv] : ports_)
        decide_port(port, now_s, out);
    // Sources the fast path does not know yet (they travel as the default
    // client until the control lcore registers them) follow the newcomers.
    bool any_to_shadow = false, changed = false;
    for (auto& [port, ng] : newcomers_) {
        any_to_shadow = any_to_shadow || ng.to_shadow;
        if (ng.to_shadow != ng.was_to_shadow) {
            changed = true;
            if (ng.to_shadow)
                ng.since_s = now_s;
        }
    }
    if (changed && any_to_shadow != newcomers_via_shadow_) {
        newcomers_via_shadow_ = any_to_shadow;
        action a;
        a.what = action::kind::newcomers;
        a.via = any_to_shadow ? path::shadow : path::primary;
        a.reason = any_to_shadow ? "newcomers flood a constrained primary" : "primary calm again";
        out.push_back(a);
    }
    score_tick(now_s, fast_path_stalled);
    adapt(now_s);
    refit_some();
    // Off means hands off: forecasts and reservations are still computed and
    // shown, but nothing the operator set is changed.
    if (cfg_.policy == snm_policy::off)
        out.clear();
    return out;
}

std::optional<client_view> manager::client(std::uint32_t id) const
{
    const auto it = clients_.find(id);
    if (it == clients_.end())
        return std::nullopt;
    const client_state& c = *it->second;
    client_view v;
    v.id = id;
    v.key = c.key;
    v.via = c.via;
    v.priority = c.priority;
    v.prof = c.prof;
    v.pred = c.pred;
    v.res = c.res;
    v.last_pps = c.last.pps;
    v.shadow_used_pps = c.last.shadow_tx_pps;
    v.history.assign(c.history.begin(), c.history.end());
    return v;
}

std::vector<port_view> manager::ports() const
{
    std::vector<port_view> out;
    for (const auto& [port, pv] : ports_)
        out.push_back(pv);
    return out;
}

} // namespace shadownet::snm
