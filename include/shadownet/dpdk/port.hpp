// An ethdev port, configured with primary and reserved shadow TX queues.
//
// Queue layout (every port): RX queues 0..rxq-1; TX queues 0..txq-1 are primary,
// one per forwarding lcore so that no two lcores share a TX queue; TX queues
// txq..txq+shadow_txq-1 are reserved for the shadow path and stay idle until a
// client is routed there. The control thread owns the object (configure, start,
// stop, stats); forwarding lcores only call rte_eth_rx_burst/rte_eth_tx_burst
// on the queues they were given.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <rte_mempool.h>

namespace shadownet::dpdk {

struct port_setup {
    std::uint16_t rxq = 1;
    std::uint16_t txq = 1;        // primary TX queues
    std::uint16_t shadow_txq = 0; // reserved shadow TX queues
    std::uint16_t rxd = 1024;
    std::uint16_t txd = 1024;
    bool promiscuous = true;
};

struct link_info {
    bool up = false;
    std::uint32_t speed_mbps = 0;
    bool full_duplex = false;
};

// rte_eth_stats, the fields operators look at.
struct port_hw_stats {
    std::uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
    std::uint64_t imissed = 0, ierrors = 0, oerrors = 0, rx_nombuf = 0;
};

class port {
public:
    // Configures the device and sets up its queues; does not start it.
    // Throws dpdk_error (with the port's name) when the device cannot take the queues.
    port(std::uint16_t id, const port_setup& setup, rte_mempool* pool);
    ~port();
    port(const port&) = delete;
    port& operator=(const port&) = delete;
    port(port&& other) noexcept;
    port& operator=(port&&) = delete;

    void start();
    void stop() noexcept;

    [[nodiscard]] std::uint16_t id() const noexcept { return id_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] int socket() const noexcept { return socket_; }
    [[nodiscard]] const port_setup& setup() const noexcept { return setup_; }
    [[nodiscard]] std::uint16_t first_shadow_txq() const noexcept { return setup_.txq; }
    [[nodiscard]] bool started() const noexcept { return started_; }

    [[nodiscard]] link_info link() const noexcept;
    [[nodiscard]] port_hw_stats hw_stats() const noexcept;
    [[nodiscard]] std::vector<std::pair<std::string, std::uint64_t>> xstats() const;
    [[nodiscard]] std::string mac() const;

private:
    std::uint16_t id_;
    std::string name_;
    int socket_ = 0;
    port_setup setup_;
    bool started_ = false;
    bool owned_ = true;
};

// What a device can take, before it is configured.
struct device_caps {
    std::string driver;            // e.g. "net_ring", "net_null"
    std::uint16_t max_rx_queues = 0;
    std::uint16_t max_tx_queues = 0;
};
// Throws dpdk_error when the id is not a port.
device_caps device_caps_of(std::uint16_t id);

// Every port EAL probed or that was created since, ascending.
std::vector<std::uint16_t> ethdev_ports();
// The port's device name (e.g. "net_ring0"); empty when the id is not a port.
std::string ethdev_name(std::uint16_t id);

} // namespace shadownet::dpdk
