#include "shadownet/dataplane/capacity.hpp"

#include <algorithm>
#include <cmath>

namespace shadownet::dataplane {

namespace {

// The largest frame we forward without jumbo support: a byte bucket must hold
// at least two of them, or a low rate would starve large packets altogether.
constexpr double max_frame_bytes = 1518;

bool configure_bucket(rte_meter_srtcm_profile& profile, rte_meter_srtcm& meter, double rate, double burst) noexcept
{
    rte_meter_srtcm_params params{};
    params.cir = static_cast<std::uint64_t>(std::max(1.0, std::ceil(rate)));
    params.cbs = static_cast<std::uint64_t>(std::max(1.0, std::ceil(burst)));
    params.ebs = 0; // no excess bucket: within the rate or dropped
    return rte_meter_srtcm_profile_config(&profile, &params) == 0 && rte_meter_srtcm_config(&meter, &profile) == 0;
}

} // namespace

bool token_meter::configure(const rate_limit& limit, double burst_s, unsigned min_burst_packets) noexcept
{
    limit_pkts_ = false;
    limit_bytes_ = false;
    const double min_packets = std::max(1.0, static_cast<double>(min_burst_packets));
    if (limit.pps > 0) {
        if (!configure_bucket(pkts_profile_, pkts_, limit.pps, std::max(min_packets, limit.pps * burst_s)))
            return false;
        limit_pkts_ = true;
    }
    if (limit.bps > 0) {
        const double bytes_per_s = limit.bps / 8.0;
        if (!configure_bucket(bytes_profile_, bytes_, bytes_per_s, std::max(2 * max_frame_bytes, bytes_per_s * burst_s)))
            return false;
        limit_bytes_ = true;
    }
    return true;
}

} // namespace shadownet::dataplane
