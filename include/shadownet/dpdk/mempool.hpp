// Packet mbuf pools. Owned by the control plane; created before the ports that
// use them and freed after those ports are closed.
#pragma once

#include <memory>
#include <string>

#include <rte_mbuf.h>
#include <rte_mempool.h>

namespace shadownet::dpdk {

class mempool {
public:
    // A pktmbuf pool of `n` mbufs with `data_room` bytes each. Throws dpdk_error.
    static mempool pktmbuf(const std::string& name, unsigned n, unsigned cache, int socket,
                           std::uint16_t data_room = RTE_MBUF_DEFAULT_BUF_SIZE);

    [[nodiscard]] rte_mempool* get() const noexcept { return pool_.get(); }
    [[nodiscard]] unsigned size() const noexcept { return pool_->size; }
    // Both counts include mbufs sitting in per-lcore caches as "available".
    [[nodiscard]] unsigned in_use() const noexcept { return rte_mempool_in_use_count(pool_.get()); }
    [[nodiscard]] unsigned available() const noexcept { return rte_mempool_avail_count(pool_.get()); }

private:
    struct deleter {
        void operator()(rte_mempool* p) const noexcept { rte_mempool_free(p); }
    };
    explicit mempool(rte_mempool* p) : pool_(p) {}
    std::unique_ptr<rte_mempool, deleter> pool_;
};

} // namespace shadownet::dpdk
