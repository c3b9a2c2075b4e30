#pragma once
// vs-oi's rule and universe options: each one an old .volspike.env name, so --help lists the
// variables (and the systemd example documents them), read into the rules library's config.
#include "vs/oi/rules.hpp"

namespace vs::cli {
class parser;
}

namespace vs::oi {

/// --threshold-5min (OI_SPIKE_THRESHOLD_PCT_5MIN) ... --exit-quote-24h (OI_LIQUID_EXIT_QUOTE_24H).
void add_rule_options(vs::cli::parser& cli);
/// The rules' config from those options; throws vs::cli::usage_error naming the variable.
config rule_config_from(const vs::cli::parser& cli);

}  // namespace vs::oi
