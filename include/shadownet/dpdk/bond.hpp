// DPDK's link bonding in active-backup mode (mode 1): the way operators
// protect a link today, and the baseline shadownet's own failover is
// measured against (`--failover bond`, docs/resilience.md).
//
// The bonding device transmits on its primary member until that member's
// link goes down, then on the backup. For members without link-status
// interrupts (virtual ports) it polls their link every 10 ms, its default.
// The control thread owns the object; the bonded ports belong to the device
// while it exists and must outlive it.
#pragma once

#include <cstdint>
#include <string>

namespace shadownet::dpdk {

class bond {
public:
    // Throws dpdk_error when DPDK refuses the device or a member.
    bond(const std::string& name, std::uint16_t primary, std::uint16_t backup, int socket);
    // Frees the device; its ethdev must be closed already (dpdk::port does that).
    ~bond();
    bond(const bond&) = delete;
    bond& operator=(const bond&) = delete;

    [[nodiscard]] std::uint16_t id() const noexcept { return id_; }
    [[nodiscard]] std::uint16_t primary() const noexcept { return primary_; }
    [[nodiscard]] std::uint16_t backup() const noexcept { return backup_; }
    // The member it transmits on now (its first active member), or -1 when none is up.
    [[nodiscard]] int active_member() const noexcept;

private:
    std::string name_;
    std::uint16_t id_ = 0;
    std::uint16_t primary_ = 0;
    std::uint16_t backup_ = 0;
};

// Sets a port's link down or up (rte_eth_dev_set_link_down/up), whoever owns
// it — a bonded member included. Returns 0 or a negative errno.
int set_link(std::uint16_t port, bool up) noexcept;
// Stops or starts a device (its link goes down or up with it): how a link is
// taken down on drivers that cannot set it (net_null, net_pcap). Returns 0 or
// a negative errno.
int set_started(std::uint16_t port, bool started) noexcept;

} // namespace shadownet::dpdk
