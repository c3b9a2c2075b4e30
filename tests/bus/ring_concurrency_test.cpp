// A writer thread and several reader threads on one channel, with self-checking records:
// no reader is ever handed a torn record, sequence numbers only move forward, and every
// gap a reader sees coincides with a lap it counted. Same for the latest table.
#include "vs/bus/channel.hpp"

#include <sched.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "stress_record.hpp"
#include "bus_channel.hpp"
#include "test_env.hpp"

namespace {

using vs::bus::channel_config;
using vs::bus::reader;
using vs::bus::record_view;
using vs::bus::writer;

std::uint64_t records_to_publish()
{
    // CI: 10^7 (ThreadSanitizer builds set VS_STRESS_RECORDS lower); long mode: 10^8.
    if (const char* v = std::getenv("VS_STRESS_RECORDS")) {
        return std::strtoull(v, nullptr, 10);
    }
    return 10'000'000;
}

struct reader_result {
    std::uint64_t records = 0;
    std::uint64_t torn = 0;
    std::uint64_t backwards = 0;
    std::uint64_t gaps = 0;
    std::uint64_t gaps_without_lap = 0;
    std::uint64_t laps = 0;
};

class RingConcurrentTest : public ::testing::Test {
protected:
    channel_config config() { return vs::test::channel(env, "stress", 1u << 20, 256, 320); }
    vs::test::test_env env;
};

TEST_F(RingConcurrentTest, ReadersNeverSeeTornRecordsAndCountEveryLap)
{
    const std::uint64_t total = records_to_publish();
    auto c = config();
    writer w{c};
    constexpr int reader_count = 3;
    std::atomic<bool> done{false};
    std::atomic<int> ready{0};
    std::vector<reader_result> results(reader_count);
    std::vector<std::thread> threads;
    for (int t = 0; t < reader_count; ++t) {
        threads.emplace_back([&, t] {
            reader r{c, vs::bus::reader_options{false, "stress", std::chrono::milliseconds{1000}}};
            ready.fetch_add(1, std::memory_order_release);
            reader_result& res = results[t];
            std::uint64_t last_seq = 0;
            bool first = true;
            std::uint64_t laps_at_last = 0;
            for (;;) {
                // Acquire pairs with the writer thread's release store of `done` after its last publish.
                const bool finished = done.load(std::memory_order_acquire);
                std::size_t n = r.poll([&](const record_view& rec) {
                    vs::test::stress_header h;
                    if (!vs::test::check_stress_record(rec.data, h)) {
                        ++res.torn;
                        return;
                    }
                    ++res.records;
                    if (!first) {
                        if (h.seq <= last_seq) {
                            ++res.backwards;
                        } else if (h.seq != last_seq + 1) {
                            ++res.gaps;
                            if (r.laps() == laps_at_last) {
                                ++res.gaps_without_lap;
                            }
                        }
                    }
                    first = false;
                    last_seq = h.seq;
                    laps_at_last = r.laps();
                });
                if (n == 0) {
                    if (finished) {
                        break;
                    }
                    ::sched_yield();
                }
            }
            res.laps = r.laps();
        });
    }
    while (ready.load(std::memory_order_acquire) != reader_count) {
        std::this_thread::yield();
    }
    std::vector<std::byte> buf(320);
    std::mt19937_64 rng{42};
    for (std::uint64_t seq = 1; seq <= total; ++seq) {
        const std::size_t size = 200 + 8 * (rng() % 13);  // 200..296 bytes
        std::span<std::byte> rec{buf.data(), size};
        vs::test::make_stress_record(1, seq, rec);
        w.publish(1, "X", rec, 0, vs::bus::to_ring);
        if ((seq & 0xffff) == 0) {
            w.heartbeat();
        }
    }
    done.store(true, std::memory_order_release);
    for (auto& th : threads) {
        th.join();
    }
    std::uint64_t delivered = 0;
    for (const auto& res : results) {
        EXPECT_EQ(res.torn, 0u);
        EXPECT_EQ(res.backwards, 0u);
        EXPECT_EQ(res.gaps_without_lap, 0u) << "a reader skipped records without counting a lap";
        EXPECT_LE(res.gaps, res.laps);
        EXPECT_GT(res.records, 0u);
        delivered += res.records;
    }
    RecordProperty("records_published", std::to_string(total));
    RecordProperty("records_delivered", std::to_string(delivered));
    std::printf("published %llu records; per reader: ", static_cast<unsigned long long>(total));
    for (const auto& res : results) {
        std::printf("[%llu read, %llu laps] ", static_cast<unsigned long long>(res.records),
                    static_cast<unsigned long long>(res.laps));
    }
    std::printf("\n");
}

TEST_F(RingConcurrentTest, TableReadersNeverSeeTornSlots)
{
    const std::uint64_t total = records_to_publish() / 10;
    auto c = config();
    writer w{c};
    std::atomic<bool> done{false};
    constexpr int reader_count = 2;
    std::vector<std::uint64_t> torn(reader_count, 0);
    std::vector<std::uint64_t> reads(reader_count, 0);
    std::vector<std::thread> threads;
    const std::vector<std::string> symbols = [] {
        std::vector<std::string> s;
        for (int i = 0; i < 16; ++i) {
            s.push_back("SYM" + std::to_string(i));
        }
        return s;
    }();
    std::vector<std::byte> buf(320);
    for (std::size_t i = 0; i < symbols.size(); ++i) {  // every key exists before readers start
        vs::test::make_stress_record(2, i, std::span<std::byte>{buf.data(), 64});
        w.publish(2, symbols[i], std::span<const std::byte>{buf.data(), 64}, 0, vs::bus::to_table);
    }
    for (int t = 0; t < reader_count; ++t) {
        threads.emplace_back([&, t] {
            reader r{c, vs::bus::reader_options{false, "stress", std::chrono::milliseconds{1000}}};
            std::size_t k = static_cast<std::size_t>(t);
            // Acquire pairs with the release store of `done`.
            while (!done.load(std::memory_order_acquire)) {
                auto st = r.latest(2, symbols[k++ % symbols.size()], [&](const record_view& rec) {
                    vs::test::stress_header h;
                    if (!vs::test::check_stress_record(rec.data, h)) {
                        ++torn[t];
                    }
                    ++reads[t];
                });
                // `unavailable` is legal (the writer thread may be preempted mid-update on a
                // busy machine); what must never happen is a torn record handed over.
                (void)st;
            }
        });
    }
    std::mt19937_64 rng{7};
    for (std::uint64_t seq = 1; seq <= total; ++seq) {
        const std::size_t size = 64 + 8 * (rng() % 32);
        vs::test::make_stress_record(2, seq, std::span<std::byte>{buf.data(), size});
        w.publish(2, symbols[seq % symbols.size()], std::span<const std::byte>{buf.data(), size}, 0, vs::bus::to_table);
    }
    done.store(true, std::memory_order_release);
    for (auto& th : threads) {
        th.join();
    }
    for (int t = 0; t < reader_count; ++t) {
        EXPECT_EQ(torn[t], 0u);
        EXPECT_GT(reads[t], 0u);
    }
}

}  // namespace
