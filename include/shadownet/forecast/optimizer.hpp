// A small bounded Nelder-Mead for the smoothing parameters (at most a handful
// of dimensions, box bounds). Control plane only. Bounds are enforced by
// projecting every trial point into the box, which keeps the simplex valid
// and is what fitting needs: the SSE surface of exponential smoothing is
// smooth inside [0,1]^k and the optimum often sits on a face (alpha = 1,
// beta = 0), which projection reaches exactly.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>

namespace shadownet::forecast {

inline constexpr std::size_t max_opt_dims = 4;

struct nm_options {
    int max_evals = 400;
    double ftol = 1e-10;  // relative spread of simplex values
    double xtol = 1e-7;   // absolute simplex size
    double initial_step = 0.1;
};

struct nm_result {
    std::array<double, max_opt_dims> x{};
    double f = std::numeric_limits<double>::infinity();
    int evals = 0;
};

// Minimise f over the box [lo, hi] (first `dims` entries used) from x0.
// f takes a const std::array<double, max_opt_dims>& and returns a double
// (non-finite values are treated as +inf).
template <typename F>
nm_result nelder_mead(F&& f, std::array<double, max_opt_dims> x0, const std::array<double, max_opt_dims>& lo,
                      const std::array<double, max_opt_dims>& hi, std::size_t dims, const nm_options& opt = {}) {
    using point = std::array<double, max_opt_dims>;
    nm_result best;
    const auto clamp = [&](point p) {
        for (std::size_t i = 0; i < dims; ++i) p[i] = std::clamp(p[i], lo[i], hi[i]);
        return p;
    };
    const auto eval = [&](const point& p) {
        ++best.evals;
        const double v = f(p);
        return std::isfinite(v) ? v : std::numeric_limits<double>::infinity();
    };
    x0 = clamp(x0);
    if (dims == 0) {
        best.x = x0;
        best.f = eval(x0);
        return best;
    }

    std::array<point, max_opt_dims + 1> s{};
    std::array<double, max_opt_dims + 1> fv{};
    s[0] = x0;
    for (std::size_t i = 0; i < dims; ++i) {
        point p = x0;
        const double span = hi[i] - lo[i];
        const double stepv = opt.initial_step * (span > 0 ? span : 1.0);
        // Step inwards when x0 sits near the upper face, so the simplex is not flat.
        p[i] = (p[i] + stepv <= hi[i]) ? p[i] + stepv : p[i] - stepv;
        s[i + 1] = clamp(p);
    }
    for (std::size_t i = 0; i <= dims; ++i) fv[i] = eval(s[i]);

    constexpr double rho = 1.0, chi = 2.0, psi = 0.5, sigma = 0.5;
    while (best.evals < opt.max_evals) {
        // Order the simplex: insertion sort, at most 5 points.
        for (std::size_t i = 1; i <= dims; ++i)
            for (std::size_t j = i; j > 0 && fv[j] < fv[j - 1]; --j) {
                std::swap(fv[j], fv[j - 1]);
                std::swap(s[j], s[j - 1]);
            }
        double size = 0.0;
        for (std::size_t i = 1; i <= dims; ++i)
            for (std::size_t d = 0; d < dims; ++d) size = std::max(size, std::abs(s[i][d] - s[0][d]));
        const double spread = std::abs(fv[dims] - fv[0]);
        if (size < opt.xtol || (std::isfinite(fv[dims]) && spread <= opt.ftol * (std::abs(fv[0]) + 1e-300)))
            break;

        point c{};
        for (std::size_t i = 0; i < dims; ++i)
            for (std::size_t d = 0; d < dims; ++d) c[d] += s[i][d] / static_cast<double>(dims);
        const auto along = [&](double k) {
            point p{};
            for (std::size_t d = 0; d < dims; ++d) p[d] = c[d] + k * (s[dims][d] - c[d]);
            return clamp(p);
        };
        const point xr = along(-rho);
        const double fr = eval(xr);
        if (fr < fv[0]) {
            const point xe = along(-rho * chi);
            const double fe = eval(xe);
            if (fe < fr) { s[dims] = xe; fv[dims] = fe; }
            else { s[dims] = xr; fv[dims] = fr; }
            continue;
        }
        if (fr < fv[dims - 1]) {
            s[dims] = xr;
            fv[dims] = fr;
            continue;
        }
        const bool outside = fr < fv[dims];
        const point xc = along(outside ? -rho * psi : psi);
        const double fc = eval(xc);
        if (fc < (outside ? fr : fv[dims])) {
            s[dims] = xc;
            fv[dims] = fc;
            continue;
        }
        for (std::size_t i = 1; i <= dims; ++i) {
            for (std::size_t d = 0; d < dims; ++d) s[i][d] = s[0][d] + sigma * (s[i][d] - s[0][d]);
            s[i] = clamp(s[i]);
            fv[i] = eval(s[i]);
        }
    }
    std::size_t bi = 0;
    for (std::size_t i = 1; i <= dims; ++i)
        if (fv[i] < fv[bi]) bi = i;
    best.x = s[bi];
    best.f = fv[bi];
    return best;
}

} // namespace shadownet::forecast
