#pragma once
// A live `market` channel for vs-api tests: a thread owns the bus writer (a writer belongs to
// one thread), heartbeats it every 50 ms and runs the test's publishes on request. Records
// come from the one factory (records.hpp), published with vs::api::bench::publish.
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "market_writer.hpp"
#include "vs/bus/channel.hpp"
#include "vs/common/clock.hpp"

namespace vs::api::test {

class live_channel {
public:
    live_channel(const std::string& prefix, const std::string& name)
    {
        bus::channel_config c;
        c.prefix = prefix;
        c.name = name;
        std::promise<void> ready;
        auto started = ready.get_future();
        thread_ = std::thread{[this, c, p = std::move(ready)]() mutable {
            try {
                writer_.emplace(c);
                p.set_value();
            } catch (...) {
                p.set_exception(std::current_exception());
                return;
            }
            std::unique_lock lock{mu_};
            while (!stop_) {
                cv_.wait_for(lock, std::chrono::milliseconds{50}, [&] { return stop_ || job_ != nullptr; });
                if (job_ != nullptr) {
                    (*job_)(*writer_);
                    writer_->notify();
                    job_ = nullptr;
                    done_.notify_all();
                }
                if (!frozen_) {
                    writer_->heartbeat();
                }
            }
            writer_.reset();   // releases the lock: the writer is dead for readers
        }};
        started.get();
    }
    ~live_channel() { kill(); }
    live_channel(const live_channel&) = delete;
    live_channel& operator=(const live_channel&) = delete;

    /// Runs fn(writer) on the writer's thread and waits for it.
    void run(const std::function<void(bus::writer&)>& fn)
    {
        std::unique_lock lock{mu_};
        job_ = &fn;
        cv_.notify_all();
        done_.wait(lock, [&] { return job_ == nullptr || stop_; });
    }
    /// Stops heartbeating (the writer looks dead after the readers' heartbeat timeout).
    void freeze()
    {
        std::lock_guard lock{mu_};
        frozen_ = true;
    }
    /// Destroys the writer (its lock is released).
    void kill()
    {
        {
            std::lock_guard lock{mu_};
            stop_ = true;
            cv_.notify_all();
        }
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    std::mutex mu_;
    std::condition_variable cv_, done_;
    const std::function<void(bus::writer&)>* job_ = nullptr;
    bool stop_ = false;
    bool frozen_ = false;
    std::optional<bus::writer> writer_;
    std::thread thread_;
};

}  // namespace vs::api::test
