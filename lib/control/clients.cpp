#include "shadownet/control/clients.hpp"

#include <algorithm>

namespace shadownet::control {

client_totals client_totals::operator-(const client_totals& b) const noexcept
{
    client_totals d;
    d.rx_packets = rx_packets - b.rx_packets;
    d.rx_bytes = rx_bytes - b.rx_bytes;
    d.drops = drops - b.drops;
    for (int p = 0; p < 2; ++p) {
        d.tx_packets[p] = tx_packets[p] - b.tx_packets[p];
        d.tx_bytes[p] = tx_bytes[p] - b.tx_bytes[p];
    }
    return d;
}

void sample_history::push(const client_sample& s) noexcept
{
    if (capacity_ == 0)
        return;
    if (buf_.size() < capacity_) {
        buf_.push_back(s); // the control plane may allocate; amortised O(1)
        count_ = buf_.size();
        return;
    }
    buf_[head_] = s;
    head_ = (head_ + 1) % buf_.size();
}

const client_sample& sample_history::at(std::size_t i) const noexcept
{
    const std::size_t oldest = (head_ + buf_.size() - count_) % buf_.size();
    return buf_[(oldest + i) % buf_.size()];
}

std::vector<client_sample> sample_history::to_vector() const
{
    std::vector<client_sample> out;
    out.reserve(count_);
    for (std::size_t i = 0; i < count_; ++i)
        out.push_back(at(i));
    return out;
}

client_record& client_registry::add(std::uint32_t id, const dataplane::client_key& key, double now_s,
                                    const client_totals& baseline)
{
    ++connects_;
    client_record r{id, key, now_s, now_s, baseline, {}, sample_history(history_), dataplane::path::primary, 0, {}};
    auto [it, inserted] = by_id_.insert_or_assign(id, std::move(r));
    (void)inserted;
    return it->second;
}

client_record* client_registry::find(std::uint32_t id)
{
    const auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &it->second;
}

const client_record* client_registry::find(std::uint32_t id) const
{
    const auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : &it->second;
}

std::vector<std::uint32_t> client_registry::ids() const
{
    std::vector<std::uint32_t> out;
    out.reserve(by_id_.size());
    for (const auto& [id, r] : by_id_)
        out.push_back(id);
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace shadownet::control
