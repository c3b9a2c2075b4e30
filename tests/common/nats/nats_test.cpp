// vs::nats without a server: the subject token encoding (every byte string round-trips, the
// non-ASCII symbol included), the subject and id formats both vs-nats and vs-deliver's nats
// target use, the alert_id of each alert type, and that the streams' subjects never overlap
// (JetStream refuses overlapping streams).
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "schemas/alerts_generated.h"
#include "vs/nats/nats.hpp"

namespace {

using vs::schema::RecordType;
constexpr auto t_of = [](RecordType t) { return static_cast<vs::bus::record_type>(t); };

TEST(NatsSubject, BinanceSymbolsStayAsTheyAre)
{
    EXPECT_EQ(vs::nats::subject_token("BTCUSDT"), "BTCUSDT");
    EXPECT_EQ(vs::nats::subject_token("1000PEPEUSDT"), "1000PEPEUSDT");
    EXPECT_EQ(vs::nats::subject_token("BTCUSDT_240628"), "BTCUSDT_240628");
    EXPECT_EQ(vs::nats::subject(std::string_view{"market"}, t_of(RecordType::MarkPrice), "BTCUSDT"),
              "volspike.market.MarkPrice.BTCUSDT");
    EXPECT_EQ(vs::nats::json_subject("oi", t_of(RecordType::OiSpikeAlert), "ETHUSDT"),
              "volspike.json.oi.OiSpikeAlert.ETHUSDT");
}

TEST(NatsSubject, NonAsciiAndReservedBytesAreHexEncoded)
{
    // "币安人生USDT": UTF-8 bytes as uppercase hex after '~'.
    const std::string sym = "\xE5\xB8\x81\xE5\xAE\x89\xE4\xBA\xBA\xE7\x94\x9F" "USDT";
    EXPECT_EQ(vs::nats::subject_token(sym), "~E5B881E5AE89E4BABAE7949F55534454");
    EXPECT_EQ(vs::nats::symbol_from_token("~E5B881E5AE89E4BABAE7949F55534454"), sym);
    EXPECT_EQ(vs::nats::subject_token("BTCUSDT@prev"), "~425443555344544070726576");   // a table key
    EXPECT_EQ(vs::nats::subject_token("A.B"), "~412E42");                              // '.' splits tokens
    EXPECT_EQ(vs::nats::subject_token("*"), "~2A");
    EXPECT_EQ(vs::nats::subject_token(""), "_");
    EXPECT_EQ(vs::nats::symbol_from_token("_"), std::string{});
    EXPECT_EQ(vs::nats::subject_token("_"), "~5F");   // never confused with the empty symbol
    EXPECT_EQ(vs::nats::symbol_from_token("~5F"), "_");
}

TEST(NatsSubject, MalformedTokensAreRefused)
{
    EXPECT_FALSE(vs::nats::symbol_from_token(""));
    EXPECT_FALSE(vs::nats::symbol_from_token("~"));
    EXPECT_FALSE(vs::nats::symbol_from_token("~4"));
    EXPECT_FALSE(vs::nats::symbol_from_token("~4g"));
    EXPECT_FALSE(vs::nats::symbol_from_token("~4a"));   // lowercase hex is never produced
    EXPECT_FALSE(vs::nats::symbol_from_token("A*B"));
}

TEST(NatsSubject, EveryByteStringRoundTrips)
{
    std::mt19937 rng(17);
    for (int i = 0; i < 5000; ++i) {
        std::string s(rng() % 33, '\0');
        for (auto& c : s) {
            c = static_cast<char>(i % 2 == 0 ? rng() % 256 : "AZaz09_-.~@"[rng() % 11]);
        }
        const auto token = vs::nats::subject_token(s);
        ASSERT_FALSE(token.empty());
        ASSERT_EQ(token.find_first_of(".*> \t\r\n"), std::string::npos) << token;
        ASSERT_EQ(vs::nats::symbol_from_token(token), s) << token;
    }
}

TEST(NatsSubject, ParseIsTheInverse)
{
    const std::string sym = "\xE5\xB8\x81USDT";
    auto p = vs::nats::parse_subject(vs::nats::subject(std::string_view{"market"}, t_of(RecordType::Kline), sym));
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->json);
    EXPECT_EQ(p->channel, "market");
    EXPECT_EQ(p->type, t_of(RecordType::Kline));
    EXPECT_EQ(p->type_name, "Kline");
    EXPECT_EQ(p->symbol, sym);
    p = vs::nats::parse_subject("volspike.json.oi.LiquidUniverse._");
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->json);
    EXPECT_EQ(p->channel, "oi");
    EXPECT_EQ(p->type, t_of(RecordType::LiquidUniverse));
    EXPECT_EQ(p->symbol, "");
    EXPECT_FALSE(vs::nats::parse_subject("volspike.market.MarkPrice"));
    EXPECT_FALSE(vs::nats::parse_subject("other.market.MarkPrice.BTCUSDT"));
    EXPECT_FALSE(vs::nats::parse_subject("volspike.market.MarkPrice.A*"));
    p = vs::nats::parse_subject("volspike.market.NoSuchType.BTCUSDT");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->type, 0);
}

TEST(NatsIds, Formats)
{
    EXPECT_EQ(vs::nats::msg_id("market", 7, 123456), "market:7:123456");
    EXPECT_EQ(vs::nats::snapshot_msg_id("market", 7, 3, "BTCUSDT"), "market:7:snap:3:BTCUSDT");
    EXPECT_EQ(vs::nats::snapshot_msg_id("oi", 2, 1, ""), "oi:2:snap:1:_");
    EXPECT_EQ(vs::nats::alert_msg_id("vol-BTCUSDT-1700000000000"), "alert:vol-BTCUSDT-1700000000000");
}

TEST(NatsIds, AlertIdOfEveryAlertType)
{
    flatbuffers::FlatBufferBuilder fbb;
    fbb.Finish(vs::schema::CreateOiSpikeAlert(fbb, fbb.CreateString("ETHUSDT"), 1, 2, vs::schema::MarketType::UsdM,
                                              fbb.CreateString("oi-42")));
    const std::span<const std::byte> oi{reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
    EXPECT_EQ(vs::nats::alert_id(t_of(RecordType::OiSpikeAlert), oi), "oi-42");
    EXPECT_TRUE(vs::nats::is_alert_type(t_of(RecordType::OiSpikeAlert)));
    EXPECT_TRUE(vs::nats::is_alert_type(t_of(RecordType::VolumeSpikeAlert)));
    EXPECT_TRUE(vs::nats::is_alert_type(t_of(RecordType::UserAlertTrigger)));
    EXPECT_TRUE(vs::nats::is_alert_type(t_of(RecordType::LiquidationAlert)));
    EXPECT_TRUE(vs::nats::is_alert_type(t_of(RecordType::WhaleTradeAlert)));
    EXPECT_FALSE(vs::nats::is_alert_type(t_of(RecordType::MarkPrice)));
    EXPECT_FALSE(vs::nats::is_alert_type(t_of(RecordType::NewsPost)));
    EXPECT_EQ(vs::nats::alert_id(t_of(RecordType::MarkPrice), oi), "");
    const std::byte junk[8]{};
    EXPECT_EQ(vs::nats::alert_id(t_of(RecordType::OiSpikeAlert), junk), "");

    flatbuffers::FlatBufferBuilder v;
    v.Finish(vs::schema::CreateVolumeSpikeAlert(v, v.CreateString("BTCUSDT"), 1, 2, vs::schema::MarketType::UsdM,
                                                v.CreateString("vol-7")));
    EXPECT_EQ(vs::nats::alert_id(t_of(RecordType::VolumeSpikeAlert),
                                 {reinterpret_cast<const std::byte*>(v.GetBufferPointer()), v.GetSize()}),
              "vol-7");
}

// NATS subject matching of two patterns: true when some subject matches both.
bool overlap(std::string_view a, std::string_view b)
{
    auto split = [](std::string_view s) {
        std::vector<std::string_view> out;
        for (std::size_t p; (p = s.find('.')) != std::string_view::npos; s.remove_prefix(p + 1)) {
            out.push_back(s.substr(0, p));
        }
        out.push_back(s);
        return out;
    };
    const auto x = split(a);
    const auto y = split(b);
    for (std::size_t i = 0;; ++i) {
        if (i < x.size() && x[i] == ">") {
            return i < y.size() || (i > 0 && i == y.size() && false);
        }
        if (i < y.size() && y[i] == ">") {
            return i < x.size();
        }
        if (i == x.size() || i == y.size()) {
            return x.size() == y.size();
        }
        if (x[i] != y[i] && x[i] != "*" && y[i] != "*") {
            return false;
        }
    }
}

TEST(NatsStreams, SubjectsOfTwoStreamsNeverOverlap)
{
    ASSERT_TRUE(overlap("volspike.*.MarkPrice.*", "volspike.market.>"));
    ASSERT_FALSE(overlap("volspike.*.MarkPrice.*", "volspike.json.*.*.*"));
    const auto streams = vs::nats::stream_configs();
    ASSERT_EQ(streams.size(), 3u);
    for (std::size_t i = 0; i < streams.size(); ++i) {
        for (std::size_t j = i + 1; j < streams.size(); ++j) {
            for (const auto& a : streams[i].subjects) {
                for (const auto& b : streams[j].subjects) {
                    EXPECT_FALSE(overlap(a, b)) << a << " (" << streams[i].name << ") vs " << b << " ("
                                                << streams[j].name << ")";
                }
            }
        }
    }
    // Every subject a record of ours gets lands in the stream stream_of names.
    EXPECT_EQ(vs::nats::stream_of("oi", t_of(RecordType::OiSpikeAlert), false), "VOLSPIKE_ALERTS");
    EXPECT_EQ(vs::nats::stream_of("oi", t_of(RecordType::OpenInterest), false), "VOLSPIKE_MARKET");
    EXPECT_EQ(vs::nats::stream_of("market", t_of(RecordType::MarkPrice), true), "VOLSPIKE_JSON");
    EXPECT_EQ(vs::nats::stream_of("market", t_of(RecordType::ProcessStatus), false), "");
    for (const auto& s : streams) {
        if (s.name == "VOLSPIKE_ALERTS") {
            EXPECT_EQ(s.duplicates, std::chrono::hours{1});
            EXPECT_EQ(s.max_age, std::chrono::hours{24 * 7});
        }
        if (s.name == "VOLSPIKE_MARKET") {
            EXPECT_GT(s.max_msgs_per_subject, 1);
            EXPECT_EQ(s.max_age, std::chrono::hours{1});
        }
    }
}

TEST(NatsOptions, FromEnvironmentAndDescribeHidesPasswords)
{
    ::setenv("VS_NATS_URL", "tls://user:secret@nats-a:4222,nats://nats-b:4222", 1);
    ::setenv("VS_NATS_TOKEN", "s3cr3t-token-value", 1);
    const auto o = vs::nats::options_from_env();
    EXPECT_EQ(o.url, "tls://user:secret@nats-a:4222,nats://nats-b:4222");
    EXPECT_EQ(o.token, "s3cr3t-token-value");
    EXPECT_EQ(vs::nats::describe(o), "tls://nats-a:4222,nats://nats-b:4222");
    ::unsetenv("VS_NATS_URL");
    ::unsetenv("VS_NATS_TOKEN");
    EXPECT_EQ(vs::nats::options_from_env().url, "nats://127.0.0.1:4222");
}

}  // namespace
