// The control lcore's view of clients: identity, totals, and a bounded history
// of per-tick samples (the series the forecaster and the shadow manager read).
//
// Owned and used by the control lcore only.
//
// How a sample is attributed (per tick, per client):
// - bits/s and packets/s: the client's received bytes and packets over the tick;
// - cpu: each forwarding lcore's busy TSC cycles in the tick, shared among the
//   clients by the packets that lcore handled for them (received + sent), in
//   cores (1.0 = one lcore fully busy);
// - mbufs: the mbufs the appliance itself holds at the tick (hand-off rings and
//   route-switch hold queues), shared by the client's share of the tick's
//   received packets. In run-to-completion mode this is mostly zero: packets
//   leave in the burst that received them.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "shadownet/dataplane/client_key.hpp"
#include "shadownet/dataplane/route.hpp"

namespace shadownet::control {

// 20 bytes: a client's history costs 12 KB per minute of 100 ms ticks.
struct client_sample {
    float t = 0;             // seconds since start
    float bits_per_s = 0;
    float packets_per_s = 0;
    float cpu = 0;           // cores
    float mbufs = 0;
};

// Counters summed over the forwarding lcores.
struct client_totals {
    std::uint64_t rx_packets = 0, rx_bytes = 0, drops = 0;
    std::uint64_t tx_packets[2] = {0, 0}; // primary, shadow
    std::uint64_t tx_bytes[2] = {0, 0};

    client_totals operator-(const client_totals& b) const noexcept;
};

// A bounded ring of samples, oldest first on read. It grows as samples come
// (a client seen for a second costs ten samples, not the whole capacity).
class sample_history {
public:
    explicit sample_history(std::size_t capacity) : capacity_(capacity) {}
    void push(const client_sample& s) noexcept;
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] const client_sample& at(std::size_t i) const noexcept; // 0 = oldest
    [[nodiscard]] std::vector<client_sample> to_vector() const;

private:
    std::size_t capacity_;
    std::vector<client_sample> buf_;
    std::size_t head_ = 0; // next slot to overwrite once full
    std::size_t count_ = 0;
};

struct client_record {
    std::uint32_t id = 0;
    dataplane::client_key key;
    double created_s = 0;
    double last_active_s = 0;
    client_totals baseline;   // the id's counters when this client got it (ids are reused)
    client_totals last;       // at the previous tick, baseline already subtracted
    sample_history history;
    dataplane::path via = dataplane::path::primary;
    std::uint64_t route_changes = 0;
    std::vector<std::uint64_t> lcore_work; // per forwarding lcore: packets handled, at the previous tick
};

class client_registry {
public:
    explicit client_registry(std::size_t history) : history_(history) {}
    client_record& add(std::uint32_t id, const dataplane::client_key& key, double now_s, const client_totals& baseline);
    void remove(std::uint32_t id) { by_id_.erase(id); }
    [[nodiscard]] client_record* find(std::uint32_t id);
    [[nodiscard]] const client_record* find(std::uint32_t id) const;
    [[nodiscard]] std::size_t size() const noexcept { return by_id_.size(); }
    [[nodiscard]] std::vector<std::uint32_t> ids() const; // ascending
    [[nodiscard]] std::size_t connects() const noexcept { return connects_; }

    template <typename F>
    void for_each(F&& f)
    {
        for (auto& [id, r] : by_id_)
            f(r);
    }

private:
    std::size_t history_;
    std::unordered_map<std::uint32_t, client_record> by_id_;
    std::size_t connects_ = 0;
};

} // namespace shadownet::control
