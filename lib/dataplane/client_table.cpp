#include "shadownet/dataplane/client_table.hpp"

#include <arpa/inet.h>

#include <stdexcept>

#include <fmt/format.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "shadownet/core/error.hpp"

namespace shadownet::dataplane {

std::string to_string(const client_key& k)
{
    char buf[INET6_ADDRSTRLEN] = {};
    switch (k.kind) {
    case 4:
        inet_ntop(AF_INET, k.addr, buf, sizeof(buf));
        return k.prefix < 32 ? fmt::format("{}/{}", buf, k.prefix) : std::string(buf);
    case 6:
        inet_ntop(AF_INET6, k.addr, buf, sizeof(buf));
        return k.prefix < 128 ? fmt::format("{}/{}", buf, k.prefix) : std::string(buf);
    case 1:
        return fmt::format("vlan {}", k.vlan);
    case 2:
        return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", k.addr[0], k.addr[1], k.addr[2], k.addr[3],
                           k.addr[4], k.addr[5]);
    default:
        return "default";
    }
}

client_table::client_table(const std::string& name, std::uint32_t max_clients, int socket)
    : max_clients_(max_clients), slots_(std::size_t{max_clients} + 1)
{
    if (max_clients == 0 || max_clients > (1U << 24))
        throw config_error(fmt::format("--max-clients: {} is not in 1-{}", max_clients, 1U << 24));
    rte_hash_parameters params{};
    params.name = name.c_str();
    // rte_hash needs some slack to place every key; it rounds up to buckets of 8.
    params.entries = std::max<std::uint32_t>(max_clients + max_clients / 8, 64);
    params.key_len = sizeof(client_key);
    // CRC32 runs on the SSE4.2 instruction: a third of jhash's cost on a 20-byte key.
    params.hash_func = rte_hash_crc;
    params.socket_id = socket;
    params.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
    hash_ = rte_hash_create(&params);
    if (hash_ == nullptr)
        throw dpdk_error(fmt::format("cannot create client table '{}' for {} clients: {}", name, max_clients,
                                     rte_strerror(rte_errno)),
                         -rte_errno);

    const std::size_t rcu_size = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
    rcu_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc_socket(nullptr, rcu_size, RTE_CACHE_LINE_SIZE, socket));
    if (rcu_ == nullptr || rte_rcu_qsbr_init(rcu_, RTE_MAX_LCORE) != 0) {
        rte_free(rcu_);
        rte_hash_free(hash_);
        throw dpdk_error("cannot allocate the client table's RCU variable", -ENOMEM);
    }
    rte_hash_rcu_config rcfg{};
    rcfg.v = rcu_;
    rcfg.mode = RTE_HASH_QSBR_MODE_DQ;
    // Try to reclaim on every delete, so ids come back as soon as the
    // forwarding lcores have moved on (22.11 has no explicit reclaim call).
    rcfg.trigger_reclaim_limit = 0;
    rcfg.key_data_ptr = this;
    rcfg.free_key_data_func = &client_table::on_reclaimed;
    if (rte_hash_rcu_qsbr_add(hash_, &rcfg) != 0) {
        rte_free(rcu_);
        rte_hash_free(hash_);
        throw dpdk_error("cannot attach RCU to the client table", -rte_errno);
    }
    free_.reserve(max_clients);
    for (std::uint32_t id = max_clients; id >= 1; --id)
        free_.push_back(id);
}

client_table::~client_table()
{
    rte_hash_free(hash_);
    rte_free(rcu_);
}

void client_table::on_reclaimed(void* self, void* key_data)
{
    auto& t = *static_cast<client_table*>(self);
    const auto r = route::unpack(reinterpret_cast<std::uintptr_t>(key_data));
    t.free_.push_back(r.client & ~dead_flag); // deleted entries carry the dead flag (remove)
    t.full_.store(false, std::memory_order_relaxed);
}

std::optional<std::uint32_t> client_table::add(const client_key& key)
{
    if (find(key))
        return std::nullopt;
    if (free_.empty()) {
        full_.store(true, std::memory_order_relaxed);
        return std::nullopt;
    }
    const std::uint32_t id = free_.back();
    route r;
    r.client = id;
    r.epoch = static_cast<std::uint16_t>(slots_[id].current.epoch + 1);
    const int rc = rte_hash_add_key_data(hash_, &key, reinterpret_cast<void*>(static_cast<std::uintptr_t>(r.pack())));
    if (rc != 0) {
        // The table's buckets are full before the id space is: treat as full.
        full_.store(true, std::memory_order_relaxed);
        return std::nullopt;
    }
    free_.pop_back();
    slots_[id] = slot{key, r, true};
    ++count_;
    if (free_.empty())
        full_.store(true, std::memory_order_relaxed);
    return id;
}

std::optional<std::uint32_t> client_table::find(const client_key& key) const
{
    void* data = nullptr;
    if (rte_hash_lookup_data(hash_, &key, &data) < 0 || is_dead(reinterpret_cast<std::uintptr_t>(data)))
        return std::nullopt;
    return route::unpack(reinterpret_cast<std::uintptr_t>(data)).client;
}

route client_table::set_route(std::uint32_t client, path via, std::uint8_t port, std::uint8_t queue)
{
    if (!exists(client))
        throw std::out_of_range(fmt::format("client {} does not exist", client));
    slot& s = slots_[client];
    route r = s.current;
    r.via = via;
    r.port = port;
    r.queue = static_cast<std::uint8_t>(queue & 0x7f);
    r.epoch = static_cast<std::uint16_t>(r.epoch + 1);
    // On an existing key in lock-free mode this is one atomic release store of
    // the data word: readers see the old route or the new one, never a mix.
    const int rc = rte_hash_add_key_data(hash_, &s.key, reinterpret_cast<void*>(static_cast<std::uintptr_t>(r.pack())));
    if (rc != 0)
        throw dpdk_error(fmt::format("cannot update the route of client {}", client), rc);
    s.current = r;
    // After the store: an lcore that sees the new generation looks up the new route.
    bump_generation();
    return r;
}

route client_table::get_route(std::uint32_t client) const
{
    if (!exists(client))
        throw std::out_of_range(fmt::format("client {} does not exist", client));
    return slots_[client].current;
}

void client_table::remove(std::uint32_t client)
{
    if (!exists(client))
        return;
    slot& s = slots_[client];
    // 1. Dead: from now on a lookup that still finds the key treats it as a
    //    miss, so no lcore caches the old key -> id mapping again.
    route dead = s.current;
    dead.client |= dead_flag;
    rte_hash_add_key_data(hash_, &s.key, reinterpret_cast<void*>(static_cast<std::uintptr_t>(dead.pack())));
    // 2. Every lcore cache forgets what it holds at its next burst.
    bump_generation();
    // 3. The key goes; its RCU token is started (a release) after 1 and 2,
    //    so an lcore whose quiescent state counts for it has seen both, and
    //    the id comes back only once every lcore has (client_cache.hpp).
    rte_hash_del_key(hash_, &s.key);
    s.in_use = false;
    --count_;
}

} // namespace shadownet::dataplane
