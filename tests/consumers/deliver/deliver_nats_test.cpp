// vs-deliver's `nats` target (issue 17) as a real process against a real `nats-server -js` on
// loopback, started by the test with its own port and store directory. Alerts with a bus
// record are committed to the outbox (as vs-oi does); the stream is read back with a plain
// libnats JetStream subscriber.
//   NatsOutage (suite e2e): nats-server stopped for ~20 s while alerts are committed, vs-deliver
//   killed with -9 during the outage and again during the catch-up; after the restart (same
//   store) every alert is in VOLSPIKE_ALERTS exactly once, with its bytes and headers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nats/nats.h>

#include "http.hpp"
#include "process.hpp"
#include "schemas/common_generated.h"
#include "schemas/alerts_generated.h"
#include "nats_server.hpp"
#include "test_env.hpp"
#include "vs/outbox/outbox.hpp"

namespace {

using namespace std::chrono_literals;
using vs::outbox::target;
using vs::test::child_process;
using vs::test::eventually;
namespace fs = std::filesystem;

constexpr std::uint16_t oi_alert_type = static_cast<std::uint16_t>(vs::schema::RecordType::OiSpikeAlert);

std::string exe(const char* var)
{
    const char* p = std::getenv(var);
    if (p == nullptr) {
        throw std::runtime_error(std::string{var} + " is not set (run through meson test)");
    }
    return p;
}

/// An OiSpikeAlert record as vs-oi builds it, with the outbox id as its alert_id.
std::string oi_alert_record(const std::string& symbol, std::string_view id, int n)
{
    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(vs::schema::CreateOiSpikeAlertDirect(fbb, symbol.c_str(), 1'700'000'000'000 + n, 1, vs::schema::MarketType::UsdM,
                                                    std::string{id}.c_str(), "5m", 1, 1000.0, 1100.0 + n, 0.1, 100.0,
                                                    50'000.0, 55'000'000.0));
    return {reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

struct stream_message {
    std::string subject, msg_id, record_type, data;
};

/// Every message of VOLSPIKE_ALERTS on volspike.oi.OiSpikeAlert.*, read with a plain libnats
/// JetStream subscriber (an ephemeral consumer from the start of the stream).
std::vector<stream_message> read_alert_stream(const std::string& url)
{
    std::vector<stream_message> out;
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsSubscription* sub = nullptr;
    if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK || natsConnection_JetStream(&js, nc, nullptr) != NATS_OK) {
        ADD_FAILURE() << "cannot connect to " << url;
    } else {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = "VOLSPIKE_ALERTS";
        so.Config.DeliverPolicy = js_DeliverAll;
        so.Config.AckPolicy = js_AckNone;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        const natsStatus s = js_SubscribeSync(&sub, js, "volspike.oi.OiSpikeAlert.*", nullptr, &so, &jerr);
        EXPECT_EQ(s, NATS_OK) << natsStatus_GetText(s) << " " << jerr;
        while (sub != nullptr) {
            natsMsg* m = nullptr;
            if (natsSubscription_NextMsg(&m, sub, 2000) != NATS_OK) {
                break;
            }
            stream_message sm;
            sm.subject = natsMsg_GetSubject(m);
            const char* v = nullptr;
            if (natsMsgHeader_Get(m, "Nats-Msg-Id", &v) == NATS_OK) {
                sm.msg_id = v;
            }
            if (natsMsgHeader_Get(m, "Vs-Record-Type", &v) == NATS_OK) {
                sm.record_type = v;
            }
            sm.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
            out.push_back(std::move(sm));
            natsMsg_Destroy(m);
        }
    }
    if (sub != nullptr) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    if (js != nullptr) {
        jsCtx_Destroy(js);
    }
    if (nc != nullptr) {
        natsConnection_Destroy(nc);
    }
    return out;
}

class DeliverNatsTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        vs::outbox::outbox_options o;
        o.targets = vs::outbox::target_set{};
        o.targets->add(target::nats);
        outbox_ = vs::outbox::outbox::open(env_.state_dir(), o);
        port_ = vs::test::free_port();
    }
    void TearDown() override
    {
        if (HasFailure()) {
            for (const auto* name : {"deliver.log", "nats-server.log"}) {
                std::cerr << "---- " << name << " ----\n" << vs::test::tail_of(env_.state_dir() / name, 6000) << "\n";
            }
        }
        deliver_.reset();
        server_.reset();
    }

    std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

    void start_server()
    {
        server_.emplace(vs::test::start_nats_server(port_, env_.state_dir()));
    }

    void start_deliver()
    {
        deliver_.emplace(
            std::vector<std::string>{exe("VS_DELIVER_EXE"), "--state-dir", env_.state_dir().string(), "--bus-prefix",
                                     env_.prefix(), "--backoff-base-ms", "50", "--backoff-max-ms", "1000", "--poll-ms",
                                     "20", "--nats-timeout-ms", "500"},
            vs::test::process_options{.out = vs::test::sink::file(env_.state_dir() / "deliver.log"),
                                      .err = vs::test::sink::file(env_.state_dir() / "deliver.log"),
                                      .env = {{"PATH", "/usr/bin:/bin"}, {"VS_NATS_URL", url()}},
                                      .clean_env = true});
    }

    /// Commits one alert with its bus record (the record built with the id inside the commit).
    std::string commit_alert(int n)
    {
        const std::string symbol = n % 2 == 0 ? "BTCUSDT" : "币安人生USDT";
        vs::outbox::alert a;
        a.kind = "oi";
        vs::outbox::bus_record r;
        r.channel = "oi";
        r.type = oi_alert_type;
        r.symbol = symbol;
        r.schema_hash = 0x1234abcd;
        r.build = [symbol, n](std::string_view id) { return oi_alert_record(symbol, id, n); };
        a.bus = std::move(r);
        std::vector<vs::outbox::alert> alerts{std::move(a)};
        const auto ids = outbox_->commit("vs-oi", alerts, {{"n", std::to_string(n)}});
        EXPECT_EQ(ids.size(), 1u);
        records_[ids.at(0)] = alerts[0].bus->bytes;
        return ids.at(0);
    }

    vs::test::test_env env_;
    std::unique_ptr<vs::outbox::outbox> outbox_;
    std::uint16_t port_ = 0;
    std::optional<child_process> server_, deliver_;
    std::map<std::string, std::string> records_;   // id -> the bytes committed
};

TEST_F(DeliverNatsTest, NatsOutageEveryAlertInTheStreamExactlyOnceAcrossKill9)
{
    start_server();
    start_deliver();
    // A fresh server has no stream: the first attempt finds no responder, vs-deliver creates
    // the streams (vs::nats::stream_configs) and the retry lands.
    for (int i = 0; i < 3; ++i) {
        commit_alert(i);
    }
    ASSERT_TRUE(eventually([&] { return outbox_->queue_length(target::nats) == 0; }, 20s)) << "delivered while up";
    EXPECT_NE(vs::test::read_file(env_.state_dir() / "deliver.log").find("streams created or updated"), std::string::npos);

    // The outage: nats-server down ~20 s; alerts keep coming; vs-deliver killed -9 in the middle.
    server_->terminate(10s);
    server_.reset();
    int n = 3;
    for (; n < 9; ++n) {
        commit_alert(n);
        std::this_thread::sleep_for(800ms);
    }
    EXPECT_EQ(outbox_->queue_length(target::nats), 6u) << "nothing delivered while the server is down";
    EXPECT_EQ(deliver_->kill(), 137);
    start_deliver();
    for (; n < 15; ++n) {
        commit_alert(n);
        std::this_thread::sleep_for(2500ms);
    }
    EXPECT_EQ(outbox_->queue_length(target::nats), 12u);
    EXPECT_GT(outbox_->counters(target::nats).retried, 0u) << "the attempts failed and were retried";

    // Back with the same store; vs-deliver killed -9 again once the catch-up has begun.
    start_server();
    ASSERT_TRUE(eventually([&] { return outbox_->queue_length(target::nats) < 12; }, 20s)) << "catch-up began";
    EXPECT_EQ(deliver_->kill(), 137);
    start_deliver();
    ASSERT_TRUE(eventually([&] { return outbox_->queue_length(target::nats) == 0; }, 30s)) << "caught up";

    const auto msgs = read_alert_stream(url());
    std::map<std::string, int> seen;
    for (const auto& m : msgs) {
        ASSERT_EQ(m.msg_id.rfind("alert:", 0), 0u) << m.msg_id;
        const auto id = m.msg_id.substr(6);
        ++seen[id];
        ASSERT_TRUE(records_.count(id)) << "unknown alert " << id;
        EXPECT_EQ(m.data, records_.at(id)) << "the bytes the process committed, as they are";
        EXPECT_EQ(m.record_type, std::to_string(oi_alert_type));
        const auto* rec = flatbuffers::GetRoot<vs::schema::OiSpikeAlert>(m.data.data());
        EXPECT_EQ(rec->alert_id()->str(), id);
        const std::string token = rec->symbol()->str() == "BTCUSDT" ? "BTCUSDT" : "~E5B881E5AE89E4BABAE7949F55534454";
        EXPECT_EQ(m.subject, "volspike.oi.OiSpikeAlert." + token);
    }
    EXPECT_EQ(msgs.size(), records_.size()) << "every alert once: no loss, no duplicate";
    for (const auto& [id, bytes] : records_) {
        EXPECT_EQ(seen[id], 1) << id;
    }
    EXPECT_EQ(outbox_->counters(target::nats).sent, records_.size());
    std::printf("measured: %zu alerts, %zu in the stream, %llu failed attempts retried\n", records_.size(), msgs.size(),
                static_cast<unsigned long long>(outbox_->counters(target::nats).retried));
}

}  // namespace
