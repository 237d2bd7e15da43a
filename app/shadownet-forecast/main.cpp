// shadownet-forecast: the offline forecasting tool (issue 4). Reads series
// from CSV, fits (batch) or walks them point by point as the appliance would
// (--online), in parallel over series. A thin front end over lib/forecast:
// every number it prints comes from the same code the control core runs.
//
// Exit codes: 0 ok, 1 bad data (message names file and line), 2 bad usage.
#include "shadownet/forecast/csv.hpp"
#include "shadownet/forecast/fit.hpp"
#include "shadownet/forecast/intervals.hpp"
#include "shadownet/forecast/learner.hpp"
#include "shadownet/forecast/model.hpp"
#include "shadownet/forecast/select.hpp"

#include "shadownet/core/json.hpp"

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <fmt/os.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace po = boost::program_options;
namespace fc = shadownet::forecast;

namespace {

constexpr int exit_data = 1;
constexpr int exit_usage = 2;

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct data_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct tool_options {
    std::string input;
    std::string model = "auto";
    std::uint32_t period = 1;
    std::optional<std::uint32_t> horizon;
    double level = 0.95;
    double capacity_q = 0.95;
    std::string output = "-";
    std::string params;
    std::string summary_json;
    bool online = false;
    std::string select = "auto";
    std::string loss = "one-step";
    std::string intervals = "analytic";
    std::size_t window = 0;
    std::size_t refit_every = 0;
    int threads = 0;
};

// "95" and "0.95" both mean 95 %.
double parse_percent(double v, const char* what) {
    const double p = v > 1.0 ? v / 100.0 : v;
    if (!(p > 0.0 && p < 1.0)) throw usage_error(fmt::format("--{} must be in (0, 100), got {}", what, v));
    return p;
}

std::string num(double v) {
    if (!std::isfinite(v)) return "NA";
    return fmt::format("{}", v);
}

std::string opt_num(bool used, double v) { return used ? num(v) : "NA"; }

std::string display_name(const fc::series_data& s) { return s.name.empty() ? std::string("1") : s.name; }

// The lines a series came from, for error messages.
std::string where(const tool_options& o, const fc::series_data& s) {
    const std::string name = s.name.empty() ? std::string() : fmt::format(" (series {})", s.name);
    if (s.line.empty()) return o.input + name;
    return fmt::format("{}:{}-{}{}", o.input, s.line.front(), s.line.back(), name);
}

// The explicit model must fit this series, or the run stops with a reason
// naming the lines (auto mode falls back instead).
void require_applicable(const tool_options& o, const fc::model_spec& spec, const fc::series_data& s) {
    if (auto why = fc::check_applicable(spec, s.y)) {
        // Point at the offending line when the reason names a point.
        for (std::size_t i = 0; i < s.y.size(); ++i)
            if (spec.season == fc::season_kind::multiplicative && std::isfinite(s.y[i]) && s.y[i] <= 0.0)
                throw data_error(fmt::format("{}:{}: {} (try --model auto or hw-add)", o.input, s.line[i], *why));
        throw data_error(fmt::format("{}: {}", where(o, s), *why));
    }
}

struct batch_out {
    fc::fit_result fit;
    std::vector<fc::forecast_point> path;
    std::string note;
};

batch_out run_batch(const tool_options& o, const fc::series_data& s, std::optional<fc::model_spec> spec,
                    std::uint32_t horizon) {
    fc::fit_options fo;
    if (o.loss == "h-step") {
        fo.loss = fc::loss_kind::h_step_sse;
        fo.horizon = horizon;
    }
    batch_out r;
    if (spec) {
        r.fit = fc::fit(*spec, s.y, fo);
    } else {
        fc::selection_options so;
        so.period = o.period;
        // auto: a holdout at the output horizon when the series is long
        // enough to spare one (high-frequency telemetry), AICc otherwise
        // (short monthly/quarterly series, where a holdout is too noisy).
        const bool holdout = o.select == "holdout" || (o.select == "auto" && s.y.size() >= 500);
        so.by = holdout ? fc::criterion::holdout : fc::criterion::aicc;
        so.horizon = horizon;
        so.fit = fo;
        auto sel = fc::select_model(s.y, so);
        r.fit = std::move(sel.best);
        for (const auto& c : sel.tried)
            if (!c.ok && c.spec.season != fc::season_kind::none) {
                r.note = fmt::format("seasonal models skipped: {}", c.reason);
                break;
            }
    }
    fc::interval_options io;
    io.level = o.level;
    io.capacity_q = o.capacity_q;
    io.method = o.intervals == "empirical" ? fc::interval_method::empirical : fc::interval_method::analytic;
    r.path = fc::forecast_path(r.fit, s.y, horizon, io);
    return r;
}

struct online_out {
    std::vector<std::size_t> idx;
    std::vector<fc::live_point> pts;
    fc::live_metrics metrics;
    std::string model;
};

online_out run_online(const tool_options& o, const fc::series_data& s, std::optional<fc::model_spec> spec,
                      std::uint32_t horizon) {
    fc::learner_options lo;
    lo.model = spec;
    lo.period = o.period;
    lo.horizon = horizon;
    lo.level = o.level;
    lo.capacity_q = o.capacity_q;
    lo.window = o.window;
    lo.refit_every = o.refit_every;
    fc::series_learner l(lo);
    online_out r;
    for (std::size_t i = 0; i < s.y.size(); ++i) {
        const fc::live_point p = l.observe(s.y[i]);
        if (!p.valid) continue;
        r.idx.push_back(i);
        r.pts.push_back(p);
    }
    r.metrics = l.metrics();
    r.model = l.fitted() ? fc::model_name(l.model()) : "none";
    return r;
}

// An output stream: "-" is stdout.
class sink {
public:
    explicit sink(const std::string& path) {
        if (path == "-" || path.empty()) {
            os_ = &std::cout;
        } else {
            file_ = std::make_unique<std::ofstream>(path);
            if (!*file_) throw usage_error(fmt::format("cannot write {}", path));
            os_ = file_.get();
        }
    }
    std::ostream& operator*() { return *os_; }
    [[nodiscard]] bool is_stdout() const noexcept { return !file_; }

private:
    std::unique_ptr<std::ofstream> file_;
    std::ostream* os_ = nullptr;
};

int run(const tool_options& o) {
    std::optional<fc::model_spec> spec;
    if (o.model != "auto") {
        spec = fc::parse_model(o.model, o.period);
        if (!spec) throw usage_error(fmt::format("unknown --model {} (auto, ses, holt, damped, hw-add, hw-mul, snaive)", o.model));
        if (spec->seasonal() && o.period < 2)
            throw usage_error(fmt::format("--model {} needs --period M >= 2", o.model));
    }
    if (o.select != "auto" && o.select != "aicc" && o.select != "holdout")
        throw usage_error("--select must be auto, aicc or holdout");
    if (o.loss != "one-step" && o.loss != "h-step") throw usage_error("--loss must be one-step or h-step");
    if (o.intervals != "analytic" && o.intervals != "empirical")
        throw usage_error("--intervals must be analytic or empirical");
    const std::uint32_t horizon = o.horizon.value_or(o.online ? 1U : std::max<std::uint32_t>(o.period, 1));
    if (horizon == 0) throw usage_error("--horizon must be at least 1");

    std::vector<fc::series_data> data;
    try {
        if (o.input == "-") data = fc::read_series_csv(std::cin, "stdin");
        else data = fc::read_series_csv_file(o.input);
    } catch (const fc::csv_error& e) {
        throw data_error(e.what());
    }
    if (spec)
        for (const auto& s : data) require_applicable(o, *spec, s);

    std::optional<tbb::global_control> limit;
    if (o.threads > 0) limit.emplace(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(o.threads));

    sink out(o.output);
    if (!o.online) {
        std::vector<batch_out> res(data.size());
        tbb::parallel_for(std::size_t{0}, data.size(), [&](std::size_t i) { res[i] = run_batch(o, data[i], spec, horizon); });
        *out << "series,h,mean,lower,upper,capacity\n";
        for (std::size_t i = 0; i < data.size(); ++i)
            for (const auto& p : res[i].path)
                *out << fmt::format("{},{},{},{},{},{}\n", display_name(data[i]), p.h, num(p.mean), num(p.lower),
                                    num(p.upper), num(p.capacity));
        if (!o.params.empty()) {
            sink ps(o.params);
            *ps << "series,model,period,alpha,beta,gamma,phi,sse,aicc,n,note\n";
            for (std::size_t i = 0; i < data.size(); ++i) {
                const auto& f = res[i].fit;
                const bool smoothing = f.spec.season != fc::season_kind::naive;
                const bool gamma = f.spec.season == fc::season_kind::additive ||
                                   f.spec.season == fc::season_kind::multiplicative;
                *ps << fmt::format("{},{},{},{},{},{},{},{},{},{},\"{}\"\n", display_name(data[i]),
                                   fc::model_name(f.spec), f.spec.seasonal() ? f.spec.period : 1U,
                                   opt_num(smoothing, f.par.alpha), opt_num(f.spec.has_trend(), f.par.beta),
                                   opt_num(gamma, f.par.gamma), opt_num(f.spec.trend == fc::trend_kind::damped, f.par.phi),
                                   num(f.sse), num(f.aicc), f.n, res[i].note);
            }
        }
        return 0;
    }

    std::vector<online_out> res(data.size());
    tbb::parallel_for(std::size_t{0}, data.size(), [&](std::size_t i) { res[i] = run_online(o, data[i], spec, horizon); });
    *out << "series,t,actual,forecast,lower,upper,capacity\n";
    for (std::size_t i = 0; i < data.size(); ++i)
        for (std::size_t k = 0; k < res[i].idx.size(); ++k) {
            const auto& p = res[i].pts[k];
            *out << fmt::format("{},{},{},{},{},{},{}\n", display_name(data[i]), data[i].t[res[i].idx[k]],
                                num(p.actual), num(p.mean), num(p.lower), num(p.upper), num(p.capacity));
        }

    // Accuracy summary: per series and pooled (point-weighted).
    std::ostream& sum = out.is_stdout() ? std::cerr : std::cout;
    sum << fmt::format("{:<16} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8} {:>6} {:>6}  {}\n", "series", "points", "MAPE%",
                       "sMAPE%", "MASE", "cover%", "cap" + std::to_string(static_cast<int>(std::lround(o.capacity_q * 100))) + "%",
                       "refits", "switch", "model");
    fc::live_metrics tot;
    double w_mape = 0, w_smape = 0, w_mase = 0, w_cov = 0, w_cap = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
        const auto& m = res[i].metrics;
        sum << fmt::format("{:<16} {:>8} {:>8.3f} {:>8.3f} {:>7.3f} {:>8.2f} {:>8.2f} {:>6} {:>6}  {}\n",
                           display_name(data[i]), m.n, m.mape, m.smape, m.mase, 100 * m.coverage,
                           100 * m.capacity_coverage, m.refits, m.switches, res[i].model);
        const auto n = static_cast<double>(m.n);
        tot.n += m.n;
        w_mape += n * m.mape;
        w_smape += n * m.smape;
        w_mase += n * m.mase;
        w_cov += n * m.coverage;
        w_cap += n * m.capacity_coverage;
    }
    const double tn = tot.n ? static_cast<double>(tot.n) : 1.0;
    if (data.size() > 1)
        sum << fmt::format("{:<16} {:>8} {:>8.3f} {:>8.3f} {:>7.3f} {:>8.2f} {:>8.2f}\n", "all", tot.n, w_mape / tn,
                           w_smape / tn, w_mase / tn, 100 * w_cov / tn, 100 * w_cap / tn);
    if (!o.summary_json.empty()) {
        shadownet::json_writer j;
        j.begin_object().member("horizon", static_cast<std::uint64_t>(horizon)).member("level", o.level);
        j.member("capacity_quantile", o.capacity_q).key("series").begin_array();
        for (std::size_t i = 0; i < data.size(); ++i) {
            const auto& m = res[i].metrics;
            j.begin_object()
                .member("series", display_name(data[i]))
                .member("model", res[i].model)
                .member("points", static_cast<std::uint64_t>(m.n))
                .member("mape", m.mape)
                .member("smape", m.smape)
                .member("mase", m.mase)
                .member("coverage", m.coverage)
                .member("capacity_coverage", m.capacity_coverage)
                .member("refits", static_cast<std::uint64_t>(m.refits))
                .member("switches", static_cast<std::uint64_t>(m.switches))
                .end_object();
        }
        j.end_array().end_object();
        sink js(o.summary_json);
        *js << j.str() << '\n';
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    tool_options o;
    double level = 95, capq = 95;
    po::options_description desc(
        "shadownet-forecast: fit and evaluate forecasts on CSV series\n"
        "Usage: shadownet-forecast [options] INPUT.csv   (CSV with header t,value or series,t,value; - for stdin)\n"
        "Options");
    // clang-format off
    desc.add_options()
        ("help,h", "this text")
        ("input,i", po::value(&o.input), "input CSV (or the first positional argument)")
        ("model,m", po::value(&o.model)->default_value("auto"), "auto|ses|holt|damped|hw-add|hw-mul|snaive (also hw-add-damped, hw-mul-damped, seasonal-add, seasonal-mul)")
        ("period,p", po::value(&o.period)->default_value(1), "season length M (e.g. 12 monthly, 4 quarterly, 288 five-minute daily)")
        ("horizon,H", po::value<std::uint32_t>(), "steps ahead: batch forecasts 1..H (default M, or 1); --online scores H-step-ahead forecasts (default 1)")
        ("level,l", po::value(&level)->default_value(95), "prediction interval level, percent")
        ("capacity-quantile", po::value(&capq)->default_value(95), "one-sided quantile reported as capacity, percent")
        ("output,o", po::value(&o.output)->default_value("-"), "output CSV (- for stdout)")
        ("params", po::value(&o.params), "batch: write fitted models and parameters to this CSV")
        ("online", po::bool_switch(&o.online), "walk each series point by point with continuous learning")
        ("select", po::value(&o.select)->default_value("auto"), "--model auto picks by: auto (holdout at the horizon for series of 500+ points, else AICc)|aicc|holdout")
        ("loss", po::value(&o.loss)->default_value("one-step"), "fit loss: one-step|h-step (at --horizon)")
        ("intervals", po::value(&o.intervals)->default_value("analytic"), "batch intervals: analytic|empirical")
        ("window", po::value(&o.window)->default_value(0), "--online refit window in points (0: automatic)")
        ("refit-every", po::value(&o.refit_every)->default_value(0), "--online refit interval in points (0: one period)")
        ("summary-json", po::value(&o.summary_json), "--online: also write the accuracy summary as JSON")
        ("threads", po::value(&o.threads)->default_value(0), "worker threads over series (0: all cores)");
    // clang-format on
    po::positional_options_description pos;
    pos.add("input", 1);
    try {
        po::variables_map vm;
        po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).run(), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << desc << '\n';
            return 0;
        }
        if (o.input.empty()) throw usage_error("no input file (see --help)");
        if (vm.count("horizon")) o.horizon = vm["horizon"].as<std::uint32_t>();
        o.level = parse_percent(level, "level");
        o.capacity_q = parse_percent(capq, "capacity-quantile");
        return run(o);
    } catch (const po::error& e) {
        std::cerr << "shadownet-forecast: " << e.what() << " (see --help)\n";
        return exit_usage;
    } catch (const usage_error& e) {
        std::cerr << "shadownet-forecast: " << e.what() << '\n';
        return exit_usage;
    } catch (const data_error& e) {
        std::cerr << "shadownet-forecast: " << e.what() << '\n';
        return exit_data;
    } catch (const fc::fit_error& e) {
        std::cerr << "shadownet-forecast: " << e.what() << '\n';
        return exit_data;
    } catch (const std::exception& e) {
        std::cerr << "shadownet-forecast: " << e.what() << '\n';
        return exit_data;
    }
}
