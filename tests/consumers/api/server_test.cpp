#include "vs/api/server.hpp"

#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http_client.hpp"
#include "live_market.hpp"
#include "test_env.hpp"
#include "schemas/open_interest_generated.h"
#include "vs/net/address.hpp"

namespace {

namespace json = boost::json;
using vs::api::test::http_connection;
using vs::api::test::http_get;

class ServerTest : public ::testing::Test {
protected:
    ServerTest() : market_(env_.prefix(), "market") { publish(65000.5, 400); }

    void publish(double btc_price, std::size_t symbols)
    {
        const auto now = vs::realtime_ns();
        market_.run([&](vs::bus::writer& w) {
            for (std::size_t i = 0; i < symbols; ++i) {
                const auto symbol = vs::test::state_symbol(i);
                const double price = i == 0 ? btc_price : 100.0 + static_cast<double>(i);
                vs::api::bench::publish(w, vs::test::mark_price_fields{.symbol = symbol,
                                                                       .recv_time_ns = now,
                                                                       .mark_price = price,
                                                                       .index_price = price,
                                                                       .funding_rate = 0.0001});
            }
            vs::api::bench::publish(w, vs::test::healthy_feed_status(static_cast<std::uint32_t>(symbols), now));
        });
    }

    void start(vs::api::server_config c = {})
    {
        c.port = 0;
        c.bus_prefix = env_.prefix();
        c.threads = 2;
        sut_ = std::make_unique<vs::api::server>(c);
        sut_->start();
        port_ = sut_->port();
    }

    vs::test::test_env env_;
    vs::api::test::live_channel market_;
    std::unique_ptr<vs::api::server> sut_;
    std::uint16_t port_ = 0;
};

TEST_F(ServerTest, ServesManyRequestsOnOneKeepAliveConnection)
{
    start();
    http_connection c{port_};
    for (int i = 0; i < 50; ++i) {
        const auto r = c.get(i % 2 ? "/funding/BTCUSDT" : "/funding/batch?symbols=BTCUSDT,ETHUSDT,NOPE");
        ASSERT_EQ(r.result_int(), 200) << r.body();
        EXPECT_TRUE(r.keep_alive());
        EXPECT_EQ(r[boost::beast::http::field::content_type], "application/json");
    }
    EXPECT_DOUBLE_EQ(json::parse(c.get("/funding/btcusdt").body()).at("markPrice").to_number<double>(), 65000.5);
}

TEST_F(ServerTest, AnswersEveryStatusCodeOverTheWire)
{
    start();
    http_connection c{port_};
    EXPECT_EQ(c.get("/funding/health").result_int(), 200);
    EXPECT_EQ(c.get("/funding/NOPEUSDT").result_int(), 404);
    EXPECT_EQ(c.get("/funding/A%22B").result_int(), 400);
    EXPECT_EQ(c.get("/funding/batch").result_int(), 400);
    const auto m = c.get("/funding/BTCUSDT", "PUT");
    EXPECT_EQ(m.result_int(), 405);
    EXPECT_EQ(m[boost::beast::http::field::allow], "GET, HEAD");
    const auto h = c.get("/funding/BTCUSDT", "HEAD");
    EXPECT_EQ(h.result_int(), 200);
    EXPECT_TRUE(h.body().empty());
    EXPECT_EQ(c.get("/dashboard").result_int(), 200);
    market_.kill();   // writer dead: 503 (liveness is refreshed every 100 ms)
    std::this_thread::sleep_for(std::chrono::milliseconds{150});
    EXPECT_EQ(c.get("/funding/BTCUSDT").result_int(), 503);
    EXPECT_EQ(c.get("/funding/health").result_int(), 503);
}

TEST_F(ServerTest, ServesThe341ConcurrentCallsThatOverwhelmedTheOldServer)
{
    start();
    std::atomic<int> ok{0};
    std::vector<std::thread> clients;
    std::promise<void> go;
    auto gate = go.get_future().share();
    for (int i = 0; i < 341; ++i) {
        clients.emplace_back([&, i] {
            http_connection c{port_};
            gate.wait();
            const auto r = c.get("/funding/" + vs::test::state_symbol(static_cast<std::size_t>(i)));
            if (r.result_int() == 200 && json::parse(r.body()).at("markPrice").to_number<double>() > 0) {
                ok.fetch_add(1);
            }
        });
    }
    go.set_value();
    for (auto& t : clients) {
        t.join();
    }
    EXPECT_EQ(ok.load(), 341);
}

TEST_F(ServerTest, OversizedHeaderGets431AndTheServerKeepsServing)
{
    vs::api::server_config cfg;
    cfg.header_limit = 8192;
    start(cfg);
    http_connection c{port_};
    c.send("GET /funding/BTCUSDT HTTP/1.1\r\nX-Junk: " + std::string(20000, 'a') + "\r\n\r\n");
    const auto r = c.read();
    EXPECT_EQ(r.result_int(), 431);
    EXPECT_EQ(json::parse(r.body()).at("error").as_string(), "Request header too large");
    EXPECT_EQ(http_get(port_, "/funding/BTCUSDT").result_int(), 200);
}

TEST_F(ServerTest, OversizedBodyGets413)
{
    start();
    http_connection c{port_};
    // The declared length is refused as soon as the header is parsed (the server then closes,
    // so the client does not try to send the whole body).
    c.send("GET /funding/BTCUSDT HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + std::string(1000, 'x'));
    EXPECT_EQ(c.read().result_int(), 413);
}

TEST_F(ServerTest, GarbageGets400AndNeverCrashes)
{
    start();
    for (const std::string junk : {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n",
                                   "GET /funding/BTCUSDT HTTP/9.9\r\n\r\n", "GARBAGE\r\n\r\n",
                                   "GET  HTTP/1.1\r\n\r\n", "GET /x HTTP/1.1\r\nContent-Length: -5\r\n\r\n"}) {
        http_connection c{port_};
        c.send(junk);
        const auto r = c.read();
        EXPECT_EQ(r.result_int(), 400) << junk;
        EXPECT_NO_THROW((void)json::parse(r.body()));
    }
    EXPECT_EQ(http_get(port_, "/funding/BTCUSDT").result_int(), 200);
}

TEST_F(ServerTest, SlowlorisIsCutOffAtTheRequestTimeoutWhileOthersAreServed)
{
    vs::api::server_config cfg;
    cfg.request_timeout = std::chrono::milliseconds{400};
    start(cfg);
    http_connection slow{port_};
    slow.send("GET /funding/BTCUSDT HTTP/1.1\r\nHost: x\r\n");
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) {
        slow.send("X-Slow: 1\r\n");
        EXPECT_EQ(http_get(port_, "/funding/ETHUSDT").result_int(), 200);
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
    EXPECT_TRUE(slow.closed_by_peer());   // cut off, no response
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds{3});
    // An idle keep-alive connection is closed silently.
    http_connection idle{port_};
    EXPECT_TRUE(idle.closed_by_peer());
}

TEST_F(ServerTest, ConnectionsBeyondTheMaximumGet503)
{
    vs::api::server_config cfg;
    cfg.max_connections = 2;
    start(cfg);
    http_connection a{port_};
    http_connection b{port_};
    EXPECT_EQ(a.get("/").result_int(), 200);
    EXPECT_EQ(b.get("/").result_int(), 200);
    http_connection c{port_};
    const auto r = c.read();
    EXPECT_EQ(r.result_int(), 503);
    EXPECT_EQ(json::parse(r.body()).at("error").as_string(), "Too many connections");
    EXPECT_GE(sut_->metrics().connections_rejected.load(), 1u);
}

TEST_F(ServerTest, MetricsCountRequestsByRouteAndStatus)
{
    start();
    http_connection c{port_};
    c.get("/funding/BTCUSDT");
    c.get("/funding/NOPEUSDT");
    const auto m = c.get("/metrics").body();
    EXPECT_NE(m.find("vs_api_http_requests_total{route=\"/funding/{symbol}\",status=\"200\"} 1\n"), std::string::npos) << m;
    EXPECT_NE(m.find("vs_api_http_requests_total{route=\"/funding/{symbol}\",status=\"404\"} 1\n"), std::string::npos);
    EXPECT_NE(m.find("vs_api_http_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"), std::string::npos);
    EXPECT_NE(m.find("vs_api_connections_open 1\n"), std::string::npos);
}

// Splits an SSE stream into (event, data) pairs.
std::vector<std::pair<std::string, std::string>> sse_events(const std::string& all)
{
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t pos = all.find("\r\n\r\n");
    pos = pos == std::string::npos ? 0 : pos + 4;
    for (;;) {
        const auto end = all.find("\n\n", pos);
        if (end == std::string::npos) {
            break;
        }
        const auto block = all.substr(pos, end - pos);
        pos = end + 2;
        std::string event, data;
        std::size_t p = 0;
        while (p < block.size()) {
            auto nl = block.find('\n', p);
            if (nl == std::string::npos) {
                nl = block.size();
            }
            const auto line = block.substr(p, nl - p);
            if (line.rfind("event: ", 0) == 0) {
                event = line.substr(7);
            } else if (line.rfind("data: ", 0) == 0) {
                data = line.substr(6);
            }
            p = nl + 1;
        }
        if (!event.empty()) {
            out.emplace_back(event, data);
        }
    }
    return out;
}

TEST_F(ServerTest, EventsPushChangedRecordsAtMostOncePerSecond)
{
    start();
    http_connection c{port_};
    c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string all;
    ASSERT_TRUE(c.read_until(all, [](const std::string& s) { return !sse_events(s).empty(); }, std::chrono::seconds{5}));
    EXPECT_NE(all.find("Content-Type: text/event-stream"), std::string::npos);
    const auto first = sse_events(all);
    ASSERT_EQ(first[0].first, "snapshot");
    const auto snap = json::parse(first[0].second);
    EXPECT_DOUBLE_EQ(snap.at("funding").at("BTCUSDT").at("markPrice").to_number<double>(), 65000.5);
    EXPECT_EQ(snap.at("funding").as_object().size(), 400u);
    EXPECT_EQ(snap.at("health").at("status").as_string(), "healthy");

    const auto t0 = std::chrono::steady_clock::now();
    publish(65123.25, 1);
    const auto has_new_price = [](const std::string& s) {
        for (const auto& [ev, data] : sse_events(s)) {
            if (ev == "update") {
                const auto j = json::parse(data);
                const auto* f = j.at("funding").as_object().if_contains("BTCUSDT");
                if (f != nullptr && f->at("markPrice").to_number<double>() == 65123.25) {
                    return true;
                }
            }
        }
        return false;
    };
    ASSERT_TRUE(c.read_until(all, has_new_price, std::chrono::seconds{3}));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds{2500});
    // Keep listening 3 s: no more than one batch per second.
    const auto before = sse_events(all).size();
    c.read_until(all, [](const std::string&) { return false; }, std::chrono::seconds{3});
    const auto updates = sse_events(all).size() - before;
    EXPECT_GE(updates, 2u);
    EXPECT_LE(updates, 4u);
    // An unchanged symbol is not repeated in updates.
    for (const auto& [ev, data] : sse_events(all)) {
        if (ev == "update") {
            EXPECT_FALSE(json::parse(data).at("funding").as_object().contains("ETHUSDT"));
        }
    }
}

// vs-oi's OpenInterest records (the oi channel) travel on /events too: in the snapshot and,
// when they change, in the next update.
TEST_F(ServerTest, EventsCarryOpenInterestFromTheOiChannel)
{
    vs::api::test::live_channel oi{env_.prefix(), "oi"};
    const auto publish_oi = [&](double contracts) {
        oi.run([&](vs::bus::writer& w) {
            flatbuffers::FlatBufferBuilder fbb;
            const auto now = vs::realtime_ns();
            fbb.Finish(vs::schema::CreateOpenInterestDirect(fbb, "BTCUSDT", now / 1'000'000, now,
                                                            vs::schema::MarketType::UsdM, contracts, 65000.5,
                                                            contracts * 65000.5));
            w.publish(static_cast<vs::bus::record_type>(vs::schema::RecordType::OpenInterest), "BTCUSDT",
                      {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()}, now);
        });
    };
    publish_oi(100000);
    start();
    http_connection c{port_};
    c.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string all;
    ASSERT_TRUE(c.read_until(all, [](const std::string& s) { return !sse_events(s).empty(); }, std::chrono::seconds{5}));
    const auto snap = json::parse(sse_events(all)[0].second);
    EXPECT_DOUBLE_EQ(snap.at("oi").at("BTCUSDT").at("openInterest").to_number<double>(), 100000.0);
    EXPECT_DOUBLE_EQ(snap.at("oi").at("BTCUSDT").at("openInterestUsd").to_number<double>(), 100000.0 * 65000.5);
    publish_oi(104000);
    ASSERT_TRUE(c.read_until(
        all,
        [](const std::string& s) {
            for (const auto& [ev, data] : sse_events(s)) {
                if (ev == "update") {
                    const auto j = json::parse(data);
                    const auto* o = j.at("oi").as_object().if_contains("BTCUSDT");
                    if (o != nullptr && o->at("openInterest").to_number<double>() == 104000.0) {
                        return true;
                    }
                }
            }
            return false;
        },
        std::chrono::seconds{3}));
}

TEST_F(ServerTest, EventsFilterLimitsTheSymbols)
{
    start();
    http_connection c{port_};
    c.send("GET /events?symbols=ethusdt HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string all;
    ASSERT_TRUE(c.read_until(all, [](const std::string& s) { return !sse_events(s).empty(); }, std::chrono::seconds{5}));
    const auto snap = json::parse(sse_events(all)[0].second);
    EXPECT_EQ(snap.at("funding").as_object().size(), 1u);
    EXPECT_TRUE(snap.at("funding").as_object().contains("ETHUSDT"));
    publish(1.0, 2);   // BTCUSDT and ETHUSDT change
    ASSERT_TRUE(c.read_until(all, [](const std::string& s) { return sse_events(s).size() >= 2; }, std::chrono::seconds{3}));
    for (const auto& [ev, data] : sse_events(all)) {
        EXPECT_FALSE(json::parse(data).at("funding").as_object().contains("BTCUSDT"));
    }
}

TEST_F(ServerTest, SlowEventsClientIsResyncedWithoutBlockingOthers)
{
    vs::api::server_config cfg;
    cfg.events_queue_bytes = 64 * 1024;
    cfg.events_interval = std::chrono::milliseconds{100};
    cfg.write_timeout = std::chrono::seconds{30};
    start(cfg);
    publish(1.0, 2000);
    http_connection slow{port_};   // never reads
    const int small = 4096;
    ::setsockopt(slow.socket().native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    slow.send("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    http_connection fast{port_};
    fast.send("GET /events?symbols=BTCUSDT HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string all;
    ASSERT_TRUE(fast.read_until(all, [](const std::string& s) { return !sse_events(s).empty(); }, std::chrono::seconds{5}));

    // Every 100 ms all 2000 symbols change: ~250 KB per batch for the slow client.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    double price = 2.0;
    while (sut_->metrics().events_resyncs.load() == 0 && std::chrono::steady_clock::now() < deadline) {
        publish(price, 2000);
        price += 1.0;
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
    EXPECT_GE(sut_->metrics().events_resyncs.load(), 1u);
    // The fast client still gets the newest price promptly.
    publish(99999.0, 1);
    const auto got = [](const std::string& s) { return s.find("\"markPrice\":99999") != std::string::npos; };
    EXPECT_TRUE(fast.read_until(all, got, std::chrono::seconds{2}));
    EXPECT_EQ(http_get(port_, "/funding/BTCUSDT").result_int(), 200);
}

TEST_F(ServerTest, EventsClientsGetANewSnapshotWhenTheWriterRestarts)
{
    start();
    http_connection c{port_};
    c.send("GET /events?symbols=BTCUSDT HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string all;
    ASSERT_TRUE(c.read_until(all, [](const std::string& s) { return !sse_events(s).empty(); }, std::chrono::seconds{5}));
    market_.kill();
    vs::api::test::live_channel restarted{env_.prefix(), "market"};   // generation 2
    restarted.run([&](vs::bus::writer& w) {
        vs::api::bench::publish(w, vs::test::mark_price_fields{.recv_time_ns = vs::realtime_ns(), .mark_price = 777.5});
    });
    const auto second_snapshot = [](const std::string& s) {
        int n = 0;
        for (const auto& [ev, data] : sse_events(s)) {
            if (ev == "snapshot" && ++n == 2) {
                return json::parse(data).at("funding").at("BTCUSDT").at("markPrice").to_number<double>() == 777.5;
            }
        }
        return false;
    };
    EXPECT_TRUE(c.read_until(all, second_snapshot, std::chrono::seconds{5}));
}

// Issue 19: 1,024 idle connections (the cap) used to refuse everyone else with 503 until they
// timed out. Now, at the cap, the connection that has waited longest for a request (at least
// evict_idle_after) is closed to make room; an /events stream is never closed.
TEST_F(ServerTest, IdleConnectionsAtTheMaximumMakeRoomForOtherClients)
{
    constexpr std::size_t idle_count = 1100;
    // Both ends of every connection live in this process, plus the bus and the rest.
    constexpr rlim_t needed = 2 * idle_count + 512;
    rlimit lim{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
    if (lim.rlim_cur < needed) {
        if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < needed) {
            GTEST_SKIP() << "needs " << needed << " file descriptors; the hard RLIMIT_NOFILE is " << lim.rlim_max;
        }
        lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? needed : lim.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
            GTEST_SKIP() << "needs " << needed << " file descriptors; cannot raise RLIMIT_NOFILE to " << lim.rlim_cur;
        }
    }

    vs::api::server_config cfg;   // the defaults: 1,024 connections, idle 1 s before eviction
    start(cfg);
    ASSERT_EQ(cfg.max_connections, 1024u);
    http_connection events{port_};   // the oldest connection, but never evicted
    events.send("GET /events?symbols=BTCUSDT HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string stream;
    ASSERT_TRUE(events.read_until(stream, [](const std::string& s) { return !sse_events(s).empty(); },
                                  std::chrono::seconds{5}));

    boost::asio::io_context io;
    const boost::asio::ip::tcp::endpoint ep{boost::asio::ip::make_address("127.0.0.1"), port_};
    std::vector<boost::asio::ip::tcp::socket> idle;
    idle.reserve(idle_count);
    for (std::size_t i = 0; i < idle_count; ++i) {
        idle.emplace_back(io).connect(ep);   // never sends a byte
    }
    // Every one accepted (those over the cap were refused: none was idle long enough yet).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (sut_->metrics().connections_accepted.load() < idle_count + 1 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    ASSERT_EQ(sut_->metrics().connections_accepted.load(), idle_count + 1);
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
    EXPECT_EQ(sut_->metrics().connections_open.load(), 1024);
    EXPECT_GE(sut_->metrics().connections_rejected.load() + sut_->metrics().connections_evicted.load(),
              idle_count + 1 - 1024);

    std::this_thread::sleep_for(cfg.evict_idle_after + std::chrono::milliseconds{100});
    // Five clients, each kept open (so each arrives at the cap): each is answered at once.
    const auto evicted_before = sut_->metrics().connections_evicted.load();
    std::vector<std::unique_ptr<http_connection>> clients;
    std::chrono::steady_clock::duration worst{};
    for (int i = 0; i < 5; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        clients.push_back(std::make_unique<http_connection>(port_));
        const auto r = clients.back()->get("/funding/BTCUSDT");
        const auto took = std::chrono::steady_clock::now() - t0;
        worst = std::max(worst, took);
        EXPECT_EQ(r.result_int(), 200) << r.body();
        EXPECT_LT(took, std::chrono::milliseconds{100});
    }
    std::printf("[ measured ] /funding/BTCUSDT on a new connection with %zu idle ones held: slowest of 5 "
                "(connect + answer) %.2f ms\n",
                idle_count, std::chrono::duration<double, std::milli>(worst).count());
    RecordProperty("slowest_us",
                   static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(worst).count()));

    // One idle connection closed for each, silently, oldest first.
    const auto counted = std::chrono::steady_clock::now() + std::chrono::seconds{2};
    while (sut_->metrics().connections_evicted.load() < evicted_before + 5 &&
           std::chrono::steady_clock::now() < counted) {
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
    EXPECT_GE(sut_->metrics().connections_evicted.load(), evicted_before + 5);
    std::this_thread::sleep_for(std::chrono::milliseconds{50});   // counted just before the close
    const auto closed = [&](std::size_t i) {
        pollfd p{idle[i].native_handle(), POLLIN, 0};
        if (::poll(&p, 1, 0) != 1) {
            return false;
        }
        char c;
        boost::system::error_code ec;
        const auto n = idle[i].read_some(boost::asio::buffer(&c, 1), ec);
        EXPECT_EQ(n, 0u) << "connection " << i << " got bytes: an evicted connection gets no response";
        return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
    };
    std::size_t oldest_closed = 0;
    for (std::size_t i = 0; i < 100; ++i) {
        oldest_closed += closed(i) ? 1 : 0;
    }
    EXPECT_GE(oldest_closed, 5u);
    for (std::size_t i = 100; i < 1000; ++i) {
        EXPECT_FALSE(closed(i)) << "connection " << i << " closed before older ones";
    }

    // The /events stream is still served.
    EXPECT_EQ(sut_->metrics().events_clients.load(), 1);
    publish(65432.5, 1);
    EXPECT_TRUE(events.read_until(
        stream, [](const std::string& s) { return s.find("\"markPrice\":65432.5") != std::string::npos; },
        std::chrono::seconds{3}));
    const auto m = http_get(port_, "/metrics").body();
    EXPECT_NE(m.find("vs_api_connections_evicted_total "), std::string::npos) << m;
    EXPECT_NE(m.find("vs_api_connections_rejected_total "), std::string::npos);
}

TEST(ServerConfigTest, ParsesListenAddressesAndRefusesRemoteWithoutFlag)
{
    std::string host;
    std::uint16_t port = 0;
    EXPECT_TRUE(vs::net::parse_listen_address("127.0.0.1:8888", host, port));
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 8888);
    EXPECT_TRUE(vs::net::parse_listen_address("[::1]:9000", host, port));
    EXPECT_EQ(host, "::1");
    EXPECT_TRUE(vs::net::parse_listen_address("localhost:1", host, port));
    EXPECT_EQ(host, "127.0.0.1");
    for (const char* bad : {"", "8888", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "host:80", "::1:80", "1.2.3.4:x"}) {
        EXPECT_FALSE(vs::net::parse_listen_address(bad, host, port)) << bad;
    }
    EXPECT_TRUE(vs::net::is_loopback("127.0.0.2"));
    EXPECT_TRUE(vs::net::is_loopback("::1"));
    EXPECT_FALSE(vs::net::is_loopback("0.0.0.0"));
    EXPECT_FALSE(vs::net::is_loopback("10.0.0.1"));
    vs::api::server_config c;
    c.host = "0.0.0.0";
    c.port = 0;
    EXPECT_THROW(vs::api::server{c}, std::runtime_error);
}

}  // namespace
