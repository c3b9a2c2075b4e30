#include "rule_options.hpp"

#include <array>
#include <stdexcept>
#include <string>

#include "vs/common/cli.hpp"

namespace vs::oi {

namespace {

struct rule_option {
    const char* option;
    const char* env;
    const char* def;
    const char* help;
};

// Defaults as the old scripts had them (vs::oi::config's).
constexpr std::array<rule_option, 17> rule_options{{
    {"threshold-5min", "OI_SPIKE_THRESHOLD_PCT_5MIN", "0.03", "5 min alert threshold (fraction, inclusive)"},
    {"lookback-5min", "OI_LOOKBACK_WINDOW_5MIN", "300", "5 min window: baseline at now - this (s)"},
    {"cooldown-5min", "OI_ALERT_COOLDOWN_5MIN", "600", "5 min cooldown per symbol and direction (s)"},
    {"threshold-15min", "OI_SPIKE_THRESHOLD_PCT_15MIN", "0.07", "15 min alert threshold (fraction)"},
    {"lookback-15min", "OI_LOOKBACK_WINDOW_15MIN", "900", "15 min window (s)"},
    {"cooldown-15min", "OI_ALERT_COOLDOWN_15MIN", "900", "15 min cooldown (s)"},
    {"threshold-60min", "OI_SPIKE_THRESHOLD_PCT_60MIN", "0.12", "1 hour alert threshold (fraction)"},
    {"lookback-60min", "OI_LOOKBACK_WINDOW_60MIN", "3600", "1 hour window (s)"},
    {"cooldown-60min", "OI_ALERT_COOLDOWN_60MIN", "3600", "1 hour cooldown (s)"},
    {"min-delta-contracts", "OI_MIN_DELTA_CONTRACTS", "5000", "smallest OI change (contracts) that alerts"},
    {"excluded-symbols", "OI_EXCLUDED_SYMBOLS", "USDCUSDT", "comma-separated symbols never alerted"},
    {"history-window-s", "OI_HISTORY_WINDOW_SEC", "10800", "OI history kept per symbol (s)"},
    {"max-req-per-min", "OI_MAX_REQ_PER_MIN", "2000", "poll interval formula: requests per minute"},
    {"min-interval-s", "OI_MIN_INTERVAL_SEC", "5", "shortest poll interval (s)"},
    {"max-interval-s", "OI_MAX_INTERVAL_SEC", "20", "longest poll interval of the formula (s)"},
    {"enter-quote-24h", "OI_LIQUID_ENTER_QUOTE_24H", "4000000", "a symbol enters the universe at this 24 h quote volume (USDT)"},
    {"exit-quote-24h", "OI_LIQUID_EXIT_QUOTE_24H", "2000000", "a member leaves below this 24 h quote volume (USDT)"},
}};

}  // namespace

void add_rule_options(vs::cli::parser& cli)
{
    for (const auto& o : rule_options) {
        cli.option(o.option, "VALUE", o.def, o.help, {o.env});
    }
}

config rule_config_from(const vs::cli::parser& cli)
{
    try {
        return config::from_lookup([&](const char* name) -> std::optional<std::string> {
            for (const auto& o : rule_options) {
                if (std::string_view{o.env} == name) {
                    return cli.get(o.option);
                }
            }
            return std::nullopt;
        });
    } catch (const std::invalid_argument& e) {
        throw vs::cli::usage_error(e.what());
    }
}

}  // namespace vs::oi
