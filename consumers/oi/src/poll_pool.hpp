#pragma once
// The worker threads of vs-oi's REST calls. The body's thread (the scheduler) hands out one
// job per request at the moment it is due; each worker owns a vs::net::binance_rest (one per
// thread, all of them reserving in the host-wide weight budget) and hands the result back.
// The body drains the results on its own thread (bus writer, rules, LMDB commits).
//
// Jobs are never queued deeper than the workers can take: the scheduler asks idle() first,
// so a budget that makes requests wait stretches the cycle instead of piling up a burst.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vs/net/binance_rest.hpp"

namespace vs::oi {

enum class job_kind : std::uint8_t { open_interest, exchange_info, oi_hist };

struct poll_job {
    job_kind kind = job_kind::open_interest;
    std::string symbol;
    std::uint64_t cycle = 0;          ///< cycle number (open_interest)
    std::int64_t start_ms = 0;        ///< openInterestHist startTime
    std::int64_t end_ms = 0;          ///< openInterestHist endTime
};

struct poll_result {
    poll_job job;
    vs::net::rest_result result;
    std::int64_t done_ms = 0;         ///< realtime ms when the reply came
};

class poll_pool {
public:
    poll_pool(const vs::net::rest_options& options, int workers);
    ~poll_pool();
    poll_pool(const poll_pool&) = delete;
    poll_pool& operator=(const poll_pool&) = delete;

    /// Hands a job to a worker (queued when every worker is busy).
    void submit(poll_job job);
    /// Jobs queued but not started plus jobs running.
    std::size_t in_flight() const;
    /// Workers without a job.
    std::size_t idle() const;
    /// Takes the results that arrived.
    std::vector<poll_result> take();
    /// Drops queued jobs not yet started (a universe change); running ones finish.
    void clear_queue();
    /// Stops every worker (running requests finish or are interrupted by SIGTERM).
    void stop();

private:
    void run(int index);

    vs::net::rest_options options_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<poll_job> queue_;
    std::vector<poll_result> results_;
    std::size_t running_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace vs::oi
