#include "shadownet/snm/failover.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace shadownet::snm {

namespace {

constexpr std::size_t max_events = 512;
constexpr double flap_window_s = 60;  // a failure this soon after the last one doubles the hold-down
constexpr double max_holddown_factor = 64;

std::string describe_shadow(std::uint16_t primary, std::uint16_t shadow)
{
    return shadow == primary ? fmt::format("shadow on port {}'s own shadow queues", primary)
                             : fmt::format("shadow port {}", shadow);
}

} // namespace

const char* name_of(port_health h) noexcept
{
    switch (h) {
    case port_health::waiting: return "waiting";
    case port_health::up: return "up";
    case port_health::failed: return "failed";
    }
    return "?";
}

failover::failover(failover_config cfg, std::vector<egress_def> egresses, std::vector<std::uint16_t> spares)
    : cfg_(cfg)
{
    const auto add_port = [this](std::uint16_t p) {
        if (find(p) == nullptr) {
            port_state s;
            s.port = p;
            s.holddown = cfg_.holddown_s;
            ports_.push_back(s);
        }
    };
    for (const auto& e : egresses) {
        egress_state s;
        s.def = e;
        s.primary = e.port;
        s.shadow = e.shadow;
        egresses_.push_back(s);
        add_port(e.port);
        add_port(e.shadow);
    }
    for (const auto sp : spares) {
        if (find(sp) != nullptr)
            throw std::invalid_argument(fmt::format("spare port {} already carries an egress or a shadow", sp));
        add_port(sp);
        find(sp)->spare = true;
    }
    for (const auto& p : ports_)
        watched_.push_back(p.port);
    std::sort(watched_.begin(), watched_.end());
}

std::vector<role_update> failover::initial_roles() const
{
    std::vector<role_update> out;
    for (const auto& e : egresses_)
        out.push_back({e.def.port, e.primary, e.shadow, e.epoch});
    return out;
}

failover::port_state* failover::find(std::uint16_t port) noexcept
{
    for (auto& p : ports_)
        if (p.port == port)
            return &p;
    return nullptr;
}

const failover::port_state* failover::find(std::uint16_t port) const noexcept
{
    for (const auto& p : ports_)
        if (p.port == port)
            return &p;
    return nullptr;
}

bool failover::usable(std::uint16_t port) const noexcept
{
    const port_state* p = find(port);
    return p != nullptr && p->health == port_health::up;
}

std::optional<std::uint16_t> failover::take_spare()
{
    for (auto& p : ports_)
        if (p.spare && p.health == port_health::up) {
            p.spare = false;
            return p.port;
        }
    return std::nullopt;
}

void failover::changed(egress_state& e, failover_update& u)
{
    e.epoch = static_cast<std::uint16_t>(e.epoch + 1);
    u.roles.push_back({e.def.port, e.primary, e.shadow, e.epoch});
}

void failover::note(failover_update& u, double now, std::uint16_t port, std::string what, std::string detail)
{
    failover_event ev{now, port, std::move(what), std::move(detail)};
    u.events.push_back(ev);
    if (events_.size() == max_events)
        events_.erase(events_.begin());
    events_.push_back(std::move(ev));
}

// Why a port that is up has failed, from what changed since its last sample.
// Updates the port's detection state.
std::optional<std::string> detect_failure(const failover_config& cfg, double now, std::uint64_t& tx,
                                          std::uint64_t& refused, std::uint64_t& rx, std::uint64_t& errors,
                                          std::optional<double>& stall_since,
                                          std::uint64_t& refused_at_stall, double& last_rx_t, double& rx_rate,
                                          double& last_t, const port_sample& s)
{
    if (!s.link_up)
        return std::string("link down");
    const std::uint64_t d_errors = s.tx_errors - std::min(s.tx_errors, errors);
    // Taken and then failed by the driver is not out: it counts as refused.
    const std::uint64_t d_taken = s.tx_packets - std::min(s.tx_packets, tx);
    const std::uint64_t d_tx = d_taken - std::min(d_taken, d_errors);
    const std::uint64_t d_refused = s.tx_refused - std::min(s.tx_refused, refused) + d_errors;
    const std::uint64_t d_rx = s.rx_packets - std::min(s.rx_packets, rx);
    const double dt = now - last_t;
    if (d_tx > 0) {
        stall_since.reset();
    } else if (d_refused > 0 && !stall_since) {
        // Refusals began somewhere in the last interval: count from its start.
        stall_since = last_t;
        refused_at_stall = refused + errors;
    }
    tx = s.tx_packets;
    refused = s.tx_refused;
    errors = s.tx_errors;
    rx = s.rx_packets;
    last_t = now;
    const std::uint64_t failed = s.tx_refused + s.tx_errors;
    if (stall_since && now - *stall_since >= cfg.stall_s && failed - refused_at_stall >= cfg.stall_min_refused)
        return fmt::format("TX stalled: {} packets refused{} and none sent in {:.2f} ms", failed - refused_at_stall,
                           s.tx_errors > 0 ? " or failed" : "", (now - *stall_since) * 1e3);
    if (cfg.rx_silence_s > 0) {
        if (!s.rx_expected) {
            last_rx_t = now; // paused or not polled: silence means nothing
            rx_rate = 0;
        } else if (d_rx > 0) {
            last_rx_t = now;
            const double alpha = std::min(1.0, dt); // ~1 s average
            if (dt > 0)
                rx_rate += alpha * (static_cast<double>(d_rx) / dt - rx_rate);
        } else if (now - last_rx_t >= cfg.rx_silence_s && rx_rate >= cfg.rx_silence_min_pps) {
            return fmt::format("RX silent for {:.1f} ms after {:.0f} packets/s", (now - last_rx_t) * 1e3, rx_rate);
        }
    }
    return std::nullopt;
}

failover_update failover::observe(double now, std::span<const port_sample> samples)
{
    failover_update u;
    if (!cfg_.enabled)
        return u;
    for (const auto& s : samples) {
        port_state* p = find(s.port);
        if (p == nullptr)
            continue;
        const bool healthy = s.link_up && !s.faulted;
        switch (p->health) {
        case port_health::waiting:
            if (healthy) {
                p->health = port_health::up;
                p->since = now;
                p->seen = false;
            }
            break;
        case port_health::up:
            if (!p->seen) {
                p->seen = true;
                p->tx = s.tx_packets;
                p->refused = s.tx_refused;
                p->errors = s.tx_errors;
                p->rx = s.rx_packets;
                p->last_t = now;
                p->last_rx_t = now;
                p->stall_since.reset();
                p->rx_rate = 0;
                if (s.link_up)
                    break;
            }
            if (auto why = detect_failure(cfg_, now, p->tx, p->refused, p->rx, p->errors, p->stall_since, p->refused_at_stall,
                                          p->last_rx_t, p->rx_rate, p->last_t, s)) {
                if (s.fault_since)
                    *why += fmt::format(" (detected {:.0f} us after the fault)", (now - *s.fault_since) * 1e6);
                mark_failed(now, *p, *why, u);
            }
            break;
        case port_health::failed:
            if (!healthy)
                p->healthy_since.reset();
            else if (!p->healthy_since)
                p->healthy_since = now;
            else if (now - *p->healthy_since >= p->holddown)
                mark_returned(now, *p, u);
            break;
        }
    }
    return u;
}

failover_update failover::fail(double now, std::uint16_t port, const std::string& reason)
{
    failover_update u;
    port_state* p = find(port);
    if (p == nullptr)
        throw std::invalid_argument(fmt::format("port {} carries no egress, shadow or spare", port));
    if (p->health != port_health::failed)
        mark_failed(now, *p, reason, u);
    return u;
}

void failover::mark_failed(double now, port_state& p, const std::string& reason, failover_update& u)
{
    const bool flapping = now - p.last_failure < flap_window_s;
    p.holddown = flapping ? std::min(p.holddown * 2, cfg_.holddown_s * max_holddown_factor) : cfg_.holddown_s;
    p.last_failure = now;
    p.health = port_health::failed;
    p.reason = reason;
    p.since = now;
    p.healthy_since.reset();
    p.seen = false;
    ++p.failures;
    u.out_of_service.emplace_back(p.port, true);
    note(u, now, p.port, "port-failed", reason);
    for (auto& e : egresses_) {
        if (e.down)
            continue;
        if (e.primary == p.port) {
            std::optional<std::uint16_t> to;
            if (e.shadow != p.port && usable(e.shadow))
                to = e.shadow;
            else
                to = take_spare();
            if (!to) {
                e.down = true;
                note(u, now, p.port, "egress-down",
                     fmt::format("egress {}: no port left to carry it; its packets are dropped as port_down",
                                 e.def.port));
                continue;
            }
            const std::uint16_t was = e.primary;
            e.primary = *to;
            if (e.shadow == was || e.shadow == *to)
                e.shadow = take_spare().value_or(*to);
            ++e.failovers;
            changed(e, u);
            note(u, now, p.port, "failover",
                 fmt::format("egress {}: primary port {} -> {}, {}", e.def.port, was, e.primary,
                             describe_shadow(e.primary, e.shadow)));
        } else if (e.shadow == p.port) {
            e.shadow = take_spare().value_or(e.primary);
            changed(e, u);
            note(u, now, p.port, "shadow-replaced",
                 fmt::format("egress {}: {}", e.def.port, describe_shadow(e.primary, e.shadow)));
        }
    }
}

void failover::mark_returned(double now, port_state& p, failover_update& u)
{
    p.health = port_health::up;
    p.reason.clear();
    p.since = now;
    p.seen = false;
    p.healthy_since.reset();
    u.out_of_service.emplace_back(p.port, false);
    bool placed = false;
    for (auto& e : egresses_) {
        if (e.down && (e.primary == p.port || e.def.port == p.port)) {
            e.down = false;
            e.primary = p.port;
            if (!usable(e.shadow))
                e.shadow = p.port;
            changed(e, u);
            note(u, now, p.port, "egress-up",
                 fmt::format("egress {}: primary port {}, {}", e.def.port, e.primary,
                             describe_shadow(e.primary, e.shadow)));
            placed = true;
        }
    }
    for (auto& e : egresses_) {
        if (placed)
            break;
        const bool its_own = e.def.port == p.port || e.def.shadow == p.port;
        if (!e.down && its_own && e.shadow == e.primary && e.primary != p.port) {
            e.shadow = p.port;
            changed(e, u);
            note(u, now, p.port, "port-returned",
                 fmt::format("egress {}: port {} returns as its shadow (primary stays on port {})", e.def.port,
                             p.port, e.primary));
            placed = true;
        }
    }
    if (cfg_.revert)
        for (auto& e : egresses_)
            if (!e.down && e.def.port == p.port && e.shadow == p.port && e.primary != p.port) {
                e.shadow = e.primary;
                e.primary = p.port;
                changed(e, u);
                note(u, now, p.port, "revert",
                     fmt::format("egress {}: primary back on port {}, shadow port {} (drained, lossless)",
                                 e.def.port, e.primary, e.shadow));
            }
    if (!placed) {
        p.spare = true;
        note(u, now, p.port, "port-returned", fmt::format("port {} is healthy again and held as a spare", p.port));
    }
}

void failover::log(double now, std::uint16_t port, std::string what, std::string detail)
{
    failover_update ignored;
    note(ignored, now, port, std::move(what), std::move(detail));
}

failover_update failover::switchover(double now, std::uint16_t port)
{
    for (auto& e : egresses_) {
        if (e.primary != port || e.down)
            continue;
        if (e.shadow == e.primary)
            throw std::invalid_argument(
                fmt::format("egress {}: its shadow is port {}'s own queues, there is no other port to switch to",
                            e.def.port, port));
        if (!usable(e.shadow))
            throw std::invalid_argument(fmt::format("egress {}: shadow port {} is {}", e.def.port, e.shadow,
                                                    name_of(find(e.shadow)->health)));
        failover_update u;
        std::swap(e.primary, e.shadow);
        changed(e, u);
        note(u, now, port, "switchover",
             fmt::format("egress {}: primary port {} -> {}, shadow port {} (planned, drained)", e.def.port, port,
                         e.primary, e.shadow));
        return u;
    }
    throw std::invalid_argument(fmt::format("port {} is not the primary of any egress", port));
}

std::vector<egress_view> failover::egresses() const
{
    std::vector<egress_view> out;
    for (const auto& e : egresses_)
        out.push_back({e.def.port, e.def.shadow, e.primary, e.shadow, e.epoch, e.down, e.failovers});
    return out;
}

std::vector<failover_port_view> failover::ports() const
{
    std::vector<failover_port_view> out;
    for (const auto& p : ports_)
        out.push_back({p.port, p.health, p.reason, p.since, p.spare, p.failures, p.holddown});
    std::sort(out.begin(), out.end(), [](const failover_port_view& a, const failover_port_view& b) { return a.port < b.port; });
    return out;
}

} // namespace shadownet::snm
