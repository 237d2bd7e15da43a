#include "shadownet/dpdk/bond.hpp"

#include <fmt/format.h>
#include <rte_eth_bond.h>
#include <rte_ethdev.h>

#include "shadownet/core/error.hpp"

namespace shadownet::dpdk {

namespace {

// DPDK renamed bonding's "slave" API to "member" after 22.11: one place each.
int add_member(std::uint16_t bond, std::uint16_t member) noexcept
{
    return rte_eth_bond_slave_add(bond, member);
}

int active_members(std::uint16_t bond, std::uint16_t* out, std::uint16_t len) noexcept
{
    return rte_eth_bond_active_slaves_get(bond, out, len);
}

} // namespace

bond::bond(const std::string& name, std::uint16_t primary, std::uint16_t backup, int socket)
    : name_(name), primary_(primary), backup_(backup)
{
    const int id = rte_eth_bond_create(name.c_str(), BONDING_MODE_ACTIVE_BACKUP, static_cast<std::uint8_t>(socket));
    if (id < 0)
        throw dpdk_error(fmt::format("cannot create bonding device '{}'", name), id);
    id_ = static_cast<std::uint16_t>(id);
    int rc = add_member(id_, primary);
    if (rc == 0)
        rc = add_member(id_, backup);
    if (rc == 0)
        rc = rte_eth_bond_primary_set(id_, primary);
    if (rc != 0) {
        rte_eth_bond_free(name.c_str());
        throw dpdk_error(fmt::format("bonding device '{}': cannot bond ports {} and {}", name, primary, backup), rc);
    }
}

bond::~bond()
{
    rte_eth_bond_free(name_.c_str());
}

int bond::active_member() const noexcept
{
    std::uint16_t members[RTE_MAX_ETHPORTS];
    const int n = active_members(id_, members, RTE_MAX_ETHPORTS);
    return n > 0 ? members[0] : -1;
}

int set_link(std::uint16_t port, bool up) noexcept
{
    return up ? rte_eth_dev_set_link_up(port) : rte_eth_dev_set_link_down(port);
}

int set_started(std::uint16_t port, bool started) noexcept
{
    return started ? rte_eth_dev_start(port) : rte_eth_dev_stop(port);
}

} // namespace shadownet::dpdk
