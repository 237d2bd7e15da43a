// Demand profiles: how many packets per second a client offers at time t.
// Pure (no DPDK): the generator samples them every tick, tests check the curves.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace shadownet::gen {

enum class profile_kind : std::uint8_t { constant, step, ramp, diurnal, flash, dos, trace };

struct profile_params {
    profile_kind kind = profile_kind::constant;
    double rate = 1000;   // pps: the level (constant), the peak (shaped profiles)
    double base = 0;      // pps before a step/ramp/surge, the trough of a diurnal cycle
    double at = 0;        // s: step time, surge start, ramp start
    double until = 0;     // s: ramp end
    double period = 60;   // s: diurnal cycle
    double phase = 0;     // s: diurnal shift
    double factor = 10;   // flash: surge to base * factor (when rate is not given explicitly)
    double rise = 1;      // s: flash rise time
    double decay = 5;     // s: flash decay time constant
    std::vector<double> trace; // trace: one value per slot, scaled so that the maximum is `rate`
    double slot = 0.1;    // s: trace slot length after time compression
    bool loop = true;     // trace: start again at the end
};

class profile {
public:
    explicit profile(profile_params p);
    // Offered packets per second at t seconds from the start; never negative or NaN.
    [[nodiscard]] double rate_at(double t) const noexcept;
    // The largest rate_at over [0, horizon] (for sizing pools and reports).
    [[nodiscard]] double peak(double horizon) const noexcept;
    [[nodiscard]] const profile_params& params() const noexcept { return p_; }

private:
    profile_params p_;
    double trace_scale_ = 0;
};

profile_kind profile_kind_from_name(const std::string& name); // throws config_error
std::string name_of(profile_kind k);

// Reads a `t,value` CSV (header optional) into values in file order; throws
// config_error naming the file and line of the first bad row.
std::vector<double> read_trace_csv(const std::string& path);

} // namespace shadownet::gen
