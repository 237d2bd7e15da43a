// rte_ring with an owner. The burst calls are inline: they are fast path.
#pragma once

#include <memory>
#include <span>
#include <string>

#include <rte_ring.h>
#include <rte_ring_elem.h>

namespace shadownet::dpdk {

class ring {
public:
    // `count` slots usable: the ring is created with RING_F_EXACT_SZ so that a
    // ring of count N holds N, not N-1. `flags` adds RING_F_SP_ENQ/RING_F_SC_DEQ.
    // `esize` > 0 makes a ring of esize-byte elements (rte_ring_create_elem),
    // used with rte_ring_*_elem calls instead of the pointer bursts below.
    ring(const std::string& name, unsigned count, int socket, unsigned flags, unsigned esize = 0);

    [[nodiscard]] rte_ring* get() const noexcept { return ring_.get(); }
    [[nodiscard]] unsigned capacity() const noexcept { return rte_ring_get_capacity(ring_.get()); }
    [[nodiscard]] unsigned count() const noexcept { return rte_ring_count(ring_.get()); }
    [[nodiscard]] unsigned free_count() const noexcept { return rte_ring_free_count(ring_.get()); }

    unsigned enqueue_burst(std::span<void* const> objs) noexcept
    {
        return rte_ring_enqueue_burst(ring_.get(), objs.data(), static_cast<unsigned>(objs.size()), nullptr);
    }
    unsigned dequeue_burst(std::span<void*> objs) noexcept
    {
        return rte_ring_dequeue_burst(ring_.get(), objs.data(), static_cast<unsigned>(objs.size()), nullptr);
    }
    // Rings of esize-byte elements: up to out.size() elements of type T.
    template <typename T>
    unsigned dequeue_burst_elem(std::span<T> out) noexcept
    {
        return rte_ring_dequeue_burst_elem(ring_.get(), out.data(), sizeof(T), static_cast<unsigned>(out.size()),
                                           nullptr);
    }

private:
    struct deleter {
        void operator()(rte_ring* r) const noexcept { rte_ring_free(r); }
    };
    std::unique_ptr<rte_ring, deleter> ring_;
};

} // namespace shadownet::dpdk
