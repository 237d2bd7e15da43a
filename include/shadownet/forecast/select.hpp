// Automatic model selection: fit every applicable candidate and keep the best
// by AICc (on a common scoring range) or by rolling-origin (holdout) error.
// Candidates that cannot fit the data (multiplicative on non-positive data,
// too short for the period) are skipped with their reason, so selection
// always falls back to something that works (SES needs one finite point).
// Control plane only.
#pragma once

#include "shadownet/forecast/fit.hpp"
#include "shadownet/forecast/model.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace shadownet::forecast {

enum class criterion : std::uint8_t { aicc, holdout };

struct selection_options {
    std::uint32_t period = 1;
    std::vector<model_spec> candidates; // empty: default_candidates(period)
    criterion by = criterion::aicc;
    std::size_t holdout = 0;            // holdout points; 0: max(h, min(n/5, 2m))
    std::uint32_t horizon = 1;          // holdout scores horizons 1..horizon
    bool only_horizon = false;          // holdout scores exactly `horizon` steps ahead
    fit_options fit;
};

struct candidate_report {
    model_spec spec;
    bool ok = false;
    std::string reason; // why it was skipped, when !ok
    double score = 0.0; // AICc or holdout mean absolute error (lower is better)
};

struct selection {
    fit_result best; // refitted on all the data
    std::vector<candidate_report> tried;
};

// SES, Holt, damped; with period >= 2 also the seasonal family (additive and
// multiplicative, with/without (damped) trend) and seasonal naive.
std::vector<model_spec> default_candidates(std::uint32_t period);

// Throws fit_error only when no candidate at all can be fitted (no finite data).
selection select_model(std::span<const double> y, const selection_options& opt);

} // namespace shadownet::forecast
