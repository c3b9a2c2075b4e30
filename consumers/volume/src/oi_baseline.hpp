#pragma once
// oiChange of a volume alert: open interest now against the sample nearest the start of the
// alert's hour (within `tolerance_ms`), from the OpenInterest records of vs-oi on the bus.
// Absent when vs-oi does not run, or kept no sample near the hour's start (a restart of
// vs-volume in the hour forgets the samples it saw: absent then, never a guess).
//
// Threads: one owner thread. Errors: none.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace vs::volume {

class oi_baseline {
public:
    explicit oi_baseline(std::int64_t tolerance_ms = 120'000) : tolerance_ms_(tolerance_ms) {}

    /// A sample (contracts) at `t_ms`. Non-positive or non-finite values are ignored.
    void on_sample(const std::string& symbol, std::int64_t t_ms, double open_interest);

    /// (now - at hour start) / at hour start, or nullopt.
    std::optional<double> change(std::string_view symbol, std::int64_t hour_ms) const;

private:
    struct sample {
        std::int64_t t_ms = 0;
        double oi = 0;
    };
    struct per_symbol {
        sample latest;
        std::map<std::int64_t, sample> nearest;   ///< hour start -> the sample closest to it
    };
    std::int64_t tolerance_ms_;
    std::map<std::string, per_symbol, std::less<>> symbols_;
};

}  // namespace vs::volume
