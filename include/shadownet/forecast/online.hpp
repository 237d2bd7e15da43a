// The online bank: many series' model states packed for the per-tick update.
//
// Layout: one 64-byte slot per series (level, trend, four parameters, season
// offset/period/phase, kinds) in a cache-line-aligned array, plus one shared
// pool of seasonal factors where each series owns a contiguous run of
// `capacity` doubles (>= its period, fixed when the series is added, so m can
// be anything from 2 to 2016 and beyond without a per-series maximum).
// An update touches exactly two cache lines: the slot and one season factor.
//
// Ownership: the bank is single-writer. The thread that calls update() /
// update_all() (the control core's tick) is also the only one that may call
// add() or install(), which can grow the pool. Models fitted elsewhere (TBB
// refits) are handed to that thread and installed between ticks.
#pragma once

#include "shadownet/forecast/filter.hpp"
#include "shadownet/forecast/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <span>
#include <stdexcept>
#include <vector>

namespace shadownet::forecast {

struct alignas(64) online_slot {
    double level = 0.0;
    double trend = 0.0;
    params par;                       // 32 bytes
    std::uint32_t season_offset = 0;  // first factor in the pool
    std::uint32_t period = 0;         // m, 0 when not seasonal
    std::uint32_t phase = 0;          // slot used by the next observation
    trend_kind trend_k = trend_kind::none;
    season_kind season_k = season_kind::none;
};
static_assert(sizeof(online_slot) == 64, "one cache line per series");

class online_bank {
public:
    using id = std::uint32_t;

    online_bank() = default;

    // Control plane: register a series with a fitted model and its state.
    // `season_capacity` reserves room for later models with a longer period.
    id add(const model_spec& spec, const params& p, const series_state& st, std::uint32_t season_capacity = 0) {
        const std::uint32_t m = spec.seasonal() ? static_cast<std::uint32_t>(st.season.size()) : 0U;
        const std::uint32_t cap = std::max(m, season_capacity);
        online_slot s;
        s.season_offset = grow_pool(cap);
        capacity_.push_back(cap);
        slots_.push_back(s);
        const auto i = static_cast<id>(slots_.size() - 1);
        install(i, spec, p, st);
        return i;
    }

    // Control plane: replace a series' model (after a refit or a model switch).
    // A longer season than the series' capacity moves it to a new pool run.
    void install(id i, const model_spec& spec, const params& p, const series_state& st) {
        online_slot& s = slots_[i];
        const std::uint32_t m = spec.seasonal() ? static_cast<std::uint32_t>(st.season.size()) : 0U;
        if (m > capacity_[i]) {
            s.season_offset = grow_pool(m);
            capacity_[i] = m;
        }
        s.level = st.level;
        s.trend = st.trend;
        s.par = p;
        s.period = m;
        s.phase = m ? st.phase % m : 0U;
        s.trend_k = spec.season == season_kind::naive ? trend_kind::none : spec.trend;
        s.season_k = m ? spec.season : season_kind::none;
        for (std::uint32_t k = 0; k < m; ++k) pool_[s.season_offset + k] = st.season[k];
    }

    [[nodiscard]] std::size_t size() const noexcept { return slots_.size(); }

    // Fast path: one observation for series i; returns the one-step forecast
    // that was standing before y arrived (so the caller can score it). O(1),
    // no allocation; NaN y means "missing" (see step()).
    double update(id i, double y) noexcept { return update_slot(slots_[i], y); }

    // Fast path: y[i] is the new observation of series i. `forecasts`, when
    // non-empty, receives each series' one-step forecast made before y[i].
    void update_all(std::span<const double> y, std::span<double> forecasts = {}) noexcept {
        const std::size_t n = std::min(y.size(), slots_.size());
        online_slot* slot = slots_.data();
        // The slots stream in order (the hardware prefetcher sees that), but
        // each series' season factor sits a whole period further on: a
        // stride of m*8 bytes, beyond what stride prefetchers follow. Ask
        // for it a few series ahead.
        constexpr std::size_t ahead = 24;
        const double* pool = pool_.data();
        const auto prefetch = [&](std::size_t j) {
            if (j < n && slot[j].period != 0) __builtin_prefetch(pool + slot[j].season_offset + slot[j].phase, 1);
        };
        if (forecasts.empty()) {
            for (std::size_t i = 0; i < n; ++i) {
                prefetch(i + ahead);
                (void)update_slot(slot[i], y[i]);
            }
        } else {
            for (std::size_t i = 0; i < n; ++i) {
                prefetch(i + ahead);
                forecasts[i] = update_slot(slot[i], y[i]);
            }
        }
    }

    // h-step point forecast (h >= 1) of series i. O(1).
    [[nodiscard]] double forecast(id i, std::uint32_t h = 1) const noexcept {
        const online_slot& s = slots_[i];
        const double base = s.level + trend_multiplier(s.trend_k, s.par.phi, h) * s.trend;
        if (s.period == 0) return base;
        const double f = pool_[s.season_offset + (s.phase + h - 1) % s.period];
        switch (s.season_k) {
        case season_kind::additive: return base + f;
        case season_kind::multiplicative: return base * f;
        case season_kind::naive: return f;
        case season_kind::none: break;
        }
        return base;
    }

    // Control plane: a copy of series i's state (for checks and refits).
    [[nodiscard]] series_state state(id i) const {
        const online_slot& s = slots_[i];
        series_state st;
        st.level = s.level;
        st.trend = s.trend;
        st.phase = s.phase;
        st.season.assign(pool_.begin() + s.season_offset, pool_.begin() + s.season_offset + s.period);
        return st;
    }

    [[nodiscard]] const online_slot& slot(id i) const noexcept { return slots_[i]; }

private:
    // A new run of n factors at the end of the pool; offsets are 32-bit to
    // keep the slot in one cache line (2^32 factors = 32 GiB of seasons).
    std::uint32_t grow_pool(std::uint32_t n) {
        const std::size_t off = pool_.size();
        if (off + n > std::numeric_limits<std::uint32_t>::max())
            throw std::length_error("online_bank: season pool full (2^32 factors)");
        pool_.resize(off + n, 0.0);
        return static_cast<std::uint32_t>(off);
    }

    template <trend_kind T, season_kind S>
    static double run(online_slot& s, double* season, double y) noexcept {
        if constexpr (S == season_kind::none) {
            double unused = 0.0; // a series without season owns no pool run
            (void)season;
            return step<T, S>(y, s.level, s.trend, unused, s.par);
        } else {
            double& f = season[s.phase];
            const double yhat = step<T, S>(y, s.level, s.trend, f, s.par);
            s.phase = s.phase + 1 == s.period ? 0U : s.phase + 1;
            return yhat;
        }
    }

    double update_slot(online_slot& s, double y) noexcept {
        double* season = pool_.data() + s.season_offset;
        // Dispatch on the two kinds; a bank usually holds few distinct models
        // per tick, so these branches predict well in the update loop.
        switch (s.season_k) {
        case season_kind::none:
            switch (s.trend_k) {
            case trend_kind::none: return run<trend_kind::none, season_kind::none>(s, season, y);
            case trend_kind::additive: return run<trend_kind::additive, season_kind::none>(s, season, y);
            case trend_kind::damped: return run<trend_kind::damped, season_kind::none>(s, season, y);
            }
            break;
        case season_kind::additive:
            switch (s.trend_k) {
            case trend_kind::none: return run<trend_kind::none, season_kind::additive>(s, season, y);
            case trend_kind::additive: return run<trend_kind::additive, season_kind::additive>(s, season, y);
            case trend_kind::damped: return run<trend_kind::damped, season_kind::additive>(s, season, y);
            }
            break;
        case season_kind::multiplicative:
            switch (s.trend_k) {
            case trend_kind::none: return run<trend_kind::none, season_kind::multiplicative>(s, season, y);
            case trend_kind::additive: return run<trend_kind::additive, season_kind::multiplicative>(s, season, y);
            case trend_kind::damped: return run<trend_kind::damped, season_kind::multiplicative>(s, season, y);
            }
            break;
        case season_kind::naive: return run<trend_kind::none, season_kind::naive>(s, season, y);
        }
        return std::numeric_limits<double>::quiet_NaN();
    }

    // Aligned so slot i is exactly cache line i of the array.
    template <typename T>
    struct aligned_alloc {
        using value_type = T;
        aligned_alloc() = default;
        template <typename U>
        explicit aligned_alloc(const aligned_alloc<U>&) noexcept {}
        T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
        void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{64}); }
        friend bool operator==(const aligned_alloc&, const aligned_alloc&) noexcept { return true; }
    };

    std::vector<online_slot, aligned_alloc<online_slot>> slots_;
    std::vector<std::uint32_t> capacity_;
    std::vector<double> pool_;
};

} // namespace shadownet::forecast
