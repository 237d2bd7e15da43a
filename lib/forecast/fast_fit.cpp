// The fast estimator (see fast_fit.hpp for why and how).
#include "fast_fit.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <limits>

namespace shadownet::forecast::detail {

namespace {

// Per-lane parameters of one pass. K lanes run side by side.
template <int K>
struct lanes {
    double a[K], beta[K], g[K], phi[K];
};

// What a pass produces: per-lane SSE, and with a Jacobian the normal
// equations of lane 0's residuals (lanes 1..dims are its forward-difference
// perturbations): grad[j] = sum d_j e_0, hess[j][k] = sum d_j d_k, indexed by lane.
template <int K>
struct pass_out {
    double sse[K];
    double grad[K];
    double hess[K][K];
};

// K doubles as one GCC vector: every lane operation below is one vector
// instruction (AVX2 in the avx2 copy, pairs of SSE2 ops otherwise).
typedef double v4d __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));
template <int K>
struct vec_of;
template <>
struct vec_of<4> {
    using type = v4d;
};
template <>
struct vec_of<8> {
    using type = v8d;
};
template <int K>
using vd = typename vec_of<K>::type;


// The pass. always_inline so each target wrapper below compiles it with its
// own instruction set. Only arithmetic on vd<K>: no library code is pulled
// into the AVX2 copy.
template <int K, trend_kind T, season_kind S, bool JAC>
[[gnu::always_inline]] inline void pass_body(const double* __restrict y, std::size_t n, std::size_t start, double l0,
                                             double b0, const double* __restrict season0, std::size_t m,
                                             vd<K>* __restrict ring, const lanes<K>& p,
                                             const double* __restrict inv_h, int dims, pass_out<K>& out) {
    (void)dims;
    using v = vd<K>;
    constexpr bool seasonal = S == season_kind::additive || S == season_kind::multiplicative;
    constexpr bool trend = T != trend_kind::none;
    v a, beta, g, phi;
    for (int j = 0; j < K; ++j) {
        a[j] = p.a[j];
        beta[j] = p.beta[j];
        g[j] = p.g[j];
        phi[j] = T == trend_kind::damped ? p.phi[j] : 1.0;
    }
    const v one = (v{} + (1.0));
    const v c = one - a;
    const v cphi = c * phi;
    // Characteristic polynomial of [[c, c*phi], [-beta*a, phi*(1-beta*a)]].
    const v tr = c + phi * (one - beta * a);
    const v det = c * phi;
    const v k2 = a * phi * (beta - one);
    const v omb_phi = (one - beta) * phi;
    const v omg = one - g;
    v ih{};
    if constexpr (JAC)
        for (int j = 0; j < K; ++j) ih[j] = inv_h[j];

    if constexpr (seasonal)
        for (std::size_t k = 0; k < m; ++k) ring[k] = (v{} + (season0[k]));

    v l = (v{} + (l0)), lp{}, b = (v{} + (trend ? b0 : 0.0)), up{}, sse{};
    // Products of lanes j and (j + r) % K; r up to K/2 covers every pair.
    constexpr int R = K / 2 + 1;
    v prod[R] = {};
    std::size_t k = 0;
    const auto one_step = [&](double yt, bool first) [[gnu::always_inline]] {
        const v yv = (v{} + (yt));
        v s = S == season_kind::multiplicative ? one : v{};
        if constexpr (seasonal) s = ring[k];
        v u = yv;
        if constexpr (S == season_kind::additive) u = yv - s;
        if constexpr (S == season_kind::multiplicative) u = yv / s;
        v base = l;
        if constexpr (T == trend_kind::additive) base = l + b;
        if constexpr (T == trend_kind::damped) base = l + phi * b;
        v yhat = base;
        if constexpr (S == season_kind::additive) yhat = base + s;
        if constexpr (S == season_kind::multiplicative) yhat = base * s;
        const v e = yv - yhat;
        v ln;
        if constexpr (!trend) {
            ln = c * l + a * u;
        } else {
            // The first step has no l[t-1]: the first-order form once.
            ln = first ? c * l + cphi * b + a * u : tr * l + (a * u + k2 * up - det * lp);
            b = beta * (ln - l) + omb_phi * b;
        }
        if constexpr (S == season_kind::additive) ring[k] = g * (yv - ln) + omg * s;
        if constexpr (S == season_kind::multiplicative) ring[k] = g * (yv / ln) + omg * s;
        lp = l;
        l = ln;
        up = u;
        if constexpr (JAC) {
            // d[j] = d e0 / d theta_j by forward difference, and d[0] = e0, so
            // row 0 of d d' accumulates (SSE, grad) and rows 1.. the
            // Gauss-Newton matrix with grad again in column 0. All K lanes, not
            // just `dims`: a fixed trip count keeps the accumulators in
            // registers (unused lanes have d = 0). The matrix is symmetric,
            // so accumulate d times itself rotated by r = 0 .. K/2 lanes
            // (lane j of prod[r] sums d_j d_{j+r}): K/2 + 1 multiply-adds and
            // K/2 shuffles a point instead of K of each with one broadcast
            // per row, and each sum is the same products in the same order
            // as the row-by-row form, so the same bits.
            v d = (e - (v{} + (e[0]))) * ih;
            d[0] = e[0];
            prod[0] += d * d;
            if constexpr (K == 4) {
                typedef long long m4 __attribute__((vector_size(32)));
                prod[1] += d * __builtin_shuffle(d, m4{1, 2, 3, 0});
                prod[2] += d * __builtin_shuffle(d, m4{2, 3, 0, 1});
            } else {
                typedef long long m8 __attribute__((vector_size(64)));
                prod[1] += d * __builtin_shuffle(d, m8{1, 2, 3, 4, 5, 6, 7, 0});
                prod[2] += d * __builtin_shuffle(d, m8{2, 3, 4, 5, 6, 7, 0, 1});
                prod[3] += d * __builtin_shuffle(d, m8{3, 4, 5, 6, 7, 0, 1, 2});
                prod[4] += d * __builtin_shuffle(d, m8{4, 5, 6, 7, 0, 1, 2, 3});
            }
        } else {
            sse += e * e;
        }
        if constexpr (seasonal) k = k + 1 == m ? 0 : k + 1;
    };
    if (start < n) one_step(y[start], true);
    for (std::size_t t = start + 1; t < n; ++t) one_step(y[t], false);
    if constexpr (JAC) {
        for (int r = 0; r < R; ++r)
            for (int j = 0; j < K; ++j) {
                const int i = (j + r) % K;
                out.hess[i][j] = out.hess[j][i] = prod[r][j];
            }
    }
    for (int j = 0; j < K; ++j) {
        out.sse[j] = JAC ? (j == 0 ? out.hess[0][0] : 0.0) : sse[j];
        out.grad[j] = JAC ? out.hess[0][j] : 0.0;
    }
}

#define SHADOWNET_PASS_ARGS                                                                                        \
    const double *y, std::size_t n, std::size_t start, double l0, double b0, const double *season0, std::size_t m, \
        vd<K> *ring, const lanes<K>&p, const double *inv_h, int dims, pass_out<K>&out
#define SHADOWNET_PASS_CALL y, n, start, l0, b0, season0, m, ring, p, inv_h, dims, out

template <int K, trend_kind T, season_kind S, bool JAC>
__attribute__((target("avx2,fma"))) void pass_avx2(SHADOWNET_PASS_ARGS) {
    pass_body<K, T, S, JAC>(SHADOWNET_PASS_CALL);
}

template <int K, trend_kind T, season_kind S, bool JAC>
__attribute__((target("avx512f,avx512vl,avx512dq,fma"))) void pass_avx512(SHADOWNET_PASS_ARGS) {
    pass_body<K, T, S, JAC>(SHADOWNET_PASS_CALL);
}

template <int K, trend_kind T, season_kind S, bool JAC>
void pass_generic(SHADOWNET_PASS_ARGS) {
    pass_body<K, T, S, JAC>(SHADOWNET_PASS_CALL);
}

bool detect_avx2() noexcept {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool detect_avx512() noexcept {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
}

const bool use_avx2 = detect_avx2();
// Eight lanes (four-parameter models) fit one zmm register.
const bool use_avx512 = detect_avx512();

template <int K>
void run_pass(const model_spec& spec, bool jac, SHADOWNET_PASS_ARGS) {
    dispatch(spec, [&]<trend_kind T, season_kind S>() {
        if constexpr (S == season_kind::naive) {
            return;
        } else if (K == 8 && use_avx512) {
            if (jac) pass_avx512<K, T, S, true>(SHADOWNET_PASS_CALL);
            else pass_avx512<K, T, S, false>(SHADOWNET_PASS_CALL);
        } else if (use_avx2) {
            if (jac) pass_avx2<K, T, S, true>(SHADOWNET_PASS_CALL);
            else pass_avx2<K, T, S, false>(SHADOWNET_PASS_CALL);
        } else {
            if (jac) pass_generic<K, T, S, true>(SHADOWNET_PASS_CALL);
            else pass_generic<K, T, S, false>(SHADOWNET_PASS_CALL);
        }
    });
}

#undef SHADOWNET_PASS_ARGS
#undef SHADOWNET_PASS_CALL

using layout = param_layout;
using vec = param_vector;


// Solve A x = b for a small symmetric positive (semi)definite A, in place,
// by Gaussian elimination with partial pivoting. False when singular.
bool solve(int n, double a[4][4], double b[4]) {
    for (int c = 0; c < n; ++c) {
        int piv = c;
        for (int r = c + 1; r < n; ++r)
            if (std::abs(a[r][c]) > std::abs(a[piv][c])) piv = r;
        if (!(std::abs(a[piv][c]) > 0.0)) return false;
        if (piv != c) {
            for (int k = 0; k < n; ++k) std::swap(a[c][k], a[piv][k]);
            std::swap(b[c], b[piv]);
        }
        for (int r = c + 1; r < n; ++r) {
            const double f = a[r][c] / a[c][c];
            for (int k = c; k < n; ++k) a[r][k] -= f * a[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = n - 1; r >= 0; --r) {
        double s = b[r];
        for (int k = r + 1; k < n; ++k) s -= a[r][k] * b[k];
        b[r] = s / a[r][r];
    }
    return true;
}

class engine {
public:
    engine(const model_spec& spec, std::span<const double> y, const start_values& sv, double phi_lo, double phi_hi)
        : spec_(spec), y_(y), sv_(sv), lay_(param_layout_of(spec)) {
        m_ = sv.state.season.size();
        // Raw 64-byte-aligned storage, used only as an array of vd<K>
        // (implicitly created by the pass's first stores).
        ring_.reset(static_cast<double*>(::operator new(std::max<std::size_t>(m_, 1) * sizeof(v8d),
                                                        std::align_val_t{64})));
        for (int i = 0; i < 4; ++i) { lo_[static_cast<std::size_t>(i)] = 0.0; hi_[static_cast<std::size_t>(i)] = 1.0; }
        if (lay_.phi) {
            lo_[lay_.dims - 1] = phi_lo;
            hi_[lay_.dims - 1] = phi_hi;
        }
    }

    [[nodiscard]] const layout& lay() const noexcept { return lay_; }
    [[nodiscard]] int passes() const noexcept { return passes_; }

    vec clamp(vec x) const {
        for (std::size_t i = 0; i < lay_.dims; ++i) x[i] = std::clamp(x[i], lo_[i], hi_[i]);
        return x;
    }

    // SSE at each point, four or eight points a pass.
    void sse_many(const std::vector<vec>& xs, std::vector<double>& out) {
        out.assign(xs.size(), std::numeric_limits<double>::infinity());
        // Eight lanes a pass when more than four points wait and the CPU has
        // AVX-512: one zmm pass costs ~1.4 ymm passes on this kernel (Zen 4,
        // eu_5min[:4032] hw-add), so scoring the 32 starts takes four passes,
        // not eight. Not for a multiplicative season, whose two divisions a
        // point make a zmm pass cost nearly two ymm ones. Each lane's
        // arithmetic is the same at either width: same SSE to the bit.
        if (xs.size() > 4 && use_avx512 && spec_.season != season_kind::multiplicative)
            sse_batches<8>(xs, out);
        else
            sse_batches<4>(xs, out);
    }

    // SSE at x and the Gauss-Newton normal equations from forward differences.
    double sse_jac(const vec& x, double g[4], double h[4][4]) {
        const int d = static_cast<int>(lay_.dims);
        if (d + 1 <= 4) return jac_pass<4>(x, g, h);
        return jac_pass<8>(x, g, h);
    }

private:
    static double finite_or_inf(double v) { return std::isfinite(v) ? v : std::numeric_limits<double>::infinity(); }

    template <int K>
    void sse_batches(const std::vector<vec>& xs, std::vector<double>& out) {
        constexpr auto k = static_cast<std::size_t>(K);
        for (std::size_t base = 0; base < xs.size(); base += k) {
            lanes<K> p{};
            for (std::size_t j = 0; j < k; ++j) set_lane(p, j, xs[std::min(base + j, xs.size() - 1)]);
            pass_out<K> o{};
            const double inv_h[K] = {};
            run(p, false, inv_h, 0, o);
            for (std::size_t j = 0; j < k && base + j < xs.size(); ++j) out[base + j] = finite_or_inf(o.sse[j]);
        }
    }

    template <int K>
    void set_lane(lanes<K>& p, std::size_t j, const vec& x) const {
        const params q = unpack_params(lay_, x);
        p.a[j] = q.alpha;
        p.beta[j] = q.beta;
        p.g[j] = q.gamma;
        p.phi[j] = q.phi;
    }

    template <int K>
    void run(const lanes<K>& p, bool jac, const double* inv_h, int dims, pass_out<K>& o) {
        ++passes_;
        // The season ring holds one vector (a factor per lane) per phase.
        auto* ring = reinterpret_cast<vd<K>*>(ring_.get());
        run_pass<K>(spec_, jac, y_.data(), y_.size(), sv_.start, sv_.state.level, sv_.state.trend,
                    sv_.state.season.data(), m_, ring, p, inv_h, dims, o);
    }

    template <int K>
    double jac_pass(const vec& x, double g[4], double h[4][4]) {
        lanes<K> p{};
        double inv_h[K] = {};
        for (std::size_t j = 0; j < static_cast<std::size_t>(K); ++j) set_lane(p, j, x);
        const int d = static_cast<int>(lay_.dims);
        for (int i = 0; i < d; ++i) {
            vec xi = x;
            const auto ui = static_cast<std::size_t>(i);
            const double step = 1e-6;
            xi[ui] = x[ui] + step <= hi_[ui] ? x[ui] + step : x[ui] - step;
            inv_h[i + 1] = 1.0 / (xi[ui] - x[ui]);
            set_lane(p, static_cast<std::size_t>(i + 1), xi);
        }
        pass_out<K> o{};
        run(p, true, inv_h, d, o);
        for (int i = 0; i < d; ++i) {
            g[i] = o.grad[i + 1];
            for (int j = 0; j < d; ++j) h[i][j] = o.hess[i + 1][j + 1];
        }
        const double v = finite_or_inf(o.sse[0]);
        for (int i = 0; i < d; ++i)
            if (!std::isfinite(g[i])) return std::numeric_limits<double>::infinity();
        return v;
    }

    model_spec spec_;
    std::span<const double> y_;
    const start_values& sv_;
    layout lay_;
    std::size_t m_ = 0;
    struct aligned_delete {
        void operator()(double* p) const noexcept { ::operator delete(p, std::align_val_t{64}); }
    };
    std::unique_ptr<double, aligned_delete> ring_;
    vec lo_{}, hi_{};
    int passes_ = 0;
};

// Projected Levenberg-Marquardt from x0 with a line search. Coordinates on a
// bound with the gradient pushing outwards are frozen for the step (active
// set). Gauss-Newton steps on these recursions come out consistently short
// (the residuals are large, so J'J underestimates curvature along the
// valley), so each direction is tried at several lengths in one batched
// pass and the best is kept: two passes per iteration, a handful of
// iterations.
std::pair<vec, double> levenberg_marquardt(engine& eng, vec x, const vec& lo, const vec& hi,
                                           double give_up = std::numeric_limits<double>::infinity(),
                                           const vec* known = nullptr) {
    const int d = static_cast<int>(eng.lay().dims);
    double g[4] = {}, h[4][4] = {};
    double f = eng.sse_jac(x, g, h);
    if (!std::isfinite(f)) return {x, f};
    // Far from the optimum (the first steps from a start) the quadratic model
    // is poor: start damped, relax quickly once steps are accepted.
    double lambda = 1e-2;
    std::vector<vec> trial(4);
    std::vector<double> ft;
    for (int it = 0; it < 40; ++it) {
        int free_n = 0;
        int idx[4];
        for (int i = 0; i < d; ++i) {
            const auto ui = static_cast<std::size_t>(i);
            const bool at_lo = x[ui] <= lo[ui] && g[i] > 0.0;
            const bool at_hi = x[ui] >= hi[ui] && g[i] < 0.0;
            if (!(at_lo || at_hi)) idx[free_n++] = i;
        }
        if (free_n == 0) break;
        double a[4][4], r[4];
        for (int i = 0; i < free_n; ++i) {
            for (int j = 0; j < free_n; ++j) a[i][j] = h[idx[i]][idx[j]];
            a[i][i] += lambda * (h[idx[i]][idx[i]] + 1e-12 * f);
            r[i] = -g[idx[i]];
        }
        if (!solve(free_n, a, r)) {
            lambda = std::max(lambda * 100.0, 1e-6);
            if (lambda > 1e12) break;
            continue;
        }
        // Step lengths along the Gauss-Newton direction, each capped in the
        // max-norm: a long first step from a start would otherwise be
        // clamped into a corner of the box (alpha = 1, gamma = 1, ...) whose
        // basin the descent then never leaves.
        static constexpr double lengths[4] = {0.5, 1.0, 2.0, 4.0};
        static constexpr double caps[4] = {0.03, 0.08, 0.16, 0.3};
        double norm = 0.0;
        for (int i = 0; i < free_n; ++i) norm = std::max(norm, std::abs(r[i]));
        double best_f = f;
        std::size_t best = 4;
        double step = 0.0;
        for (std::size_t k = 0; k < 4; ++k) {
            const double scale = norm > 0.0 ? std::min(lengths[k] * norm, caps[k]) / norm : 0.0;
            vec xn = x;
            for (int i = 0; i < free_n; ++i) xn[static_cast<std::size_t>(idx[i])] += scale * r[i];
            trial[k] = eng.clamp(xn);
        }
        for (int i = 0; i < d; ++i)
            step = std::max(step, std::abs(trial[1][static_cast<std::size_t>(i)] - x[static_cast<std::size_t>(i)]));
        if (step < 1e-8) break;
        eng.sse_many(trial, ft);
        for (std::size_t k = 0; k < 4; ++k)
            if (ft[k] < best_f) {
                best_f = ft[k];
                best = k;
            }
        if (best == 4) {
            // No length helps: trust the quadratic model less.
            lambda = std::max(lambda * 100.0, 1e-4);
            if (lambda > 1e10) break;
            continue;
        }
        const double gain = (f - best_f) / f;
        x = trial[best];
        f = best_f;
        lambda = best == 0 ? lambda : std::max(lambda / 100.0, 1e-9);
        // The three stopping rules need only the SSE at x, which the line
        // search just gave: they come before the Jacobian pass at x, so a
        // descent's last iteration does not pay for derivatives it never
        // uses (one pass less per descent; same steps and end point as when
        // the rules ran after that pass).
        // A descent still 10 % above the best optimum found so far after
        // two steps is heading for a worse basin: stop paying for it.
        if (it >= 1 && f > give_up) break;
        // ... or has reached the basin of the best optimum already known.
        if (known) {
            double dist = 0.0;
            for (int i = 0; i < d; ++i)
                dist = std::max(dist, std::abs(x[static_cast<std::size_t>(i)] - (*known)[static_cast<std::size_t>(i)]));
            if (dist < 0.02) break;
        }
        // Converged when a step no longer buys a part in 1e6: parameters are
        // then within ~1e-3 of the optimum, below what changes a forecast
        // (and SSE is compared with R's at 1e-2).
        if (gain < 1e-6) break;
        f = eng.sse_jac(x, g, h);
        if (!std::isfinite(f)) break;
    }
    return {x, f};
}

// Series at least this long get the lean search of fast_fit().
constexpr std::size_t lean_min_points = 1000;

// Where R's optim(method = "L-BFGS-B") goes first from x: with no curvature
// yet, along the projected steepest descent, which on this box runs to the
// corner the negative gradient points at (SSE gradients are huge), then a
// line search back along that segment that accepts the first length giving
// sufficient decrease. Here the lengths 1, 1/2, ..., 1/128 are scored in one
// batched pass (two under a multiplicative season) after the gradient pass,
// and the longest one with Armijo decrease (1e-4) wins; x itself when none.
// Two passes that put the next descent in the basin R would end in far more
// often than descending from x directly.
vec r_path_start(engine& eng, const vec& x, const vec& lo, const vec& hi) {
    double g[4] = {}, h[4][4] = {};
    const double f = eng.sse_jac(x, g, h);
    if (!std::isfinite(f)) return x;
    const std::size_t d = eng.lay().dims;
    vec corner = x;
    for (std::size_t i = 0; i < d; ++i) corner[i] = g[i] > 0.0 ? lo[i] : (g[i] < 0.0 ? hi[i] : x[i]);
    double slope = 0.0; // d SSE / dt along the segment (g is half the gradient)
    for (std::size_t i = 0; i < d; ++i) slope += 2.0 * g[i] * (corner[i] - x[i]);
    std::vector<vec> seg;
    double t = 1.0;
    for (int k = 0; k < 8; ++k, t *= 0.5) {
        vec q = x;
        for (std::size_t i = 0; i < d; ++i) q[i] += t * (corner[i] - x[i]);
        seg.push_back(q);
    }
    std::vector<double> fs;
    eng.sse_many(seg, fs);
    t = 1.0;
    for (std::size_t k = 0; k < seg.size(); ++k, t *= 0.5)
        if (fs[k] <= f + 1e-4 * t * slope) return seg[k];
    return x;
}

} // namespace

bool fast_kernels_use_avx2() noexcept { return use_avx2; }

std::optional<fast_fit_result> fast_fit(const model_spec& spec, std::span<const double> y, const start_values& sv,
                                        const std::vector<params>& starts, double phi_lo, double phi_hi,
                                        bool explore) {
    if (spec.season == season_kind::naive) return std::nullopt;
    for (double v : y)
        if (!std::isfinite(v)) return std::nullopt;
    if (spec.seasonal() && sv.state.season.size() < 2) return std::nullopt;
    if (y.size() <= sv.start) return std::nullopt;

    engine eng(spec, y, sv, phi_lo, phi_hi);
    vec lo{}, hi{};
    for (std::size_t i = 0; i < 4; ++i) { lo[i] = 0.0; hi[i] = 1.0; }
    if (eng.lay().phi) {
        lo[eng.lay().dims - 1] = phi_lo;
        hi[eng.lay().dims - 1] = phi_hi;
    }
    std::vector<vec> xs;
    for (const auto& s : starts) xs.push_back(eng.clamp(pack_params(eng.lay(), s)));
    // Plus a Halton set over the box: SSE surfaces of seasonal models are
    // multimodal (a corner basin at alpha ~ 1, gamma = 1 next to an interior
    // optimum with a large beta), and scoring starts is cheap (four or eight
    // per pass, see sse_many()).
    if (explore && eng.lay().dims >= 2) {
        static constexpr int primes[4] = {2, 3, 5, 7};
        const auto halton = [](int i, int b) {
            double f = 1.0, r = 0.0;
            for (; i > 0; i /= b) {
                f /= b;
                r += f * (i % b);
            }
            return r;
        };
        for (int i = 1; i <= 26; ++i) {
            vec x{};
            for (std::size_t d = 0; d < eng.lay().dims; ++d)
                x[d] = lo[d] + (hi[d] - lo[d]) * halton(i, primes[d]);
            xs.push_back(x);
        }
        // And two points at alpha ~ 1, where traffic fits often end.
        xs.push_back(eng.clamp(pack_params(eng.lay(), params{0.97, 0.02, 0.97, 0.95})));
        xs.push_back(eng.clamp(pack_params(eng.lay(), params{0.97, 0.3, 0.5, 0.95})));
    }
    std::vector<double> f0;
    eng.sse_many(xs, f0);
    std::vector<std::size_t> order(xs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return f0[a] < f0[b]; });

    fast_fit_result best;
    best.sse = std::numeric_limits<double>::infinity();
    vec best_x = xs[order[0]];
    // Short series: descents from the four best starts and always from R's
    // (0.3, 0.1, 0.1) (xs[0]). Long series (lean): passes cost more than the
    // 100x target allows, so only the best start's descent and one that
    // follows R's own optimiser out of R's start (r_path_start() below), run
    // to its end: on the synthetic series of bench/forecast-vs-r.py it ends
    // in R's basin or a better one more often than the three extra
    // descents did (docs/benchmarks.md, fit6). A plain descent from R's
    // start does not: it often ends in another basin than L-BFGS-B's.
    const bool lean = explore && eng.lay().dims >= 2 && y.size() >= lean_min_points;
    const std::size_t top = explore && eng.lay().dims >= 2 && !lean ? 4 : 1; // one parameter: one basin
    std::vector<std::size_t> runs;
    for (std::size_t i = 0; i < std::min(top, order.size()); ++i) runs.push_back(order[i]);
    if (explore && std::find(runs.begin(), runs.end(), std::size_t{0}) == runs.end()) runs.push_back(0);
    for (const std::size_t from : runs) {
        if (!std::isfinite(f0[from])) continue;
        const bool r_path = lean && from == 0;
        const vec x0 = r_path ? r_path_start(eng, xs[0], lo, hi) : xs[from];
        auto [x, f] = levenberg_marquardt(eng, x0, lo, hi,
                                          r_path ? std::numeric_limits<double>::infinity() : 1.1 * best.sse,
                                          std::isfinite(best.sse) ? &best_x : nullptr);
        if (f < best.sse) {
            best.sse = f;
            best_x = x;
        }
    }
    // Optima of these models often sit on a face of the box (beta = 0,
    // gamma = 1), in a basin of their own that a descent from an interior
    // start can miss. Probe each parameter at each bound from the optimum
    // (batched, one or two passes) and descend again from a probe that wins.
    if (std::isfinite(best.sse)) {
        std::vector<vec> probes;
        for (std::size_t i = 0; i < eng.lay().dims; ++i)
            for (const double b : {lo[i], hi[i]})
                if (best_x[i] != b) {
                    vec p = best_x;
                    p[i] = b;
                    probes.push_back(p);
                }
        std::vector<double> fp;
        eng.sse_many(probes, fp);
        std::size_t k = probes.size();
        for (std::size_t j = 0; j < probes.size(); ++j)
            if (fp[j] < best.sse && (k == probes.size() || fp[j] < fp[k])) k = j;
        if (k < probes.size()) {
            auto [x, f] = levenberg_marquardt(eng, probes[k], lo, hi);
            if (f < best.sse) {
                best.sse = f;
                best_x = x;
            }
        }
    }
    if (!std::isfinite(best.sse)) return std::nullopt;
    best.par = unpack_params(eng.lay(), best_x);
    best.passes = eng.passes();
    return best;
}

} // namespace shadownet::forecast::detail
