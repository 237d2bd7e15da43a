// rte_hash with an owner. Lookups are inline (fast path); add/delete are control plane.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <rte_hash.h>

namespace shadownet::dpdk {

class hash_table {
public:
    // extra_flags: RTE_HASH_EXTRA_FLAGS_* (e.g. RW_CONCURRENCY_LF for lock-free readers).
    hash_table(const std::string& name, std::uint32_t entries, std::uint32_t key_len, int socket,
               std::uint8_t extra_flags);

    [[nodiscard]] rte_hash* get() const noexcept { return hash_.get(); }

    // Returns the key's position (>= 0) or a negative errno (-ENOSPC when full).
    std::int32_t add(const void* key, void* data) noexcept { return rte_hash_add_key_data(hash_.get(), key, data); }
    std::int32_t remove(const void* key) noexcept { return rte_hash_del_key(hash_.get(), key); }
    std::int32_t lookup(const void* key, void** data) const noexcept
    {
        return rte_hash_lookup_data(hash_.get(), key, data);
    }
    [[nodiscard]] std::int32_t count() const noexcept { return rte_hash_count(hash_.get()); }

private:
    struct deleter {
        void operator()(rte_hash* h) const noexcept { rte_hash_free(h); }
    };
    std::unique_ptr<rte_hash, deleter> hash_;
};

} // namespace shadownet::dpdk
