// The appliance as a command target: a thin adapter from the command layer's
// interface to the appliance's actions, with no logic of its own beyond
// translating types. Used on the control lcore only, like the appliance.
#pragma once

#include <atomic>

#include "shadownet/control/appliance.hpp"
#include "shadownet/control/commands.hpp"

namespace shadownet::control {

class appliance_target final : public command_target {
public:
    explicit appliance_target(appliance& app) : app_(app) {}

    [[nodiscard]] std::vector<std::uint16_t> port_ids() const override { return app_.plan().ports; }
    [[nodiscard]] std::vector<port_snapshot> port_stats() override { return app_.port_stats(); }
    [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> port_xstats(std::uint16_t port) override
    {
        return app_.port_xstats(port);
    }
    void clear_port_stats(std::optional<std::uint16_t> port) override { app_.clear_port_stats(port); }
    [[nodiscard]] std::vector<lcore_snapshot> lcores() override { return app_.lcore_stats(); }
    [[nodiscard]] clients_page clients(std::size_t start, std::size_t count) override
    {
        clients_page p;
        p.total = app_.clients().size();
        p.clients = app_.clients_in_order(start, count);
        p.next = start + count < p.total ? start + count : 0;
        return p;
    }
    [[nodiscard]] client_detail client(std::uint32_t id) override { return app_.client(id); }
    [[nodiscard]] shadow_view shadow() override { return app_.shadow(); }
    route_change set_client_route(std::uint32_t id, dataplane::path via) override
    {
        const auto* rec = app_.clients().find(id);
        const bool changed = rec != nullptr && rec->via != via;
        const auto r = app_.set_client_route(id, via);
        return {id, r.via, r.epoch, changed};
    }
    [[nodiscard]] snm_snapshot snm() override { return app_.snm_view(); }
    void set_policy(snm_policy p) override { app_.set_policy(p); }
    void set_client_priority(std::uint32_t id, int priority) override { app_.set_client_priority(id, priority); }
    [[nodiscard]] failover_snapshot failover() override { return app_.failover_view(); }
    void set_port_link(std::uint16_t port, bool up) override { app_.set_port_link(port, up); }
    void set_port_fault(std::uint16_t port, bool on) override { app_.set_port_fault(port, on); }
    void switchover(std::uint16_t port) override { app_.switchover(port); }
    [[nodiscard]] bool forwarding() const override { return app_.forwarding(); }
    bool set_forwarding(bool on) override { return app_.set_forwarding(on); }
    void request_quit() override { quit_.store(true, std::memory_order_relaxed); }

    // The control loop's exit condition (`quit` from any front end).
    [[nodiscard]] bool quit_requested() const noexcept { return quit_.load(std::memory_order_relaxed); }

private:
    appliance& app_;
    std::atomic<bool> quit_{false};
};

} // namespace shadownet::control
