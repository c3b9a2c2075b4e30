// vs-nats as real processes with a real `nats-server -js` on loopback (started by the test, its
// own port and store): two bus prefixes stand for two hosts.
//   TwoHosts: vs-replay -> vs-feed -> bus A -> vs-nats -> nats-server -> vs-nats --mirror -> bus B;
//     vs-api B serves BTCUSDT's mark price equal to vs-api A's, and it moves every second.
//   SchemaMismatchIsRefused: a record whose Vs-Schema-Hash is not the mirror's is never written,
//     counted, logged, and makes the mirror unhealthy; a record with the right hash goes on.
//   OutageCatchUp (suite e2e): nats-server killed for 30 s and restarted with its store: the
//     mirror catches up, and the alerts written on host A's `volume` channel during the outage
//     reach host B's `volume` channel exactly once (one of them also published a second time
//     under the same id, as vs-deliver's nats target would: still once).
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "channels.hpp"
#include "http.hpp"
#include "process.hpp"
#include "replay_process.hpp"
#include "schemas/alerts_generated.h"
#include "schemas/market_data_generated.h"
#include "schemas/process_status_generated.h"
#include "nats_server.hpp"
#include "test_env.hpp"
#include "vs/bus/records.hpp"
#include "vs/common/clock.hpp"
#include "vs/nats/nats.hpp"

#include <fmt/format.h>

namespace {

using namespace std::chrono_literals;
using vs::schema::RecordType;
using vs::test::child_process;
using vs::test::logged_to;
namespace fs = std::filesystem;

constexpr auto type_of(RecordType t) { return static_cast<vs::bus::record_type>(t); }

/// A JSON number field of a flat JSON object ("markPrice":83448.57).
std::optional<double> json_number(const std::string& body, const std::string& field)
{
    const std::regex re{"\"" + field + "\":(-?[0-9.eE+-]+)"};
    std::smatch m;
    if (!std::regex_search(body, m, re)) {
        return std::nullopt;
    }
    return std::stod(m[1]);
}

/// libnats' library state (its threads, the last-error storage) released at the end, so the
/// sanitizer build's leak check sees none of it.
class nats_library : public ::testing::Environment {
public:
    void TearDown() override { nats_CloseAndWait(2000); }
};
[[maybe_unused]] const auto* const nats_env = ::testing::AddGlobalTestEnvironment(new nats_library);

class NatsProcessTest : public ::testing::Test {
protected:
    void TearDown() override
    {
        if (HasFailure()) {
            for (const auto* name : {"nats-server.log", "pub.log", "mirror.log", "feed.log", "apiA.log", "apiB.log"}) {
                if (fs::exists(a_.state_dir() / name)) {
                    std::cerr << "---- " << name << " ----\n" << vs::test::tail_of(a_.state_dir() / name, 4000) << "\n";
                }
            }
        }
        // Children first (they hold the segments), then the environments.
        mirror_.reset();
        pub_.reset();
        api_a_.reset();
        api_b_.reset();
        feed_.reset();
        replay_.reset();
        server_.reset();
    }

    void start_server()
    {
        if (nats_port_ == 0) {
            nats_port_ = vs::test::free_port();
        }
        server_.emplace(vs::test::start_nats_server(nats_port_, a_.state_dir()));
    }
    std::string url() const { return "nats://127.0.0.1:" + std::to_string(nats_port_); }

    void start_market()
    {
        replay_ = std::make_unique<vs::test::replay_process>(VS_REPLAY_EXE, std::vector<std::string>{"--symbols", "5",
                                                                                                   "--log-level", "warn"},
                                                           logged_to(a_.state_dir() / "replay.log"));
        feed_.emplace(std::vector<std::string>{VS_FEED_EXE, "--ws-url", replay_->ws_url(), "--rest-url", replay_->http_url(),
                                               "--bus-prefix", a_.prefix(), "--state-dir",
                                               (a_.state_dir() / "feed").string()},
                      logged_to(a_.state_dir() / "feed.log"));
    }
    void start_publisher(std::vector<std::string> extra = {})
    {
        std::vector<std::string> argv{VS_NATS_EXE, "--nats-url", url(), "--bus-prefix", a_.prefix(), "--state-dir",
                                      (a_.state_dir() / "pub").string(), "--status-interval-ms", "200"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        pub_.emplace(argv, logged_to(a_.state_dir() / "pub.log"));
    }
    void start_mirror()
    {
        mirror_.emplace(std::vector<std::string>{VS_NATS_EXE, "--mirror", "--nats-url", url(), "--bus-prefix", b_.prefix(),
                                                 "--state-dir", (b_.state_dir() / "mirror").string(),
                                                 "--status-interval-ms", "200"},
                        logged_to(a_.state_dir() / "mirror.log"));
    }
    std::uint16_t start_api(const vs::test::test_env& host, const char* log)
    {
        const auto port = vs::test::free_port();
        child_process api{{VS_API_EXE, "--listen", "127.0.0.1:" + std::to_string(port), "--bus-prefix", host.prefix(),
                           "--state-dir", (host.state_dir() / "api").string(), "--threads", "1"},
                          logged_to(a_.state_dir() / log)};
        (&host == &a_ ? api_a_ : api_b_).emplace(std::move(api));
        EXPECT_TRUE(vs::test::eventually([&] { return vs::test::loopback_http(port, "GET", "/").status == 200; }, 10s));
        return port;
    }

    /// The mirror's ProcessStatus metric (nullopt when not published yet).
    std::optional<double> mirror_metric(const std::string& name, bool* healthy = nullptr, std::string* reason = nullptr)
    {
        vs::bus::channel_config c;
        c.prefix = b_.prefix();
        c.name = "nats_mirror";
        vs::bus::reader r{c, {.register_reader = false, .name = "test", .heartbeat_timeout = 1000ms}};
        if (r.attach() != vs::bus::attach_state::ready) {
            return std::nullopt;
        }
        std::optional<double> v;
        r.latest(type_of(RecordType::ProcessStatus), "vs-nats", [&](const vs::bus::record_view& rec) {
            const auto* ps = vs::bus::record_as<vs::schema::ProcessStatus>(rec.data);
            if (healthy != nullptr) {
                *healthy = ps->healthy();
            }
            if (reason != nullptr && ps->reason() != nullptr) {
                *reason = ps->reason()->str();
            }
            if (ps->metrics() != nullptr) {
                for (const auto* m : *ps->metrics()) {
                    if (m->name() != nullptr && m->name()->str() == name) {
                        v = m->value();
                    }
                }
            }
        });
        return v;
    }

    vs::test::test_env a_;   // host A
    vs::test::test_env b_;   // host B
    std::uint16_t nats_port_ = 0;
    std::optional<child_process> server_;
    std::unique_ptr<vs::test::replay_process> replay_;
    std::optional<child_process> feed_, pub_, mirror_, api_a_, api_b_;
};

TEST_F(NatsProcessTest, TwoHostsServeTheSameMarkPrice)
{
    start_server();
    start_market();
    start_publisher();
    start_mirror();
    const auto port_a = start_api(a_, "apiA.log");
    const auto port_b = start_api(b_, "apiB.log");

    auto price = [](std::uint16_t port) -> std::optional<std::pair<double, double>> {
        const auto r = vs::test::loopback_http(port, "GET", "/funding/BTCUSDT", 2s);
        if (r.status != 200) {
            return std::nullopt;
        }
        auto p = json_number(r.body, "markPrice");
        auto t = json_number(r.body, "updatedAt");
        if (!p || !t) {
            return std::nullopt;
        }
        return std::pair{*p, *t};
    };
    // Host B serves what host A serves: equal mark price and update time (the bus time travels
    // in Vs-Bus-Ns), read until both were taken between two updates.
    std::optional<std::pair<double, double>> a, b;
    ASSERT_TRUE(vs::test::eventually([&] {
        a = price(port_a);
        b = price(port_b);
        return a && b && *a == *b;
    }, 20s, 100ms)) << "A " << (a ? a->first : 0) << " B " << (b ? b->first : 0);
    // ... and it moves every second on host B: four distinct updates within ~5 s, each equal to A's.
    std::set<double> times{b->second};
    int equal = 0;
    const auto until = std::chrono::steady_clock::now() + 6s;
    while (times.size() < 5 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(250ms);
        const auto pa = price(port_a);
        const auto pb = price(port_b);
        if (pa && pb) {
            times.insert(pb->second);
            equal += *pa == *pb ? 1 : 0;
        }
    }
    EXPECT_GE(times.size(), 5u) << "B's BTCUSDT mark price did not update every second";
    EXPECT_GT(equal, 10) << "A and B disagreed most of the time";
    // The mirror's status: connected, a lag, records, no refusal.
    ASSERT_TRUE(vs::test::eventually([&] { return mirror_metric("records").value_or(0) > 10; }, 5s));
    bool healthy = false;
    EXPECT_EQ(mirror_metric("connected", &healthy), 1.0);
    EXPECT_TRUE(healthy);
    const auto lag = mirror_metric("lag_ms");
    ASSERT_TRUE(lag);
    EXPECT_GE(*lag, 0.0);
    EXPECT_LT(*lag, 1000.0);
    EXPECT_EQ(mirror_metric("schema_mismatches"), 0.0);
    EXPECT_GT(mirror_metric("records_per_s").value_or(0), 0.0);
}

TEST_F(NatsProcessTest, SchemaMismatchIsRefused)
{
    start_server();
    vs::nats::options o;
    o.url = url();
    vs::nats::connection conn{o};
    ASSERT_TRUE(vs::test::eventually([&] { return conn.connected(); }, 5s));
    conn.ensure_streams();
    start_mirror();
    ASSERT_TRUE(vs::test::eventually([&] { return mirror_metric("connected").value_or(0) == 1.0; }, 10s));

    const auto* market = vs::nats_process::find_channel("market");
    ASSERT_NE(market, nullptr);
    const auto good_hash = vs::nats_process::schema_hash_of(*market);
    auto send = [&](const std::string& symbol, double price, std::uint64_t hash, const std::string& id) {
        flatbuffers::FlatBufferBuilder fbb;
        const auto ms = vs::realtime_ms();
        fbb.Finish(vs::schema::CreateMarkPriceDirect(fbb, symbol.c_str(), ms, ms * 1'000'000, vs::schema::MarketType::UsdM,
                                                     price));
        vs::nats::record_message m;
        m.subject = vs::nats::subject(std::string_view{"market"}, type_of(RecordType::MarkPrice), symbol);
        m.type = type_of(RecordType::MarkPrice);
        m.data = {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
        m.schema_hash = hash;
        m.bus_ns = vs::realtime_ns();
        m.id = id;
        auto msg = vs::nats::make_message(m);
        conn.publish_sync(msg.get(), 5s);
    };
    send("BTCUSDT", 50000.0, good_hash ^ 0x5a5a, "market:1:1");   // another build's schemas
    send("ETHUSDT", 3000.0, good_hash, "market:1:2");             // this build's

    vs::bus::channel_config c;
    c.prefix = b_.prefix();
    c.name = "market";
    vs::bus::reader r{c, {.register_reader = false, .name = "test", .heartbeat_timeout = 1000ms}};
    auto has = [&](const char* symbol) {
        return r.attach() == vs::bus::attach_state::ready &&
               r.latest(type_of(RecordType::MarkPrice), symbol, [](const vs::bus::record_view&) {}) ==
                   vs::bus::read_status::ok;
    };
    ASSERT_TRUE(vs::test::eventually([&] { return has("ETHUSDT"); }, 10s)) << "the good record never arrived";
    bool healthy = true;
    std::string reason;
    ASSERT_TRUE(vs::test::eventually([&] {
        return mirror_metric("schema_mismatches", &healthy, &reason).value_or(0) >= 1 && !healthy;
    }, 5s));
    EXPECT_NE(reason.find("schema mismatch on channel 'market'"), std::string::npos) << reason;
    std::this_thread::sleep_for(500ms);
    EXPECT_FALSE(has("BTCUSDT")) << "a record of another schema was written";
    EXPECT_NE(vs::test::read_file(a_.state_dir() / "mirror.log").find("schema mismatch on channel 'market'"),
              std::string::npos);
    EXPECT_TRUE(mirror_->running());
}

TEST_F(NatsProcessTest, JsonFormatPublishesBothTrees)
{
    start_server();
    // Host A's market channel written by the test, with vs-feed's configuration.
    vs::bus::writer market{vs::nats_process::config_of(*vs::nats_process::find_channel("market"), a_.prefix())};
    start_publisher({"--format", "both", "--channels", "market"});

    vs::nats::options o;
    o.url = url();
    vs::nats::connection conn{o};
    ASSERT_TRUE(vs::test::eventually([&] { return conn.connected(); }, 5s));
    natsSubscription* json_sub = nullptr;
    natsSubscription* bin_sub = nullptr;
    ASSERT_EQ(natsConnection_SubscribeSync(&json_sub, conn.nc(), "volspike.json.market.MarkPrice.BTCUSDT"), NATS_OK);
    ASSERT_EQ(natsConnection_SubscribeSync(&bin_sub, conn.nc(), "volspike.market.MarkPrice.BTCUSDT"), NATS_OK);
    ASSERT_TRUE(vs::test::eventually([&] { market.heartbeat(); return vs::test::read_file(a_.state_dir() / "pub.log").find("JetStream streams ready") != std::string::npos; }, 10s));
    std::this_thread::sleep_for(300ms);

    flatbuffers::FlatBufferBuilder fbb;
    const auto ms = vs::realtime_ms();
    fbb.Finish(vs::schema::CreateMarkPriceDirect(fbb, "BTCUSDT", ms, ms * 1'000'000, vs::schema::MarketType::UsdM, 61234.5));
    market.publish(type_of(RecordType::MarkPrice), "BTCUSDT",
                   {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()}, vs::realtime_ns());
    market.notify();

    natsMsg* m = nullptr;
    ASSERT_EQ(natsSubscription_NextMsg(&m, bin_sub, 5000), NATS_OK) << "no binary message";
    {
        // Copied to an aligned buffer: FlatBuffers need it, libnats' body sits at any offset.
        std::vector<std::uint64_t> aligned(static_cast<std::size_t>(natsMsg_GetDataLength(m)) / 8 + 1);
        std::memcpy(aligned.data(), natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
        const std::span<const std::byte> body{reinterpret_cast<const std::byte*>(aligned.data()),
                                              static_cast<std::size_t>(natsMsg_GetDataLength(m))};
        ASSERT_TRUE(vs::bus::verify_record(type_of(RecordType::MarkPrice), body));
        EXPECT_EQ(vs::bus::record_as<vs::schema::MarkPrice>(body)->mark_price(), 61234.5);
        EXPECT_EQ(vs::nats::get_header(m, vs::nats::header::record_type), "1");
        EXPECT_EQ(vs::nats::get_header(m, vs::nats::header::schema_hash),
                  fmt::format("{:016x}", vs::nats_process::schema_hash_of(*vs::nats_process::find_channel("market"))));
        EXPECT_NE(vs::nats::get_header(m, vs::nats::header::msg_id).find("market:"), std::string::npos);
        natsMsg_Destroy(m);
    }
    ASSERT_EQ(natsSubscription_NextMsg(&m, json_sub, 5000), NATS_OK) << "no JSON message";
    const std::string text{natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m))};
    EXPECT_NE(text.find("\"mark_price\""), std::string::npos) << text;
    EXPECT_NE(text.find("61234.5"), std::string::npos) << text;
    natsMsg_Destroy(m);
    natsSubscription_Destroy(json_sub);
    natsSubscription_Destroy(bin_sub);
}

/// Host A's `volume` channel written by the test (the configuration vs-volume uses).
class volume_writer {
public:
    explicit volume_writer(const std::string& prefix)
        : w_{vs::nats_process::config_of(*vs::nats_process::find_channel("volume"), prefix)}
    {
    }
    void alert(const std::string& symbol, const std::string& id)
    {
        flatbuffers::FlatBufferBuilder fbb;
        const auto ms = vs::realtime_ms();
        fbb.Finish(vs::schema::CreateVolumeSpikeAlertDirect(fbb, symbol.c_str(), ms, ms * 1'000'000,
                                                            vs::schema::MarketType::UsdM, id.c_str(), "spike", ms, 150e6,
                                                            45e6, 3.33, 2.5, 0.0001, true));
        w_.publish(type_of(RecordType::VolumeSpikeAlert), symbol,
                   {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()}, vs::realtime_ns());
        w_.notify();
    }
    void heartbeat() { w_.heartbeat(); }

private:
    vs::bus::writer w_;
};

TEST_F(NatsProcessTest, OutageCatchUpAlertsExactlyOnce)
{
    start_server();
    start_market();
    volume_writer volume{a_.prefix()};
    start_publisher();
    start_mirror();

    vs::bus::channel_config vc;
    vc.prefix = b_.prefix();
    vc.name = "volume";
    std::optional<vs::bus::reader> on_b;
    std::map<std::string, int> seen;   // alert_id -> times on B's ring
    auto pump = [&] {                  // keeps A's writer alive and reads B's ring
        volume.heartbeat();
        if (!on_b) {
            on_b.emplace(vc, vs::bus::reader_options{.register_reader = true, .name = "test", .heartbeat_timeout = 1000ms});
        }
        if (on_b->attach() == vs::bus::attach_state::ready) {
            on_b->poll([&](const vs::bus::record_view& r) { ++seen[vs::nats::alert_id(r.type, r.data)]; });
        }
    };
    auto sleep_pumping = [&](std::chrono::milliseconds d) {
        const auto until = std::chrono::steady_clock::now() + d;
        while (std::chrono::steady_clock::now() < until) {
            pump();
            std::this_thread::sleep_for(50ms);
        }
    };
    ASSERT_TRUE(vs::test::eventually([&] { pump(); return mirror_metric("connected").value_or(0) == 1.0; }, 10s));
    sleep_pumping(1s);   // B's reader is at the ring's tail before the first alert
    volume.alert("BTCUSDT", "vol-before");
    ASSERT_TRUE(vs::test::eventually([&] { pump(); return seen.count("vol-before") > 0; }, 10s));

    // The outage: nats-server killed, six alerts committed on host A over 30 s.
    server_->kill();
    server_.reset();
    const auto down_at = vs::realtime_ns();
    for (int i = 0; i < 6; ++i) {
        volume.alert(i % 2 == 0 ? "ETHUSDT" : "SOLUSDT", "vol-outage-" + std::to_string(i));
        sleep_pumping(5s);
    }
    EXPECT_EQ(seen.size(), 1u) << "nothing can cross while NATS is down";
    start_server();   // the same store directory

    std::set<std::string> expected{"vol-before"};
    for (int i = 0; i < 6; ++i) {
        expected.insert("vol-outage-" + std::to_string(i));
    }
    ASSERT_TRUE(vs::test::eventually([&] {
        pump();
        return std::all_of(expected.begin(), expected.end(), [&](const auto& id) { return seen.count(id) > 0; });
    }, 30s, 50ms)) << "alerts missing on host B after the outage";

    // The same alert once more under its id (as vs-deliver's nats target publishes it): JetStream
    // drops it within its window, and the mirror would beyond it.
    {
        vs::nats::options o;
        o.url = url();
        vs::nats::connection conn{o};
        ASSERT_TRUE(vs::test::eventually([&] { return conn.connected(); }, 5s));
        flatbuffers::FlatBufferBuilder fbb;
        fbb.Finish(vs::schema::CreateVolumeSpikeAlertDirect(fbb, "ETHUSDT", 1, 1, vs::schema::MarketType::UsdM,
                                                            "vol-outage-0", "spike"));
        vs::nats::record_message m;
        m.subject = vs::nats::subject(std::string_view{"volume"}, type_of(RecordType::VolumeSpikeAlert), "ETHUSDT");
        m.type = type_of(RecordType::VolumeSpikeAlert);
        m.data = {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
        m.schema_hash = vs::nats_process::schema_hash_of(*vs::nats_process::find_channel("volume"));
        m.id = vs::nats::alert_msg_id("vol-outage-0");
        EXPECT_TRUE(conn.publish_sync(vs::nats::make_message(m).get(), 5s)) << "not a duplicate for JetStream";
        // A different message id (beyond JetStream's window): the mirror's own set drops it.
        m.id = "test:beyond-the-window";
        EXPECT_FALSE(conn.publish_sync(vs::nats::make_message(m).get(), 5s));
    }
    ASSERT_TRUE(vs::test::eventually([&] { pump(); return mirror_metric("alerts_duplicate_dropped").value_or(0) >= 1; },
                                     10s));
    sleep_pumping(1s);
    for (const auto& id : expected) {
        EXPECT_EQ(seen[id], 1) << id << " arrived " << seen[id] << " times on host B";
    }

    // Market data caught up too: B's BTCUSDT mark price is newer than the restart and equal to A's.
    auto latest = [](const std::string& prefix) -> std::optional<std::pair<std::int64_t, double>> {
        vs::bus::channel_config c;
        c.prefix = prefix;
        c.name = "market";
        vs::bus::reader r{c, {.register_reader = false, .name = "test", .heartbeat_timeout = 1000ms}};
        if (r.attach() != vs::bus::attach_state::ready) {
            return std::nullopt;
        }
        std::optional<std::pair<std::int64_t, double>> v;
        r.latest(type_of(RecordType::MarkPrice), "BTCUSDT", [&](const vs::bus::record_view& rec) {
            v = std::pair{rec.publish_ns, vs::bus::record_as<vs::schema::MarkPrice>(rec.data)->mark_price()};
        });
        return v;
    };
    ASSERT_TRUE(vs::test::eventually([&] {
        pump();
        const auto a = latest(a_.prefix());
        const auto b = latest(b_.prefix());
        return a && b && b->first > down_at + 30'000'000'000 && *a == *b;
    }, 15s, 100ms)) << "host B's market data did not catch up";
    EXPECT_GE(mirror_metric("disconnects").value_or(0), 1.0);
    bool healthy = false;
    ASSERT_TRUE(vs::test::eventually([&] { pump(); mirror_metric("connected", &healthy); return healthy; }, 5s));
}

}  // namespace
