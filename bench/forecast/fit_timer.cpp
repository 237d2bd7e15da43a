// Times fc::fit on one series, for bench/forecast-vs-r.py (the R side times
// stats::HoltWinters the same way: fit repeated for >= 0.5 s of process CPU
// time, mean per fit). CPU time, not wall time, so a busy build box skews
// both sides less.
//   forecast_fit_timer FILE.csv MODEL PERIOD [SERIES [SECONDS]]
// prints: seconds_per_fit,sse,alpha,beta,gamma,evals (SECONDS = 0: fit once, no timing)
#include "shadownet/forecast/csv.hpp"
#include "shadownet/forecast/fit.hpp"
#include "shadownet/forecast/model.hpp"

#include <fmt/format.h>

#include <ctime>
#include <cstdlib>
#include <string>

namespace fc = shadownet::forecast;

int main(int argc, char** argv) {
    if (argc < 4) {
        fmt::print(stderr, "usage: forecast_fit_timer FILE.csv MODEL PERIOD [SERIES]\n");
        return 2;
    }
    try {
        const auto data = fc::read_series_csv_file(argv[1]);
        const auto spec = fc::parse_model(argv[2], static_cast<std::uint32_t>(std::atoi(argv[3])));
        if (!spec) throw std::runtime_error(fmt::format("unknown model {}", argv[2]));
        const fc::series_data* s = &data.front();
        if (argc > 4 && argv[4][0] != '\0')
            for (const auto& d : data)
                if (d.name == argv[4]) s = &d;
        const double budget = argc > 5 ? std::atof(argv[5]) : 0.5;
        const auto cpu = [] {
            timespec ts{};
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
            return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
        };
        fc::fit_result f = fc::fit(*spec, s->y); // warm caches, and the reported result
        if (budget <= 0.0) {
            fmt::print("0,{},{},{},{},{}\n", f.sse, f.par.alpha, f.par.beta, f.par.gamma, f.evals);
            return 0;
        }
        int reps = 0;
        const double t0 = cpu();
        double elapsed = 0.0;
        while (elapsed < budget || reps < 3) {
            f = fc::fit(*spec, s->y);
            ++reps;
            elapsed = cpu() - t0;
        }
        fmt::print("{},{},{},{},{},{}\n", elapsed / reps, f.sse, f.par.alpha, f.par.beta, f.par.gamma, f.evals);
        return 0;
    } catch (const std::exception& e) {
        fmt::print(stderr, "forecast_fit_timer: {}\n", e.what());
        return 1;
    }
}
