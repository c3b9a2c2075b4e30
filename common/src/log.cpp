#include "vs/common/log.hpp"

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "vs/common/redact.hpp"

namespace vs::log {
namespace {

// Every log line passes through vs::redact before it is written: a secret that a caller
// forgot to redact still never reaches stderr or the journal.
class redacting_sink final : public spdlog::sinks::sink {
public:
    explicit redacting_sink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

    void log(const spdlog::details::log_msg& msg) override
    {
        const std::string_view text{msg.payload.data(), msg.payload.size()};
        const std::string clean = redact::apply(text);
        if (clean == text) {
            inner_->log(msg);
            return;
        }
        spdlog::details::log_msg copy{msg};
        copy.payload = spdlog::string_view_t{clean.data(), clean.size()};
        inner_->log(copy);
    }
    void flush() override { inner_->flush(); }
    void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
    void set_formatter(std::unique_ptr<spdlog::formatter> f) override { inner_->set_formatter(std::move(f)); }

private:
    std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

bool valid_level(std::string_view level) noexcept
{
    for (std::string_view name : {"trace", "debug", "info", "warn", "warning", "error", "critical", "off"}) {
        if (level == name) {
            return true;
        }
    }
    return false;
}

void init(std::string_view process_name, std::string_view level)
{
    if (!valid_level(level)) {
        throw std::invalid_argument("unknown log level '" + std::string{level} +
                                    "' (trace, debug, info, warn, error, critical, off)");
    }
    std::string name{process_name};
    spdlog::drop(name);
    auto sink = std::make_shared<redacting_sink>(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
    spdlog::register_logger(logger);
    // The journal stamps time, unit and pid itself.
    if (std::getenv("JOURNAL_STREAM") != nullptr) {
        logger->set_pattern("<%l> %v");
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %n[%P] %^%l%$: %v");
    }
    logger->set_level(spdlog::level::from_str(level == "warning" ? "warn" : std::string{level}));
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
}

}  // namespace vs::log
