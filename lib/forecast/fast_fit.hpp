// Private to lib/forecast: the fast estimator behind fit() for the common case
// (one-step SSE, no missing points). Control plane only.
//
// Why it exists: fit() with Nelder-Mead needs a few hundred passes over the
// series, each latency-bound by the level/trend recursion (~24 cycles a
// point). This path instead
//  - evaluates several parameter vectors in one pass ("lanes", vectorised
//    with AVX2/FMA when the CPU has them, chosen at run time),
//  - rewrites the level recursion as the equivalent second-order linear
//    recurrence l[t+1] = tr*l[t] - det*l[t-1] + a*u[t] + a*phi*(beta-1)*u[t-1]
//    (Cayley-Hamilton on the 2x2 level/trend system; u = y - s or y / s does
//    not depend on the current level because seasons are updated m >= 2 steps
//    before use), which cuts the loop-carried chain to one multiply-add,
//  - and minimises by projected Levenberg-Marquardt on the one-step
//    residuals, whose Jacobian comes from forward differences carried in the
//    other lanes of the same pass, with a line search over four step
//    lengths in one more pass: two passes per iteration (one for the last),
//    ~4-10 iterations.
// SSE surfaces of these models are multimodal, so the search is: score the
// given starts, a 26-point Halton set and two points at alpha ~ 1 (batched,
// four or eight per pass); descend from the four best and from R's (0.3, 0.1, 0.1),
// cutting short descents that reach the best optimum's basin or trail it
// (series of 1 000 points or more: from the best only, and from where
// L-BFGS-B's first step out of R's start lands, see r_path_start());
// probe each parameter at its bounds from the optimum and descend again from
// a probe that wins. The final state and SSE are always recomputed with the
// exact recursion (filter.hpp), so reported numbers are R's recursion to the
// last bit; fit() falls back to Nelder-Mead on the exact recursion when the
// two disagree (a numerically fragile fit, see fit.cpp).
#pragma once

#include "shadownet/forecast/filter.hpp"
#include "shadownet/forecast/fit.hpp"
#include "shadownet/forecast/model.hpp"

#include <array>
#include <optional>
#include <span>
#include <vector>

namespace shadownet::forecast::detail {

// The parameter vector both fitters (fit.cpp's Nelder-Mead, the fast kernel)
// search: alpha, then beta, gamma and phi when the model has them.
struct param_layout {
    std::size_t dims = 0; // 0 for seasonal naive: nothing to fit
    bool beta = false, gamma = false, phi = false;
};
using param_vector = std::array<double, 4>;

inline param_layout param_layout_of(const model_spec& spec)
{
    param_layout l;
    if (spec.season == season_kind::naive)
        return l;
    l.dims = 1;
    if (spec.has_trend()) { l.beta = true; ++l.dims; }
    if (spec.season == season_kind::additive || spec.season == season_kind::multiplicative) { l.gamma = true; ++l.dims; }
    if (spec.trend == trend_kind::damped) { l.phi = true; ++l.dims; }
    return l;
}

inline param_vector pack_params(const param_layout& lay, const params& p)
{
    param_vector x{};
    std::size_t i = 0;
    x[i++] = p.alpha;
    if (lay.beta) x[i++] = p.beta;
    if (lay.gamma) x[i++] = p.gamma;
    if (lay.phi) x[i++] = p.phi;
    return x;
}

inline params unpack_params(const param_layout& lay, const param_vector& x)
{
    params p;
    std::size_t i = 0;
    p.alpha = x[i++];
    p.beta = lay.beta ? x[i++] : 0.0;
    p.gamma = lay.gamma ? x[i++] : 0.0;
    p.phi = lay.phi ? x[i++] : 1.0;
    return p;
}

struct fast_fit_result {
    params par;
    double sse = 0.0; // as evaluated by the fast kernel (rounding differs from the exact one)
    int passes = 0;
};

// nullopt when the fast path does not apply (missing points, naive season).
// `starts` (R's first) are scored with the Halton set; see above.
// `explore` = false (refits warm-started from the last fit): no Halton set,
// one descent from the best start, then the probes.
std::optional<fast_fit_result> fast_fit(const model_spec& spec, std::span<const double> y, const start_values& sv,
                                        const std::vector<params>& starts, double phi_lo, double phi_hi,
                                        bool explore = true);

// True when the vectorised kernels run with AVX2/FMA on this CPU.
bool fast_kernels_use_avx2() noexcept;

} // namespace shadownet::forecast::detail
