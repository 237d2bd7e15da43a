// State trajectories against R forecast::ets fits (shipped by python3-statsmodels
// as test data, extracted by data/make_ets_reference.py). Our smoothing-form
// parameters are converted from ets' error-correction form
// (beta = beta_ets / alpha, gamma = gamma_ets / (1 - alpha)); the states must
// then agree at every step, for additive and multiplicative errors alike
// (the state equations are the same, only the likelihood differs).
#include "shadownet/forecast/filter.hpp"
#include "shadownet/forecast/model.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

namespace fc = shadownet::forecast;
using fc_test::close;
using fc_test::num;

TEST(ets_reference, state_trajectories_match_forecast_ets) {
    const auto data = fc_test::read_table(fc_test::data_path("ets_data.csv"));
    const auto fits = fc_test::read_table(fc_test::data_path("ets_fits.csv"));
    const auto states = fc_test::read_table(fc_test::data_path("ets_states.csv"));
    ASSERT_GE(fits.size(), 10U);
    std::size_t checked = 0;
    for (const auto& f : fits) {
        const std::string series = f.at("series"), model = f.at("model"), damped = f.at("damped");
        const std::string tag = series + "/" + model + (damped == "TRUE" ? "d" : "");
        const auto y = fc_test::series_values(data, series);
        fc::model_spec spec;
        spec.trend = model[1] == 'N' ? fc::trend_kind::none
                                     : (damped == "TRUE" ? fc::trend_kind::damped : fc::trend_kind::additive);
        spec.season = model[2] == 'A' ? fc::season_kind::additive : fc::season_kind::none;
        spec.period = static_cast<std::uint32_t>(num(f, "m"));
        fc::params p;
        p.alpha = num(f, "alpha");
        p.beta = spec.has_trend() ? num(f, "beta") / p.alpha : 0.0;
        p.gamma = spec.seasonal() ? num(f, "gamma") / (1.0 - p.alpha) : 0.0;
        p.phi = spec.trend == fc::trend_kind::damped ? num(f, "phi") : 1.0;

        std::vector<fc_test::row> traj;
        for (const auto& r : states)
            if (r.at("series") == series && r.at("model") == model && r.at("damped") == damped) traj.push_back(r);
        ASSERT_EQ(traj.size(), y.size() + 1) << tag;

        fc::series_state st;
        st.level = num(traj[0], "level");
        st.trend = num(traj[0], "trend");
        if (spec.seasonal())
            for (std::uint32_t k = 0; k < spec.period; ++k) st.season.push_back(num(traj[k], "season"));
        for (std::size_t t = 0; t < y.size(); ++t) {
            EXPECT_TRUE(close(st.level, num(traj[t], "level"), 1e-6, 1e-6)) << tag << " t=" << t;
            EXPECT_TRUE(close(st.trend, num(traj[t], "trend"), 1e-6, 1e-6)) << tag << " t=" << t;
            if (spec.seasonal()) {
                EXPECT_TRUE(close(st.season[st.phase], num(traj[t], "season"), 1e-6, 1e-6)) << tag << " t=" << t;
            }
            EXPECT_TRUE(close(fc::point_forecast(spec, p, st, 1), num(traj[t], "fitted"), 1e-6, 1e-6))
                << tag << " t=" << t;
            (void)fc::run_filter(spec, p, std::span<const double>(y).first(t + 1), t, st);
            ++checked;
        }
    }
    EXPECT_GT(checked, 500U);
}
