#include "shadownet/dpdk/port.hpp"

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include "shadownet/core/error.hpp"

namespace shadownet::dpdk {

namespace {

[[noreturn]] void fail(const std::string& port_name, std::uint16_t id, const std::string& what, int rc)
{
    throw dpdk_error(fmt::format("port {} ({}): {}: {}", id, port_name, what, rte_strerror(-rc)), rc);
}

} // namespace

std::vector<std::uint16_t> ethdev_ports()
{
    std::vector<std::uint16_t> out;
    std::uint16_t id = 0;
    RTE_ETH_FOREACH_DEV(id) { out.push_back(id); }
    return out;
}

device_caps device_caps_of(std::uint16_t id)
{
    rte_eth_dev_info info{};
    if (const int rc = rte_eth_dev_info_get(id, &info); rc != 0)
        throw dpdk_error(fmt::format("port {}: cannot read device info", id), rc);
    return {info.driver_name != nullptr ? info.driver_name : "", info.max_rx_queues, info.max_tx_queues};
}

std::string ethdev_name(std::uint16_t id)
{
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    if (rte_eth_dev_get_name_by_port(id, name) != 0)
        return {};
    return name;
}

port::port(std::uint16_t id, const port_setup& setup, rte_mempool* pool) : id_(id), setup_(setup)
{
    if (!rte_eth_dev_is_valid_port(id))
        throw dpdk_error(fmt::format("port {} does not exist", id), -ENODEV);
    name_ = ethdev_name(id);
    const int sock = rte_eth_dev_socket_id(id);
    socket_ = sock < 0 ? 0 : sock;

    rte_eth_dev_info info{};
    if (const int rc = rte_eth_dev_info_get(id, &info); rc != 0)
        fail(name_, id, "cannot read device info", rc);
    const unsigned want_tx = static_cast<unsigned>(setup.txq) + setup.shadow_txq;
    if (setup.rxq == 0 || setup.rxq > info.max_rx_queues)
        throw dpdk_error(fmt::format("port {} ({}): needs {} RX queues but the device has at most {}", id, name_,
                                     setup.rxq, info.max_rx_queues),
                         -EINVAL);
    if (setup.txq == 0 || want_tx > info.max_tx_queues)
        throw dpdk_error(fmt::format("port {} ({}): needs {} TX queues ({} primary + {} shadow) but the device "
                                     "has at most {}",
                                     id, name_, want_tx, setup.txq, setup.shadow_txq, info.max_tx_queues),
                         -EINVAL);

    rte_eth_conf conf{};
    // Link-status interrupts where the device has them (NICs, tap, bonding):
    // the driver keeps the link status current, and a bonding device relies
    // on its members' interrupts, not on polling, when they can raise them.
    if (info.dev_flags != nullptr && (*info.dev_flags & RTE_ETH_DEV_INTR_LSC) != 0)
        conf.intr_conf.lsc = 1;
    if (const int rc = rte_eth_dev_configure(id, setup.rxq, static_cast<std::uint16_t>(want_tx), &conf); rc != 0)
        fail(name_, id, "cannot configure", rc);
    std::uint16_t rxd = setup.rxd;
    std::uint16_t txd = setup.txd;
    if (const int rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd); rc != 0)
        fail(name_, id, "cannot adjust descriptor counts", rc);
    for (std::uint16_t q = 0; q < setup.rxq; ++q)
        if (const int rc = rte_eth_rx_queue_setup(id, q, rxd, static_cast<unsigned>(socket_), nullptr, pool); rc != 0)
            fail(name_, id, fmt::format("cannot set up RX queue {}", q), rc);
    for (std::uint16_t q = 0; q < want_tx; ++q)
        if (const int rc = rte_eth_tx_queue_setup(id, q, txd, static_cast<unsigned>(socket_), nullptr); rc != 0)
            fail(name_, id, fmt::format("cannot set up TX queue {}", q), rc);
}

port::port(port&& other) noexcept
    : id_(other.id_), name_(std::move(other.name_)), socket_(other.socket_), setup_(other.setup_),
      started_(other.started_), owned_(other.owned_)
{
    other.owned_ = false;
}

port::~port()
{
    if (!owned_)
        return;
    stop();
    if (rte_eth_dev_is_valid_port(id_))
        rte_eth_dev_close(id_);
}

void port::start()
{
    if (started_)
        return;
    if (const int rc = rte_eth_dev_start(id_); rc != 0)
        fail(name_, id_, "cannot start", rc);
    started_ = true;
    if (setup_.promiscuous) {
        // Virtual devices without a MAC filter report -ENOTSUP; that is fine.
        const int rc = rte_eth_promiscuous_enable(id_);
        if (rc != 0 && rc != -ENOTSUP)
            fail(name_, id_, "cannot enable promiscuous mode", rc);
    }
}

void port::stop() noexcept
{
    if (!started_)
        return;
    rte_eth_dev_stop(id_);
    started_ = false;
}

link_info port::link() const noexcept
{
    rte_eth_link l{};
    link_info out;
    if (rte_eth_link_get_nowait(id_, &l) != 0)
        return out;
    out.up = l.link_status == RTE_ETH_LINK_UP;
    out.speed_mbps = l.link_speed;
    out.full_duplex = l.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
    return out;
}

port_hw_stats port::hw_stats() const noexcept
{
    rte_eth_stats s{};
    port_hw_stats out;
    if (rte_eth_stats_get(id_, &s) != 0)
        return out;
    out.ipackets = s.ipackets;
    out.opackets = s.opackets;
    out.ibytes = s.ibytes;
    out.obytes = s.obytes;
    out.imissed = s.imissed;
    out.ierrors = s.ierrors;
    out.oerrors = s.oerrors;
    out.rx_nombuf = s.rx_nombuf;
    return out;
}

std::vector<std::pair<std::string, std::uint64_t>> port::xstats() const
{
    const int n = rte_eth_xstats_get_names(id_, nullptr, 0);
    if (n <= 0)
        return {};
    std::vector<rte_eth_xstat_name> names(static_cast<std::size_t>(n));
    std::vector<rte_eth_xstat> values(static_cast<std::size_t>(n));
    const int got_names = rte_eth_xstats_get_names(id_, names.data(), static_cast<unsigned>(n));
    const int got = rte_eth_xstats_get(id_, values.data(), static_cast<unsigned>(n));
    std::vector<std::pair<std::string, std::uint64_t>> out;
    if (got_names != n || got != n)
        return out;
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        out.emplace_back(names[values[static_cast<std::size_t>(i)].id].name, values[static_cast<std::size_t>(i)].value);
    return out;
}

std::string port::mac() const
{
    rte_ether_addr a{};
    if (rte_eth_macaddr_get(id_, &a) != 0)
        return {};
    char buf[RTE_ETHER_ADDR_FMT_SIZE];
    rte_ether_format_addr(buf, sizeof(buf), &a);
    return buf;
}

} // namespace shadownet::dpdk
