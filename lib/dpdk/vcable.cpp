#include "shadownet/dpdk/vcable.hpp"

#include <fmt/format.h>
#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <array>

#include "shadownet/core/error.hpp"

namespace shadownet::dpdk {

namespace {

std::uint16_t make_port(const std::string& name, std::vector<rte_ring*>& rx, std::vector<rte_ring*>& tx, int socket)
{
    const int id = rte_eth_from_rings(name.c_str(), rx.data(), static_cast<unsigned>(rx.size()), tx.data(),
                                      static_cast<unsigned>(tx.size()), static_cast<unsigned>(socket));
    if (id < 0)
        throw dpdk_error(fmt::format("cannot create virtual port '{}': {}", name, rte_strerror(rte_errno)),
                         -rte_errno);
    return static_cast<std::uint16_t>(id);
}

std::vector<rte_ring*> raw(const std::vector<ring>& rings)
{
    std::vector<rte_ring*> out;
    for (const auto& r : rings)
        out.push_back(r.get());
    return out;
}

// Removes the vdev itself, not only the ethdev: a later cable may then reuse
// the name (tests build several appliances in one process).
void close_port(const std::string& vdev_name) noexcept
{
    rte_vdev_uninit(vdev_name.c_str());
}

} // namespace

vcable::vcable(const std::string& name, std::uint16_t a_rxq, std::uint16_t a_txq, unsigned ring_size, int socket)
    : name_(name), socket_(socket)
{
    if (a_rxq == 0 || a_txq == 0)
        throw dpdk_error(fmt::format("virtual port '{}': needs at least one queue each way", name), -EINVAL);
    constexpr unsigned spsc = RING_F_SP_ENQ | RING_F_SC_DEQ;
    for (std::uint16_t q = 0; q < a_rxq; ++q)
        to_a_.emplace_back(fmt::format("{}_b2a{}", name, q), ring_size, socket, spsc);
    for (std::uint16_t q = 0; q < a_txq; ++q)
        to_b_.emplace_back(fmt::format("{}_a2b{}", name, q), ring_size, socket, spsc);
    auto to_a = raw(to_a_);
    auto to_b = raw(to_b_);
    side_a_ = make_port(name, to_a, to_b, socket);
}

std::uint16_t vcable::open_side_b()
{
    if (has_b_)
        return side_b_;
    auto to_a = raw(to_a_);
    auto to_b = raw(to_b_);
    side_b_ = make_port(name_ + "_peer", to_b, to_a, socket_);
    has_b_ = true;
    return side_b_;
}

vcable::~vcable()
{
    // rte_eth_from_rings names its vdevs "net_ring_<name>".
    if (has_b_)
        close_port("net_ring_" + name_ + "_peer");
    close_port("net_ring_" + name_);
}

unsigned vcable::pending_to_a() const noexcept
{
    unsigned n = 0;
    for (const auto& r : to_a_)
        n += r.count();
    return n;
}

unsigned vcable::pending_to_b() const noexcept
{
    unsigned n = 0;
    for (const auto& r : to_b_)
        n += r.count();
    return n;
}

unsigned vcable::discard_to_b() noexcept
{
    unsigned n = 0;
    std::array<void*, 64> pkts;
    for (auto& r : to_b_) {
        unsigned got = 0;
        while ((got = rte_ring_dequeue_burst(r.get(), pkts.data(), pkts.size(), nullptr)) > 0) {
            rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(pkts.data()), got);
            n += got;
        }
    }
    return n;
}

} // namespace shadownet::dpdk
