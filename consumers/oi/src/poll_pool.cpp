#include "poll_pool.hpp"

#include <spdlog/spdlog.h>

#include "vs/common/clock.hpp"

namespace vs::oi {

poll_pool::poll_pool(const vs::net::rest_options& options, int workers) : options_(options)
{
    // Each worker builds its client on its own thread; a failure there (budget segment,
    // TLS) is reported by the first job's result, so build one here first to fail early.
    { vs::net::binance_rest probe{options_}; }
    for (int i = 0; i < workers; ++i) {
        threads_.emplace_back([this, i] { run(i); });
    }
}

poll_pool::~poll_pool() { stop(); }

void poll_pool::stop()
{
    {
        std::lock_guard lock{mu_};
        stopping_ = true;
        queue_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) {
        if (t.joinable()) {
            t.join();
        }
    }
}

void poll_pool::submit(poll_job job)
{
    {
        std::lock_guard lock{mu_};
        queue_.push_back(std::move(job));
    }
    cv_.notify_one();
}

std::size_t poll_pool::in_flight() const
{
    std::lock_guard lock{mu_};
    return queue_.size() + running_;
}

std::size_t poll_pool::idle() const
{
    std::lock_guard lock{mu_};
    const std::size_t busy = queue_.size() + running_;
    return busy >= threads_.size() ? 0 : threads_.size() - busy;
}

std::vector<poll_result> poll_pool::take()
{
    std::lock_guard lock{mu_};
    std::vector<poll_result> out;
    out.swap(results_);
    return out;
}

void poll_pool::clear_queue()
{
    std::lock_guard lock{mu_};
    queue_.clear();
}

void poll_pool::run(int index)
{
    std::unique_ptr<vs::net::binance_rest> rest;
    try {
        rest = std::make_unique<vs::net::binance_rest>(options_);
    } catch (const std::exception& e) {
        spdlog::error("REST worker {} cannot start: {}", index, e.what());
    }
    for (;;) {
        poll_job job;
        {
            std::unique_lock lock{mu_};
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) {
                return;
            }
            job = std::move(queue_.front());
            queue_.pop_front();
            ++running_;
        }
        poll_result r;
        if (!rest) {
            r.result.status = vs::net::rest_status::network;
            r.result.message = "REST client not available";
        } else {
            switch (job.kind) {
            case job_kind::open_interest: r.result = rest->open_interest(job.symbol); break;
            case job_kind::exchange_info: r.result = rest->exchange_info(); break;
            case job_kind::oi_hist:
                r.result = rest->get("/futures/data/openInterestHist",
                                     {{"symbol", job.symbol},
                                      {"period", "5m"},
                                      {"startTime", std::to_string(job.start_ms)},
                                      {"endTime", std::to_string(job.end_ms)},
                                      {"limit", "500"}});
                break;
            }
        }
        r.done_ms = vs::realtime_ms();
        r.job = std::move(job);
        {
            std::lock_guard lock{mu_};
            --running_;
            results_.push_back(std::move(r));
        }
    }
}

}  // namespace vs::oi
