// Model names (the `--model` vocabulary) and their parsing.
#include "shadownet/forecast/model.hpp"

#include <array>
#include <utility>

namespace shadownet::forecast {

namespace {
// name <-> (trend, season). The first six are the operator-facing names of
// the issue; the rest are combinations the selector may also try.
struct named {
    std::string_view name;
    trend_kind trend;
    season_kind season;
};
constexpr std::array<named, 10> names{{
    {"ses", trend_kind::none, season_kind::none},
    {"holt", trend_kind::additive, season_kind::none},
    {"damped", trend_kind::damped, season_kind::none},
    {"hw-add", trend_kind::additive, season_kind::additive},
    {"hw-mul", trend_kind::additive, season_kind::multiplicative},
    {"snaive", trend_kind::none, season_kind::naive},
    {"hw-add-damped", trend_kind::damped, season_kind::additive},
    {"hw-mul-damped", trend_kind::damped, season_kind::multiplicative},
    {"seasonal-add", trend_kind::none, season_kind::additive},
    {"seasonal-mul", trend_kind::none, season_kind::multiplicative},
}};
} // namespace

std::string model_name(const model_spec& s) {
    for (const auto& n : names)
        if (n.trend == s.trend && n.season == s.season) return std::string(n.name);
    return "unknown";
}

std::optional<model_spec> parse_model(std::string_view name, std::uint32_t period) {
    for (const auto& n : names) {
        if (n.name != name) continue;
        model_spec s{n.trend, n.season, 1};
        if (s.seasonal()) s.period = period;
        return s;
    }
    return std::nullopt;
}

} // namespace shadownet::forecast
