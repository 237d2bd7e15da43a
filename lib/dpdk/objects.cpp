// Constructors of the small RAII wrappers: pools, rings, hash tables.
#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_ring_elem.h>

#include "shadownet/core/error.hpp"
#include "shadownet/dpdk/hash.hpp"
#include "shadownet/dpdk/mempool.hpp"
#include "shadownet/dpdk/ring.hpp"

namespace shadownet::dpdk {

mempool mempool::pktmbuf(const std::string& name, unsigned n, unsigned cache, int socket, std::uint16_t data_room)
{
    rte_mempool* p = rte_pktmbuf_pool_create(name.c_str(), n, cache, 0, data_room, socket);
    if (p == nullptr)
        throw dpdk_error(fmt::format("cannot create mbuf pool '{}' of {} mbufs: {}", name, n, rte_strerror(rte_errno)),
                         -rte_errno);
    return mempool(p);
}

ring::ring(const std::string& name, unsigned count, int socket, unsigned flags, unsigned esize)
    : ring_(esize ? rte_ring_create_elem(name.c_str(), esize, count, socket, flags | RING_F_EXACT_SZ)
                  : rte_ring_create(name.c_str(), count, socket, flags | RING_F_EXACT_SZ))
{
    if (!ring_)
        throw dpdk_error(fmt::format("cannot create ring '{}' of {}: {}", name, count, rte_strerror(rte_errno)),
                         -rte_errno);
}

hash_table::hash_table(const std::string& name, std::uint32_t entries, std::uint32_t key_len, int socket,
                       std::uint8_t extra_flags)
{
    rte_hash_parameters params{};
    params.name = name.c_str();
    params.entries = entries;
    params.key_len = key_len;
    params.hash_func = rte_jhash;
    params.hash_func_init_val = 0;
    params.socket_id = socket;
    params.extra_flag = extra_flags;
    hash_.reset(rte_hash_create(&params));
    if (!hash_)
        throw dpdk_error(
            fmt::format("cannot create hash '{}' of {} entries: {}", name, entries, rte_strerror(rte_errno)),
            -rte_errno);
}

} // namespace shadownet::dpdk
