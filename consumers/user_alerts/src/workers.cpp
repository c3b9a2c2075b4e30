#include "workers.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vs/common/clock.hpp"
#include "vs/common/redact.hpp"

namespace vs::user_alerts {

namespace {

std::string trim_base(std::string url)
{
    while (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    return url;
}

std::string percent_encode(std::string_view s)
{
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += fmt::format("%{:02X}", u);
        }
    }
    return out;
}

std::string snippet(const std::string& body)
{
    std::string s = body.substr(0, 200);
    for (auto& c : s) {
        if (static_cast<unsigned char>(c) < 0x20) {
            c = ' ';
        }
    }
    return redact::apply(s);
}

std::int64_t steady_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

// ---- backend_fetcher ----------------------------------------------------------------------------

backend_fetcher::backend_fetcher(backend_config cfg, std::chrono::milliseconds every, parse_limits limits)
    : cfg_(std::move(cfg)), every_(every), limits_(limits)
{
    redact::add_secret(cfg_.api_key);
    thread_ = std::thread([this] { run(); });
}

backend_fetcher::~backend_fetcher() { stop(); }

void backend_fetcher::stop()
{
    {
        std::lock_guard lock{mu_};
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

std::optional<fetch_outcome> backend_fetcher::take()
{
    std::lock_guard lock{mu_};
    return std::exchange(ready_, std::nullopt);
}

fetch_outcome backend_fetcher::fetch_once(vs::net::http_client& http)
{
    fetch_outcome o;
    const auto t0 = std::chrono::steady_clock::now();
    vs::net::http_request req;
    req.method = "GET";
    req.url = trim_base(cfg_.base_url) + "/api/user-alerts-trigger/active?apiKey=" + percent_encode(cfg_.api_key);
    // The answer (27 MB for 100,000 alerts) is parsed as it arrives, never held whole; the
    // first bytes are kept for the log of an error status. The previous list's size is
    // reserved at once (a growing list would hold its old and new buffer at the peak).
    active_parser parser{limits_, last_count_ + last_count_ / 16};
    std::string head;
    std::size_t bytes = 0;
    req.on_body = [&](std::string_view chunk) {
        bytes += chunk.size();
        if (head.size() < 200) {
            head.append(chunk.substr(0, 200 - head.size()));
        }
        parser.write(chunk);   // refused: the rest is read (and ignored) to keep the connection
        return true;
    };
    auto r = http.perform(req);
    o.bytes = bytes;
    if (!r.ok()) {
        o.error = redact::apply(r.error_message);
    } else {
        o.http_status = r.res.status;
        if (r.res.status == 200) {
            o.parsed = parser.finish();
            if (!o.parsed->error) {
                last_count_ = o.parsed->alerts.size();
            }
        } else if (r.res.status == 401) {
            o.error = "HTTP 401: the backend refused the API key (check VOLSPIKE_API_KEY)";
        } else {
            o.error = fmt::format("HTTP {}: {}", r.res.status, snippet(head));
        }
    }
    o.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    return o;
}

void backend_fetcher::run()
{
    vs::net::http_client http{cfg_.http};
    auto next = std::chrono::steady_clock::now();
    std::unique_lock lock{mu_};
    while (!stop_) {
        lock.unlock();
        auto o = fetch_once(http);
        last_attempt_.store(steady_ms(), std::memory_order_relaxed);
        lock.lock();
        ready_ = std::move(o);
        // A fixed grid: the next fetch is `every` after the previous one started.
        next += every_;
        const auto now = std::chrono::steady_clock::now();
        if (next < now) {
            next = now;
        }
        cv_.wait_until(lock, next, [&] { return stop_; });
    }
}

// ---- update_sender ------------------------------------------------------------------------------

update_sender::update_sender(backend_config cfg, int concurrency, update_counters counters)
    : cfg_(std::move(cfg)), counters_(counters)
{
    redact::add_secret(cfg_.api_key);
    for (int i = 0; i < std::max(1, concurrency); ++i) {
        threads_.emplace_back([this] { run(); });
    }
}

update_sender::~update_sender() { stop(); }

void update_sender::stop()
{
    {
        std::lock_guard lock{mu_};
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
}

void update_sender::set_list(std::shared_ptr<const id_table> ids)
{
    std::lock_guard lock{mu_};
    latest_.assign(ids ? ids->size() : 0, std::numeric_limits<double>::quiet_NaN());
    order_.clear();
    ids_ = std::move(ids);
}

void update_sender::post(std::uint32_t index, double v)
{
    {
        std::lock_guard lock{mu_};
        if (index >= latest_.size()) {
            return;
        }
        const bool queued = !std::isnan(latest_[index]);
        latest_[index] = v;
        if (queued) {
            if (counters_.replaced != nullptr) {
                counters_.replaced->fetch_add(1, std::memory_order_relaxed);
            }
            return;
        }
        order_.push_back(index);
    }
    cv_.notify_one();
}

std::size_t update_sender::pending() const
{
    std::lock_guard lock{mu_};
    return order_.size();
}

void update_sender::run()
{
    vs::net::http_client http{cfg_.http};
    const std::string url = trim_base(cfg_.base_url) + "/api/user-alerts-trigger/update-checked";
    std::unique_lock lock{mu_};
    for (;;) {
        cv_.wait(lock, [&] { return stop_ || !order_.empty(); });
        if (stop_) {
            return;
        }
        const std::uint32_t index = order_.front();
        order_.pop_front();
        const double v = std::exchange(latest_[index], std::numeric_limits<double>::quiet_NaN());
        const std::string id{ids_->id(index)};
        lock.unlock();

        vs::net::http_request req;
        req.method = "POST";
        req.url = url;
        req.content_type = "application/json";
        req.body = boost::json::serialize(
            boost::json::object{{"alertId", id}, {"lastCheckedValue", v}, {"apiKey", cfg_.api_key}});
        const auto r = http.perform(req);
        const bool ok = r.ok() && r.res.status >= 200 && r.res.status < 300;
        if (ok) {
            if (counters_.sent != nullptr) {
                counters_.sent->fetch_add(1, std::memory_order_relaxed);
            }
        } else {
            if (counters_.failed != nullptr) {
                counters_.failed->fetch_add(1, std::memory_order_relaxed);
            }
            // The first failure and then one in a thousand: an outage must not flood the journal.
            const auto n = failures_logged_.fetch_add(1, std::memory_order_relaxed);
            if (n % 1000 == 0) {
                spdlog::warn("update-checked of alert {} failed ({} failures so far): {}", id, n + 1,
                             r.ok() ? fmt::format("HTTP {}: {}", r.res.status, snippet(r.res.body))
                                    : redact::apply(r.error_message));
            }
        }
        lock.lock();
    }
}

// ---- oi_poller ----------------------------------------------------------------------------------

oi_poller::oi_poller(vs::net::rest_options rest, vs::bus::channel_config oi_channel, oi_cache& cache,
                     std::chrono::milliseconds oi_max_age, oi_poll_counters counters)
    : rest_opts_(std::move(rest)),
      oi_channel_(std::move(oi_channel)),
      cache_(cache),
      oi_max_age_(oi_max_age),
      counters_(counters)
{
    thread_ = std::thread([this] { run(); });
}

oi_poller::~oi_poller() { stop(); }

void oi_poller::stop()
{
    {
        std::lock_guard lock{mu_};
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void oi_poller::set_wanted(std::vector<std::pair<std::string, std::chrono::milliseconds>> wanted)
{
    {
        std::lock_guard lock{mu_};
        wanted_ = std::move(wanted);
        changed_ = true;
    }
    cv_.notify_all();
}

void oi_poller::run()
{
    std::unique_ptr<vs::net::binance_rest> rest;
    std::unique_ptr<vs::bus::reader> oi;
    struct due {
        std::string symbol;
        std::chrono::milliseconds every{};
        std::chrono::steady_clock::time_point next{};
        std::chrono::steady_clock::time_point refused_until{};
    };
    std::vector<due> list;
    std::unique_lock lock{mu_};
    while (!stop_) {
        if (changed_) {
            changed_ = false;
            std::vector<due> next;
            for (const auto& [sym, every] : wanted_) {
                const auto old = std::find_if(list.begin(), list.end(), [&](const due& d) { return d.symbol == sym; });
                next.push_back(old != list.end() ? due{sym, every, std::min(old->next, std::chrono::steady_clock::now() + every),
                                                       old->refused_until}
                                                 : due{sym, every, {}, {}});
            }
            list = std::move(next);
        }
        lock.unlock();
        auto wake = std::chrono::steady_clock::now() + std::chrono::seconds{1};
        for (auto& d : list) {
            auto now = std::chrono::steady_clock::now();
            if (d.next > now || d.refused_until > now) {
                wake = std::min(wake, std::max(d.next, d.refused_until));
                continue;
            }
            {
                std::lock_guard stop_check{mu_};
                if (stop_) {
                    return;
                }
            }
            d.next = now + d.every;
            if (!oi) {
                oi = std::make_unique<vs::bus::reader>(oi_channel_, vs::bus::reader_options{false, "vs-user-alerts-oi"});
            }
            // vs-oi polls this symbol: its record serves, no weight spent here.
            if (fresh_channel_oi(*oi, d.symbol, vs::realtime_ms(), oi_max_age_)) {
                if (counters_.skipped_fresh != nullptr) {
                    counters_.skipped_fresh->fetch_add(1, std::memory_order_relaxed);
                }
                continue;
            }
            if (!rest) {
                try {
                    rest = std::make_unique<vs::net::binance_rest>(rest_opts_);
                } catch (const std::exception& e) {
                    spdlog::error("cannot set up the Binance REST client: {}", e.what());
                    d.refused_until = now + std::chrono::seconds{30};
                    continue;
                }
            }
            if (counters_.calls != nullptr) {
                counters_.calls->fetch_add(1, std::memory_order_relaxed);
            }
            auto r = rest->open_interest(d.symbol);
            bool stored = false;
            if (r.ok()) {
                boost::system::error_code ec;
                auto v = boost::json::parse(r.body, ec);
                if (!ec && v.is_object()) {
                    const auto* oi_v = v.as_object().if_contains("openInterest");
                    double x = std::nan("");
                    if (oi_v != nullptr && oi_v->is_string()) {
                        x = std::strtod(oi_v->as_string().c_str(), nullptr);
                    } else if (oi_v != nullptr && oi_v->is_number()) {
                        x = oi_v->to_number<double>();
                    }
                    if (std::isfinite(x) && x > 0) {
                        cache_.put(d.symbol, {x, vs::realtime_ms()});
                        stored = true;
                    }
                }
                if (!stored) {
                    spdlog::warn("openInterest {}: unusable answer: {}", d.symbol, snippet(r.body));
                }
            } else if (r.status == vs::net::rest_status::stopped) {
                return;
            } else {
                spdlog::warn("openInterest {} failed: {} {}{}", d.symbol, vs::net::to_string(r.status), r.message,
                             r.binance_code == -1121 ? " (not a Binance symbol: retried in 10 min)" : "");
                if (r.binance_code == -1121) {
                    d.refused_until = std::chrono::steady_clock::now() + std::chrono::minutes{10};
                }
            }
            if (!stored && counters_.failures != nullptr) {
                counters_.failures->fetch_add(1, std::memory_order_relaxed);
            }
        }
        lock.lock();
        cv_.wait_until(lock, wake, [&] { return stop_ || changed_; });
    }
}

}  // namespace vs::user_alerts
