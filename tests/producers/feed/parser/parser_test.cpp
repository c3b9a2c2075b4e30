#include "vs/feed/parser.hpp"

#include <atomic>
#include <charconv>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "frame_mutation.hpp"
#include "schemas/market_data_generated.h"
#include "test_env.hpp"
#include "vs/bus/channel.hpp"
#include "vs/bus/records.hpp"

// Heap allocations of this thread while `g_count_allocations` is set: the steady-state test
// checks that parsing allocates nothing once the parser's buffers have grown. AddressSanitizer
// replaces operator new itself, so the count (and that test) is off under it.
#if defined(__SANITIZE_ADDRESS__)
#define VS_COUNT_ALLOCATIONS 0
#else
#define VS_COUNT_ALLOCATIONS 1
#endif

namespace {
thread_local bool g_count_allocations = false;
thread_local std::size_t g_allocations = 0;
}  // namespace

#if VS_COUNT_ALLOCATIONS
// The replacement uses malloc and its delete free: a matched pair GCC cannot see.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n)
{
    if (g_count_allocations) {
        ++g_allocations;
    }
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc{};
}
void operator delete(void* p) noexcept
{
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept
{
    std::free(p);
}
#endif

namespace {

using vs::feed::frame_kind;
using vs::feed::frame_parser;
using vs::feed::frame_result;
using vs::feed::parsed_record;
using vs::feed::parser_options;
using vs::schema::MarketType;
using vs::schema::RecordType;

constexpr std::int64_t recv_ns = 1'791'382'993'123'456'789;

const std::filesystem::path samples_dir{VS_BINANCE_SAMPLES_DIR};

/// A copy of one record handed to the sink (its views die when the sink returns).
struct captured {
    std::uint16_t type = 0;
    std::string symbol;
    MarketType market = MarketType::Unknown;
    std::vector<std::uint8_t> bytes;

    template <class Table>
    const Table* as() const
    {
        flatbuffers::Verifier verifier(bytes.data(), bytes.size());
        EXPECT_TRUE(verifier.VerifyBuffer<Table>(nullptr)) << "record of " << symbol << " does not verify";
        return flatbuffers::GetRoot<Table>(bytes.data());
    }
};

bool verifies(const captured& c)
{
    flatbuffers::Verifier v(c.bytes.data(), c.bytes.size());
    switch (static_cast<RecordType>(c.type)) {
    case RecordType::MarkPrice: return v.VerifyBuffer<vs::schema::MarkPrice>(nullptr);
    case RecordType::Ticker24h: return v.VerifyBuffer<vs::schema::Ticker24h>(nullptr);
    case RecordType::Liquidation: return v.VerifyBuffer<vs::schema::Liquidation>(nullptr);
    case RecordType::AggTrade: return v.VerifyBuffer<vs::schema::AggTrade>(nullptr);
    case RecordType::Kline: return v.VerifyBuffer<vs::schema::Kline>(nullptr);
    default: return false;
    }
}

std::string read_file(const std::filesystem::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> read_lines(const std::filesystem::path& p)
{
    std::vector<std::string> lines;
    std::ifstream in(p, std::ios::binary);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    return lines;
}

class FrameParserTest : public ::testing::Test {
protected:
    frame_result parse(std::string_view frame)
    {
        return sut.parse(frame, recv_ns, [this](const parsed_record& r) {
            captured c;
            c.type = r.type;
            c.symbol = std::string(r.symbol);
            c.market = r.market;
            const auto* p = reinterpret_cast<const std::uint8_t*>(r.bytes.data());
            c.bytes.assign(p, p + r.bytes.size());
            records.push_back(std::move(c));
        });
    }

    /// The sample's path, or skips the test when the shared samples are not on this machine.
    std::filesystem::path sample(const char* name)
    {
        const auto p = samples_dir / name;
        if (!std::filesystem::exists(p)) {
            return {};
        }
        return p;
    }

    frame_parser sut;
    std::vector<captured> records;
};

#define REQUIRE_SAMPLE(var, name)                                                        \
    const auto var = sample(name);                                                       \
    if (var.empty()) {                                                                   \
        GTEST_SKIP() << "sample " << name << " not found in " << samples_dir.string();   \
    }

// ---------------------------------------------------------------------------------------
// Real samples (/work/shared/data/binance)

TEST_F(FrameParserTest, ParsesRealMarkPriceArrayWithApAndSt)
{
    REQUIRE_SAMPLE(path, "ws_markPrice_arr_1s_envelope_trimmed2_2026-10-07.json");

    const auto r = parse(read_file(path));

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(r.stream, "!markPrice@arr@1s");
    EXPECT_EQ(r.rows_accepted, 2u);
    EXPECT_EQ(r.rows_rejected, 0u);
    EXPECT_EQ(r.error, nullptr);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].type, static_cast<std::uint16_t>(RecordType::MarkPrice));
    EXPECT_EQ(records[0].symbol, "XAUUSDT");
    EXPECT_EQ(records[0].market, MarketType::UsdM);
    const auto* m = records[0].as<vs::schema::MarkPrice>();
    EXPECT_EQ(m->symbol()->str(), "XAUUSDT");
    EXPECT_EQ(m->event_time_ms(), 1791382992684);
    EXPECT_EQ(m->recv_time_ns(), recv_ns);
    EXPECT_EQ(m->market(), MarketType::UsdM);
    EXPECT_EQ(m->mark_price(), 4103.92233180);
    EXPECT_EQ(m->index_price(), 4100.14187735);
    EXPECT_EQ(m->estimated_settle_price(), 4098.72755326);
    EXPECT_EQ(m->funding_rate(), 0.00019799);
    EXPECT_EQ(m->next_funding_time_ms(), 1791388800000);
    EXPECT_EQ(m->funding_interval_hours(), 0);
    EXPECT_EQ(records[1].symbol, "XAGUSDT");
    EXPECT_EQ(records[1].as<vs::schema::MarkPrice>()->mark_price(), 59.63);
}

TEST_F(FrameParserTest, ParsesRealSingleSymbolMarkPriceEnvelope)
{
    REQUIRE_SAMPLE(path, "ws_markPrice_1s_btcusdt_envelope_2026-10-07.json");

    const auto r = parse(read_file(path));

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(r.stream, "btcusdt@markPrice@1s");
    ASSERT_EQ(records.size(), 1u);
    const auto* m = records[0].as<vs::schema::MarkPrice>();
    EXPECT_EQ(m->mark_price(), 83084.3);
    EXPECT_EQ(m->index_price(), 83123.65891304);
    EXPECT_EQ(m->estimated_settle_price(), 83195.15881449);
    EXPECT_EQ(m->funding_rate(), 0.00000078);
    EXPECT_EQ(m->event_time_ms(), 1791382993000);
}

TEST_F(FrameParserTest, ParsesLegacyFramesWithoutApStAndPsAsUnknownMarket)
{
    REQUIRE_SAMPLE(path, "ws_legacy_usdm_markPrice_arr_2021_and_ticker_arr_2022_frames.jsonl");
    const auto lines = read_lines(path);
    ASSERT_EQ(lines.size(), 3u);

    const auto mark = parse(lines[0]);
    const auto ticker1 = parse(lines[1]);
    const auto ticker2 = parse(lines[2]);

    EXPECT_EQ(mark.rows_accepted, 2u);
    EXPECT_EQ(ticker1.rows_accepted, 1u);
    EXPECT_EQ(ticker2.rows_accepted, 1u);
    ASSERT_EQ(records.size(), 4u);
    const auto* btc = records[0].as<vs::schema::MarkPrice>();
    EXPECT_EQ(btc->symbol()->str(), "BTCUSDT");
    EXPECT_EQ(btc->market(), MarketType::Unknown);
    EXPECT_EQ(btc->mark_price(), 59022.53514719);
    EXPECT_EQ(btc->funding_rate(), 0.00058959);
    EXPECT_EQ(btc->next_funding_time_ms(), 1617321600000);
    EXPECT_EQ(records[1].symbol, "ETHUSDT");
    const auto* t = records[2].as<vs::schema::Ticker24h>();
    EXPECT_EQ(t->symbol()->str(), "BTCUSDT");
    EXPECT_EQ(t->market(), MarketType::Unknown);
    EXPECT_EQ(t->pair(), nullptr);
    EXPECT_EQ(t->last_price(), 29093.90);
    EXPECT_EQ(t->quote_volume(), 5019757418.36);
    EXPECT_EQ(t->trade_count(), 1813560);
    EXPECT_EQ(records[3].symbol, "IOTXUSDT");
    EXPECT_EQ(records[3].as<vs::schema::Ticker24h>()->price_change(), 0.00053);
}

TEST_F(FrameParserTest, ParsesRealTickerArrayAndMarksTheCoinMRowCoinM)
{
    REQUIRE_SAMPLE(path, "ws_ticker_arr_envelope_trimmed2_with_coinm_row_2026-10-07.json");

    const auto r = parse(read_file(path));

    EXPECT_EQ(r.stream, "!ticker@arr");
    EXPECT_EQ(r.rows_accepted, 2u);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].market, MarketType::UsdM);
    const auto* xpt = records[0].as<vs::schema::Ticker24h>();
    EXPECT_EQ(xpt->symbol()->str(), "XPTUSDT");
    EXPECT_EQ(xpt->pair()->str(), "XPTUSDT");
    EXPECT_EQ(xpt->event_time_ms(), 1791382992307);
    EXPECT_EQ(xpt->price_change(), -54.15);
    EXPECT_EQ(xpt->price_change_percent(), -3.211);
    EXPECT_EQ(xpt->weighted_avg_price(), 1664.1148);
    EXPECT_EQ(xpt->last_price(), 1632.48);
    EXPECT_EQ(xpt->last_qty(), 0.006);
    EXPECT_EQ(xpt->open_price(), 1686.63);
    EXPECT_EQ(xpt->high_price(), 1716.85);
    EXPECT_EQ(xpt->low_price(), 1613.62);
    EXPECT_EQ(xpt->volume(), 7406.798);
    EXPECT_EQ(xpt->quote_volume(), 12325762.2149);
    EXPECT_EQ(xpt->open_time_ms(), 1791296580000);
    EXPECT_EQ(xpt->close_time_ms(), 1791382992306);
    EXPECT_EQ(xpt->first_trade_id(), 19210546);
    EXPECT_EQ(xpt->last_trade_id(), 19266957);
    EXPECT_EQ(xpt->trade_count(), 56401);
    EXPECT_EQ(records[1].symbol, "BTCUSD_PERP");
    EXPECT_EQ(records[1].market, MarketType::CoinM);
    const auto* coin = records[1].as<vs::schema::Ticker24h>();
    EXPECT_EQ(coin->market(), MarketType::CoinM);
    EXPECT_EQ(coin->pair()->str(), "BTCUSD");
    EXPECT_EQ(coin->quote_volume(), 11573.7);
    EXPECT_EQ(sut.counters().rows_coin_m, 1u);
}

TEST_F(FrameParserTest, ParsesRealSingleSymbolTickerEnvelope)
{
    REQUIRE_SAMPLE(path, "ws_ticker_btcusdt_envelope_2026-10-07.json");

    const auto r = parse(read_file(path));

    EXPECT_EQ(r.stream, "btcusdt@ticker");
    ASSERT_EQ(records.size(), 1u);
    const auto* t = records[0].as<vs::schema::Ticker24h>();
    EXPECT_EQ(t->last_price(), 83091.60);
    EXPECT_EQ(t->quote_volume(), 14374214019.71);
    EXPECT_EQ(t->trade_count(), 3538937);
}

TEST_F(FrameParserTest, ParsesRealAggTradeEnvelope)
{
    REQUIRE_SAMPLE(path, "ws_aggTrade_btcusdt_envelope_2026-10-07.json");

    const auto r = parse(read_file(path));

    EXPECT_EQ(r.stream, "btcusdt@aggTrade");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].type, static_cast<std::uint16_t>(RecordType::AggTrade));
    const auto* a = records[0].as<vs::schema::AggTrade>();
    EXPECT_EQ(a->symbol()->str(), "BTCUSDT");
    EXPECT_EQ(a->event_time_ms(), 1791382992488);
    EXPECT_EQ(a->market(), MarketType::UsdM);
    EXPECT_EQ(a->agg_trade_id(), 3477868433);
    EXPECT_EQ(a->price(), 83091.70);
    EXPECT_EQ(a->qty(), 0.022);
    EXPECT_EQ(a->first_trade_id(), 8153634393);
    EXPECT_EQ(a->last_trade_id(), 8153634394);
    EXPECT_EQ(a->trade_time_ms(), 1791382992338);
    EXPECT_FALSE(a->buyer_is_maker());
}

TEST_F(FrameParserTest, ParsesEveryRecorded2021AggTradeFrame)
{
    REQUIRE_SAMPLE(path, "ws_aggTrade_4sym_envelopes_2021-07-22.jsonl");
    const auto lines = read_lines(path);
    ASSERT_GT(lines.size(), 50u);

    for (const auto& line : lines) {
        const auto r = parse(line);
        ASSERT_EQ(r.kind, frame_kind::data) << line;
        ASSERT_EQ(r.rows_accepted, 1u) << line;
    }

    EXPECT_EQ(records.size(), lines.size());
    EXPECT_EQ(sut.counters().rows_rejected, 0u);
    EXPECT_EQ(records[0].symbol, "CTKUSDT");
    const auto* a = records[0].as<vs::schema::AggTrade>();
    EXPECT_EQ(a->price(), 1.011);
    EXPECT_EQ(a->qty(), 10.0);
    EXPECT_EQ(a->market(), MarketType::Unknown);
    EXPECT_TRUE(records[1].as<vs::schema::AggTrade>()->buyer_is_maker());
}

TEST_F(FrameParserTest, ParsesRealKlineEnvelope)
{
    REQUIRE_SAMPLE(path, "ws_kline_1m_btcusdt_envelope_2026-10-07.json");

    const auto r = parse(read_file(path));

    EXPECT_EQ(r.stream, "btcusdt@kline_1m");
    ASSERT_EQ(records.size(), 1u);
    const auto* k = records[0].as<vs::schema::Kline>();
    EXPECT_EQ(k->symbol()->str(), "BTCUSDT");
    EXPECT_EQ(k->event_time_ms(), 1791382992723);
    EXPECT_EQ(k->interval()->str(), "1m");
    EXPECT_EQ(k->open_time_ms(), 1791382980000);
    EXPECT_EQ(k->close_time_ms(), 1791383039999);
    EXPECT_EQ(k->open(), 83084.90);
    EXPECT_EQ(k->high(), 83091.70);
    EXPECT_EQ(k->low(), 83051.20);
    EXPECT_EQ(k->close(), 83091.60);
    EXPECT_EQ(k->volume(), 13.551);
    EXPECT_EQ(k->quote_volume(), 1125714.73960);
    EXPECT_EQ(k->trade_count(), 1027);
    EXPECT_EQ(k->taker_buy_volume(), 6.426);
    EXPECT_EQ(k->taker_buy_quote_volume(), 533856.66860);
    EXPECT_FALSE(k->closed());
}

TEST_F(FrameParserTest, ParsesEveryRecorded2021KlineFrame)
{
    REQUIRE_SAMPLE(path, "ws_kline_1m_4sym_envelopes_2021-07-22.jsonl");
    const auto lines = read_lines(path);
    ASSERT_GT(lines.size(), 50u);

    for (const auto& line : lines) {
        const auto r = parse(line);
        ASSERT_EQ(r.rows_accepted, 1u) << line;
        ASSERT_EQ(r.stream.substr(r.stream.size() - 9), "@kline_1m");
    }

    EXPECT_EQ(records.size(), lines.size());
    for (const auto& c : records) {
        EXPECT_TRUE(verifies(c));
        EXPECT_EQ(c.as<vs::schema::Kline>()->interval()->str(), "1m");
    }
}

TEST_F(FrameParserTest, ParsesTheRealPremiumIndexReplyAsMarkPrices)
{
    REQUIRE_SAMPLE(path, "rest_fapi_v1_premiumIndex_all_521sym_2025-06-17.json");

    const auto r = parse(read_file(path));

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(r.rows_accepted, 521u);
    EXPECT_EQ(r.rows_rejected, 0u);
    const auto* first = records.at(0).as<vs::schema::MarkPrice>();
    EXPECT_EQ(first->symbol()->str(), "DIAUSDT");
    EXPECT_EQ(first->mark_price(), 0.3883);
    EXPECT_EQ(first->index_price(), 0.38923685);
    EXPECT_EQ(first->estimated_settle_price(), 0.38966349);
    EXPECT_EQ(first->funding_rate(), 0.00005);
    EXPECT_EQ(first->next_funding_time_ms(), 1750161600000);
    EXPECT_EQ(first->event_time_ms(), 1750149488000);
}

TEST_F(FrameParserTest, KeepsNonAsciiSymbolOfRealPremiumIndexRows)
{
    REQUIRE_SAMPLE(path, "rest_fapi_v1_premiumIndex_trimmed3_2026-10-07.json");

    const auto r = parse(read_file(path));

    EXPECT_EQ(r.rows_accepted, 3u);
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[2].symbol, "币安人生USDT");
    EXPECT_EQ(records[2].as<vs::schema::MarkPrice>()->symbol()->str(), "币安人生USDT");
    EXPECT_EQ(records[2].as<vs::schema::MarkPrice>()->mark_price(), 0.4762);
}

TEST_F(FrameParserTest, ReportsRealErrorPayloadsAndTheSubscriptionReply)
{
    REQUIRE_SAMPLE(path, "rest_and_ws_error_payloads.json");
    simdjson::dom::parser json;
    simdjson::dom::element doc;
    ASSERT_EQ(json.load(path.string()).get(doc), simdjson::SUCCESS);

    int errors = 0;
    int replies = 0;
    for (auto entry : doc.get_array()) {
        const std::string body = simdjson::minify(entry["body"]);
        const auto r = parse(body);
        if (r.kind == frame_kind::exchange_error) {
            ++errors;
            EXPECT_NE(r.error, nullptr);
            EXPECT_FALSE(r.detail.empty()) << body;
        } else {
            EXPECT_EQ(r.kind, frame_kind::subscription_reply) << body;
            ++replies;
        }
        EXPECT_EQ(r.rows_accepted, 0u);
    }

    EXPECT_EQ(errors, 7);
    EXPECT_EQ(replies, 1);
    EXPECT_TRUE(records.empty());
    EXPECT_EQ(sut.counters().frames_rejected, 0u);
}

// ---------------------------------------------------------------------------------------
// Own fixtures: shapes

TEST_F(FrameParserTest, ParsesTheDocumentedForceOrderExample)
{
    const auto r = parse(R"({"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT",)"
                         R"("f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014",)"
                         R"("T":1568014460893}})");

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(r.stream, "!forceOrder@arr");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].type, static_cast<std::uint16_t>(RecordType::Liquidation));
    const auto* l = records[0].as<vs::schema::Liquidation>();
    EXPECT_EQ(l->symbol()->str(), "BTCUSDT");
    EXPECT_EQ(l->event_time_ms(), 1568014460893);
    EXPECT_EQ(l->recv_time_ns(), recv_ns);
    EXPECT_EQ(l->side(), vs::schema::Side::Sell);
    EXPECT_EQ(l->order_type()->str(), "LIMIT");
    EXPECT_EQ(l->time_in_force()->str(), "IOC");
    EXPECT_EQ(l->order_status()->str(), "FILLED");
    EXPECT_EQ(l->orig_qty(), 0.014);
    EXPECT_EQ(l->price(), 9910.0);
    EXPECT_EQ(l->avg_price(), 9910.0);
    EXPECT_EQ(l->last_filled_qty(), 0.014);
    EXPECT_EQ(l->filled_qty(), 0.014);
    EXPECT_EQ(l->trade_time_ms(), 1568014460893);
    EXPECT_EQ(l->market(), MarketType::Unknown);
}

TEST_F(FrameParserTest, ParsesForceOrderEnvelopeWithPairAndMarketType)
{
    const auto r = parse(R"({"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":1791382992000,)"
                         R"("o":{"s":"ETHUSDT","ps":"ETHUSDT","st":1,"S":"BUY","o":"LIMIT","f":"IOC",)"
                         R"("q":"1.5","p":"2500.10","ap":"2499.9","X":"FILLED","l":"1.5","z":"1.5","T":1791382991999}}})");

    EXPECT_EQ(r.stream, "!forceOrder@arr");
    ASSERT_EQ(records.size(), 1u);
    const auto* l = records[0].as<vs::schema::Liquidation>();
    EXPECT_EQ(l->side(), vs::schema::Side::Buy);
    EXPECT_EQ(l->market(), MarketType::UsdM);
    EXPECT_EQ(l->avg_price(), 2499.9);
}

TEST_F(FrameParserTest, ReportsSubscriptionReplyWithoutRows)
{
    const auto r = parse(R"({"result":null,"id":1})");

    EXPECT_EQ(r.kind, frame_kind::subscription_reply);
    EXPECT_EQ(r.rows_accepted, 0u);
    EXPECT_EQ(r.error, nullptr);
    EXPECT_EQ(sut.counters().frames, 1u);
    EXPECT_EQ(sut.counters().frames_rejected, 0u);
}

TEST_F(FrameParserTest, ReportsWebSocketErrorObjectWithItsMessage)
{
    const auto r = parse(R"({"error":{"code":2,"msg":"Invalid request: unknown stream"},"id":7})");

    EXPECT_EQ(r.kind, frame_kind::exchange_error);
    EXPECT_EQ(r.detail, "Invalid request: unknown stream");
}

TEST_F(FrameParserTest, ParsesRawPayloadArrayAndNamesItsStream)
{
    const auto r = parse(R"([{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"100.5","r":"0.0001","T":2}])");

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(r.stream, "!markPrice@arr");
    EXPECT_EQ(r.rows_accepted, 1u);
}

TEST_F(FrameParserTest, ParsesRawSingleObjectPayloadAndNamesItsStream)
{
    const auto r = parse(R"({"e":"aggTrade","E":5,"a":1,"s":"ETHUSDT","p":"2500","q":"1","f":1,"l":1,"T":4,"m":true})");

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(r.stream, "ethusdt@aggTrade");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_TRUE(records[0].as<vs::schema::AggTrade>()->buyer_is_maker());
}

TEST_F(FrameParserTest, TypesRowsWithoutEventByTheirStream)
{
    const auto r = parse(R"({"stream":"!markPrice@arr@1s","data":[{"E":10,"s":"BTCUSDT","p":"1.5","r":"0.1"}]})");

    EXPECT_EQ(r.rows_accepted, 1u);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].type, static_cast<std::uint16_t>(RecordType::MarkPrice));
    EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->event_time_ms(), 10);
}

TEST_F(FrameParserTest, ReadsDataBeforeStreamWithTheStreamKnown)
{
    const auto r = parse(R"({"data":[{"E":10,"s":"BTCUSDT","c":"2.5"}],"stream":"!ticker@arr"})");

    EXPECT_EQ(r.stream, "!ticker@arr");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].type, static_cast<std::uint16_t>(RecordType::Ticker24h));
    EXPECT_EQ(records[0].as<vs::schema::Ticker24h>()->last_price(), 2.5);
}

TEST_F(FrameParserTest, EventFieldWinsOverTheStreamName)
{
    parse(R"({"stream":"!ticker@arr","data":[{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"3"}]})");

    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].type, static_cast<std::uint16_t>(RecordType::MarkPrice));
}

TEST_F(FrameParserTest, IgnoresUnknownKeysOfEveryShape)
{
    const auto r = parse(R"({"stream":"!markPrice@arr","extra":{"a":[1,2,{"b":null}]},"data":[)"
                         R"({"e":"markPriceUpdate","zz":"x","E":1,"s":"BTCUSDT","nested":{"p":"-1"},)"
                         R"("list":[1,"2"],"p":"100","unknownNumber":1e308,"flag":true,"nothing":null}]})");

    EXPECT_EQ(r.rows_accepted, 1u);
    EXPECT_EQ(r.rows_rejected, 0u);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->mark_price(), 100.0);
}

TEST_F(FrameParserTest, KeepsRowsOfUnknownEventsOutAndCountsThem)
{
    const auto r = parse(R"({"stream":"!miniTicker@arr","data":[{"e":"24hrMiniTicker","E":1,"s":"BTCUSDT","c":"1"},)"
                         R"({"E":1,"s":"ETHUSDT","c":"2"}]})");

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(r.rows_accepted, 0u);
    EXPECT_EQ(r.rows_rejected, 2u);
    EXPECT_STREQ(r.error, "unknown event type");
    EXPECT_EQ(sut.counters().unknown_event_rows, 2u);
    EXPECT_TRUE(records.empty());
}

// ---------------------------------------------------------------------------------------
// Aliases and number forms

struct alias_case {
    const char* key;
    double value;
};

TEST_F(FrameParserTest, AcceptsEveryFundingRateAliasOfTheOldDaemon)
{
    const alias_case cases[] = {{"r", 0.0001},
                                {"R", -0.0002},
                                {"fr", 0.0003},
                                {"lastFundingRate", 0.0004},
                                {"fundingRate", 0.0},
                                {"estimatedSettlePriceRate", -0.0006}};
    for (const auto& c : cases) {
        records.clear();
        const std::string frame = std::string(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":1,)") +
                                  R"("s":"BTCUSDT","p":"100",")" + c.key + R"(":")" + std::to_string(c.value) +
                                  R"("}]})";

        parse(frame);

        ASSERT_EQ(records.size(), 1u) << c.key;
        EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->funding_rate(), std::stod(std::to_string(c.value)))
            << c.key;
    }
}

TEST_F(FrameParserTest, AcceptsEveryMarkPriceAliasOfTheOldDaemon)
{
    const alias_case cases[] = {{"p", 101.5}, {"markPrice", 102.25}, {"c", 103.125}, {"lastPrice", 104.0625}};
    for (const auto& c : cases) {
        records.clear();
        const std::string frame = std::string(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":1,)") +
                                  R"("s":"BTCUSDT","r":"0.0001",")" + c.key + R"(":")" + std::to_string(c.value) +
                                  R"("}]})";

        parse(frame);

        ASSERT_EQ(records.size(), 1u) << c.key;
        EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->mark_price(), c.value) << c.key;
    }
}

TEST_F(FrameParserTest, FallsBackToApForTheMarkPriceWhenNoOtherAliasIsPresent)
{
    parse(R"({"stream":"!markPrice@arr@1s","data":[{"e":"markPriceUpdate","s":"BTCUSDT","ap":"83084.3","st":1}]})");

    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->mark_price(), 83084.3);
}

TEST_F(FrameParserTest, TakesTheFirstAliasInTheOldDaemonsOrder)
{
    parse(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","lastPrice":"4",)"
          R"("c":"3","markPrice":"2","p":"1","fundingRate":"0.2","R":"0.1"}]})");

    ASSERT_EQ(records.size(), 1u);
    const auto* m = records[0].as<vs::schema::MarkPrice>();
    EXPECT_EQ(m->mark_price(), 1.0);
    EXPECT_EQ(m->funding_rate(), 0.1);
}

TEST_F(FrameParserTest, AcceptsNumbersAsJsonNumbersOrStrings)
{
    parse(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":"1791382992684","s":"BTCUSDT",)"
          R"("p":83084.3,"i":"8.31e4","P":83195,"r":-0.00001,"T":"1791388800000","st":"1"}]})");

    ASSERT_EQ(records.size(), 1u);
    const auto* m = records[0].as<vs::schema::MarkPrice>();
    EXPECT_EQ(m->event_time_ms(), 1791382992684);
    EXPECT_EQ(m->mark_price(), 83084.3);
    EXPECT_EQ(m->index_price(), 83100.0);
    EXPECT_EQ(m->estimated_settle_price(), 83195.0);
    EXPECT_EQ(m->funding_rate(), -0.00001);
    EXPECT_EQ(m->next_funding_time_ms(), 1791388800000);
    EXPECT_EQ(m->market(), MarketType::UsdM);
}

TEST_F(FrameParserTest, TreatsEmptyOptionalFieldsAsAbsent)
{
    // Delivery contracts send "r":"" and "T":0.
    parse(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":1,"s":"BTCUSDT_261225","p":"90000",)"
          R"("i":"89000","P":"","r":"","T":0,"st":1}]})");

    ASSERT_EQ(records.size(), 1u);
    const auto* m = records[0].as<vs::schema::MarkPrice>();
    EXPECT_TRUE(std::isnan(m->funding_rate()));
    EXPECT_TRUE(std::isnan(m->estimated_settle_price()));
    EXPECT_EQ(m->next_funding_time_ms(), 0);
}

TEST_F(FrameParserTest, ParsesRestTickerNamesWithoutEventOrStream)
{
    const auto r = parse(R"([{"symbol":"BTCUSDT","priceChange":"-1.5","priceChangePercent":"-0.1",)"
                         R"("weightedAvgPrice":"10","lastPrice":"11","lastQty":"1","openPrice":"9","highPrice":"12",)"
                         R"("lowPrice":"8","volume":"100","quoteVolume":"1000","openTime":1,"closeTime":2,)"
                         R"("firstId":3,"lastId":4,"count":5}])");

    EXPECT_EQ(r.rows_accepted, 1u);
    ASSERT_EQ(records.size(), 1u);
    const auto* t = records[0].as<vs::schema::Ticker24h>();
    EXPECT_EQ(t->price_change(), -1.5);
    EXPECT_EQ(t->last_price(), 11.0);
    EXPECT_EQ(t->quote_volume(), 1000.0);
    EXPECT_EQ(t->trade_count(), 5);
}

TEST_F(FrameParserTest, ConvertsDecimalStringsExactlyLikeFromChars)
{
    std::vector<std::string> texts = {"0.00000001", "0.00019799", "-0.00375000", "83084.30000000", "1.", ".5",
                                      "00012.5", "-0", "0", "9007199254740992", "9007199254740993",
                                      "123456789012345678901234567890", "0.1234567890123456789",
                                      "1234567.8901234567", "4103.92233180", "99999999.99999999", "1e-7", "2.5E+3"};
    std::mt19937_64 rng(7);
    for (int i = 0; i < 3000; ++i) {
        // Binance-like: up to 10 integer digits, up to 12 decimals, sometimes negative.
        std::string t = (rng() % 4 == 0) ? "-" : "";
        t += std::to_string(rng() % 10'000'000'000ull);
        if (const auto decimals = rng() % 13; decimals > 0) {
            t += '.';
            for (std::size_t d = 0; d < decimals; ++d) {
                t += static_cast<char>('0' + rng() % 10);
            }
        }
        texts.push_back(t);
    }
    std::string frame = R"({"stream":"!markPrice@arr","data":[)";
    for (std::size_t i = 0; i < texts.size(); ++i) {
        frame += (i == 0 ? "" : ",") + std::string(R"({"s":"S)") + std::to_string(i) + R"(","p":"1","r":")" +
                 texts[i] + R"("})";
    }
    frame += "]}";

    const auto r = parse(frame);

    ASSERT_EQ(r.rows_accepted, texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
        double expected = 0;
        const auto [ptr, ec] = std::from_chars(texts[i].data(), texts[i].data() + texts[i].size(), expected);
        ASSERT_EQ(ec, std::errc{}) << texts[i];
        const double got = records[i].as<vs::schema::MarkPrice>()->funding_rate();
        EXPECT_EQ(std::memcmp(&got, &expected, sizeof got), 0) << texts[i] << " gave " << got;
    }
}

// ---------------------------------------------------------------------------------------
// Market type

TEST_F(FrameParserTest, MarksStTwoRowsCoinMAndStOneUsdM)
{
    parse(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSD_PERP","p":"1","st":2},)"
          R"({"e":"markPriceUpdate","s":"BTCUSDT","p":"1","st":1},{"e":"markPriceUpdate","s":"X","p":"1","st":7}]})");

    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].market, MarketType::CoinM);
    EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->market(), MarketType::CoinM);
    EXPECT_EQ(records[1].market, MarketType::UsdM);
    EXPECT_EQ(records[2].market, MarketType::Unknown);
    EXPECT_EQ(sut.counters().rows_coin_m, 1u);
}

TEST_F(FrameParserTest, ClassifiesUsdUnderscoreSymbolsWithoutStAsCoinM)
{
    parse(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSD_PERP","p":"1"},)"
          R"({"e":"markPriceUpdate","s":"ETHUSD_250627","p":"1"},{"e":"markPriceUpdate","s":"BTCUSDT_261225","p":"1"},)"
          R"({"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]})");

    ASSERT_EQ(records.size(), 4u);
    EXPECT_EQ(records[0].market, MarketType::CoinM);
    EXPECT_EQ(records[1].market, MarketType::CoinM);
    EXPECT_EQ(records[2].market, MarketType::Unknown);
    EXPECT_EQ(records[3].market, MarketType::Unknown);
}

// ---------------------------------------------------------------------------------------
// Symbols

TEST_F(FrameParserTest, RoundTripsNonAsciiSymbolRawAndEscaped)
{
    parse("{\"stream\":\"!markPrice@arr\",\"data\":[{\"e\":\"markPriceUpdate\",\"s\":\"币安人生USDT\",\"p\":\"0.4762\"},"
          "{\"e\":\"markPriceUpdate\",\"s\":\"\\u5e01\\u5b89\\u4eba\\u751fUSDT\",\"p\":\"0.4763\"}]}");

    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].symbol, "币安人生USDT");
    EXPECT_EQ(records[0].symbol.size(), 16u);
    EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->symbol()->str(), "币安人生USDT");
    EXPECT_EQ(records[1].symbol, "币安人生USDT");
    EXPECT_EQ(records[1].as<vs::schema::MarkPrice>()->mark_price(), 0.4763);
}

TEST_F(FrameParserTest, RejectsFrameWithInvalidUtf8Bytes)
{
    const auto r = parse("{\"stream\":\"!markPrice@arr\",\"data\":[{\"e\":\"markPriceUpdate\",\"s\":\"BT\xC3\x28USDT\",\"p\":\"1\"}]}");

    EXPECT_EQ(r.kind, frame_kind::rejected);
    EXPECT_TRUE(records.empty());
    EXPECT_EQ(sut.counters().frames_rejected, 1u);
}

TEST_F(FrameParserTest, RejectsRowsWithEmptyOverlongOrControlCharacterSymbols)
{
    const auto r = parse(R"({"stream":"!markPrice@arr","data":[)"
                         R"({"e":"markPriceUpdate","s":"","p":"1"},)"
                         R"({"e":"markPriceUpdate","p":"1"},)"
                         R"({"e":"markPriceUpdate","s":"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456","p":"1"},)"
                         R"({"e":"markPriceUpdate","s":"BTC\u0001USDT","p":"1"},)"
                         R"({"e":"markPriceUpdate","s":"BTC/USDT","p":"1"},)"
                         R"({"e":"markPriceUpdate","s":"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345","p":"1"}]})");

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(r.rows_accepted, 1u);
    EXPECT_EQ(r.rows_rejected, 5u);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].symbol.size(), 32u);
    EXPECT_EQ(sut.counters().rows_rejected, 5u);
}

TEST_F(FrameParserTest, HonoursASmallerMaxSymbolBytes)
{
    frame_parser small{parser_options{.max_frame_bytes = 1u << 20, .max_symbol_bytes = 7}};
    std::size_t n = 0;

    const auto r = small.parse(R"({"stream":"!markPrice@arr","data":[{"s":"BTCUSDT","p":"1"},{"s":"ETHUSDTX","p":"1"}]})",
                               0, [&](const parsed_record&) { ++n; });

    EXPECT_EQ(n, 1u);
    EXPECT_EQ(r.rows_rejected, 1u);
    EXPECT_STREQ(r.error, "symbol too long");
}

// ---------------------------------------------------------------------------------------
// Bad input: the row is skipped and counted, its neighbours kept

TEST_F(FrameParserTest, SkipsRowsWithBadPricesAndKeepsTheOthers)
{
    const char* bad_prices[] = {R"("abc")", R"("NaN")", R"("nan")", R"("inf")", R"("-Infinity")", R"("1e999")",
                                R"("-1.5")", R"("0")", R"("0.00000000")", R"("")", R"("1.5x")", R"(" 1.5")",
                                R"(true)", R"([1])", R"({"v":1})", R"(null)", R"(-2)", R"(0)"};
    for (const char* price : bad_prices) {
        records.clear();
        const std::string frame = std::string(R"({"stream":"!markPrice@arr","data":[)") +
                                  R"({"e":"markPriceUpdate","s":"GOODUSDT","p":"1.25"},)" +
                                  R"({"e":"markPriceUpdate","s":"BADUSDT","p":)" + price + "}," +
                                  R"({"e":"markPriceUpdate","s":"ALSOGOODUSDT","p":"2.5"}]})";

        const auto r = parse(frame);

        EXPECT_EQ(r.kind, frame_kind::data) << price;
        EXPECT_EQ(r.rows_accepted, 2u) << price;
        EXPECT_EQ(r.rows_rejected, 1u) << price;
        EXPECT_NE(r.error, nullptr) << price;
        ASSERT_EQ(records.size(), 2u) << price;
        EXPECT_EQ(records[0].symbol, "GOODUSDT");
        EXPECT_EQ(records[1].symbol, "ALSOGOODUSDT");
    }
    EXPECT_EQ(sut.counters().rows_rejected, std::size(bad_prices));
    EXPECT_EQ(sut.counters().rows_accepted, 2 * std::size(bad_prices));
}

// Issue 19: absurd values are rejected like NaN ones, and every rejected row with a usable
// symbol is named to the rejected-row sink (vs-feed lists symbols that stay invalid), on both
// the On-Demand and the DOM path.
TEST_F(FrameParserTest, RejectsAbsurdValuesAndNamesTheSymbolsOfRejectedRows)
{
    std::vector<std::pair<std::string, std::string>> rejected;
    for (const bool on_demand : {true, false}) {
        sut = frame_parser{parser_options{.on_demand = on_demand}};
        sut.on_rejected_row([&](const vs::feed::rejected_row& r) {
            EXPECT_EQ(r.type, static_cast<vs::bus::record_type>(RecordType::MarkPrice));
            rejected.emplace_back(std::string{r.symbol}, r.error != nullptr ? r.error : "");
        });
        rejected.clear();
        records.clear();
        const auto r = parse(R"({"stream":"!markPrice@arr","data":[)"
                             R"({"e":"markPriceUpdate","s":"GOODUSDT","p":"99999.5","r":"-0.02"},)"
                             R"({"e":"markPriceUpdate","s":"BIGUSDT","p":"1e12","r":"0.0001"},)"
                             R"({"e":"markPriceUpdate","s":"RATEUSDT","p":"1.5","r":"Infinity"},)"
                             R"({"e":"markPriceUpdate","s":"NANUSDT","p":"NaN"},)"
                             R"({"e":"markPriceUpdate","s":"","p":"NaN"}]})");
        EXPECT_EQ(r.rows_accepted, 1u) << on_demand;
        EXPECT_EQ(r.rows_rejected, 4u) << on_demand;
        ASSERT_EQ(records.size(), 1u);
        EXPECT_EQ(records[0].symbol, "GOODUSDT");
        ASSERT_EQ(rejected.size(), 3u) << "a row without a usable symbol names none";
        EXPECT_EQ(rejected[0], (std::pair<std::string, std::string>{"BIGUSDT", "mark price is absurd (1e9 or more)"}));
        EXPECT_EQ(rejected[1].first, "RATEUSDT");
        EXPECT_EQ(rejected[1].second, "funding rate is not a finite number");
        EXPECT_EQ(rejected[2],
                  (std::pair<std::string, std::string>{"NANUSDT", "mark price is not a positive finite number"}));
    }
}

TEST_F(FrameParserTest, SkipsRowsWithNonFiniteFundingRateOrBadTimes)
{
    const auto r = parse(R"({"stream":"!markPrice@arr","data":[)"
                         R"({"e":"markPriceUpdate","s":"AUSDT","p":"1","r":"NaN"},)"
                         R"({"e":"markPriceUpdate","s":"BUSDT","p":"1","E":"soon"},)"
                         R"({"e":"markPriceUpdate","s":"CUSDT","p":"1","T":1.5},)"
                         R"({"e":"markPriceUpdate","s":"DUSDT","p":"1","i":"-3"},)"
                         R"({"e":"markPriceUpdate","s":"EUSDT","p":"1","r":"-0.0375"}]})");

    EXPECT_EQ(r.rows_accepted, 1u);
    EXPECT_EQ(r.rows_rejected, 4u);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].symbol, "EUSDT");
}

TEST_F(FrameParserTest, SkipsRowsWithMissingRequiredPrices)
{
    const auto r = parse(R"({"stream":"!ticker@arr","data":[{"e":"24hrTicker","s":"AUSDT","q":"5"},)"
                         R"({"e":"kline","s":"BUSDT","k":{"i":"1m","o":"1","h":"1","l":"1"}},)"
                         R"({"e":"kline","s":"CUSDT"},{"e":"forceOrder","o":{"s":"DUSDT","q":"1"}},)"
                         R"({"e":"aggTrade","s":"EUSDT","q":"1"},{"e":"markPriceUpdate","s":"FUSDT","r":"0.1"}]})");

    EXPECT_EQ(r.rows_accepted, 0u);
    EXPECT_EQ(r.rows_rejected, 6u);
    EXPECT_TRUE(records.empty());
}

TEST_F(FrameParserTest, SkipsRowsWithOverlongTextFields)
{
    const std::string long_text(33, 'X');
    const auto r = parse(R"({"stream":"!ticker@arr","data":[{"e":"24hrTicker","s":"AUSDT","c":"1","ps":")" +
                         long_text + R"("},{"e":"24hrTicker","s":"BUSDT","c":"1","ps":"BUSDT"}]})");

    EXPECT_EQ(r.rows_accepted, 1u);
    EXPECT_EQ(r.rows_rejected, 1u);
    EXPECT_STREQ(r.error, "pair too long or has control characters");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].symbol, "BUSDT");
}

TEST_F(FrameParserTest, SkipsNonObjectRowsOfAnArray)
{
    const auto r = parse(R"({"stream":"!markPrice@arr","data":[42,"x",null,[],{"s":"BTCUSDT","p":"1"}]})");

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(r.rows_accepted, 1u);
    EXPECT_EQ(r.rows_rejected, 4u);
}

TEST_F(FrameParserTest, RejectsMalformedJsonWholeAndCountsIt)
{
    const char* frames[] = {
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"},]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":NaN}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]} trailing)",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTC\ud800USDT","p":"1"}]})",
        "",
        "   ",
        "{",
        R"({"stream":"x",)",
    };
    for (const char* f : frames) {
        const auto r = parse(f);

        EXPECT_EQ(r.kind, frame_kind::rejected) << f;
        EXPECT_STREQ(r.error, "malformed JSON") << f;
    }
    EXPECT_TRUE(records.empty());
    EXPECT_EQ(sut.counters().frames, std::size(frames));
    EXPECT_EQ(sut.counters().frames_rejected, std::size(frames));
}

TEST_F(FrameParserTest, RejectsUnexpectedShapes)
{
    const char* frames[] = {R"({"stream":"x","data":42})", R"({"stream":"!markPrice@arr","data":"text"})",
                            R"({"stream":"!markPrice@arr","data":null})", "42", R"("text")", "null", "{}",
                            R"({"foo":"bar"})"};
    for (const char* f : frames) {
        const auto r = parse(f);

        EXPECT_EQ(r.kind, frame_kind::rejected) << f;
        EXPECT_NE(r.error, nullptr) << f;
    }
    EXPECT_EQ(sut.counters().frames_rejected, std::size(frames));
}

TEST_F(FrameParserTest, RejectsOversizedFrameWholeAndCountsIt)
{
    frame_parser small{parser_options{.max_frame_bytes = 64, .max_symbol_bytes = 32}};
    const std::string big = R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]})";
    ASSERT_GT(big.size(), 64u);
    std::size_t n = 0;

    const auto r = small.parse(big, 0, [&](const parsed_record&) { ++n; });

    EXPECT_EQ(r.kind, frame_kind::rejected);
    EXPECT_STREQ(r.error, "frame larger than max_frame_bytes");
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(small.counters().oversized_frames, 1u);
    EXPECT_EQ(small.counters().frames_rejected, 1u);
}

TEST_F(FrameParserTest, KeepsWorkingAfterABadFrame)
{
    parse("{\"broken");
    const auto r = parse(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]})");

    EXPECT_EQ(r.kind, frame_kind::data);
    EXPECT_EQ(records.size(), 1u);
    EXPECT_EQ(sut.counters().frames, 2u);
    EXPECT_EQ(sut.counters().frames_rejected, 1u);
}

// ---------------------------------------------------------------------------------------
// Records on a real bus channel

TEST_F(FrameParserTest, RecordsOfEveryTypePublishVerifyAndDecodeThroughARealBusChannel)
{
    vs::test::test_env env;
    vs::bus::channel_config config;
    config.prefix = env.prefix();
    config.name = "market";
    config.ring_bytes = 1u << 20;
    config.table_slots = 64;
    vs::bus::writer writer(config);
    const char* frames[] = {
        "{\"stream\":\"!markPrice@arr@1s\",\"data\":[{\"e\":\"markPriceUpdate\",\"E\":1791382992684,"
        "\"s\":\"币安人生USDT\",\"p\":\"0.47620000\",\"ap\":\"0.47620000\",\"P\":\"\",\"i\":\"0.47561174\","
        "\"r\":\"0.00005000\",\"T\":1791388800000,\"st\":1}]}",
        R"({"stream":"!ticker@arr","data":[{"e":"24hrTicker","E":1,"s":"BTCUSD_PERP","ps":"BTCUSD","p":"-3074.5",)"
        R"("c":"83050.5","q":"11573.7","st":2}]})",
        R"({"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":2,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT",)"
        R"("f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":2}}})",
        R"({"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":3,"a":7,"s":"BTCUSDT","p":"83091.70","q":"0.022",)"
        R"("f":1,"l":2,"T":3,"m":false,"st":1}})",
        R"({"stream":"btcusdt@kline_1m","data":{"e":"kline","E":4,"s":"BTCUSDT","k":{"t":1,"T":2,"s":"BTCUSDT",)"
        R"("i":"1m","o":"1","c":"2","h":"3","l":"0.5","v":"13.5","n":10,"x":true,"q":"11","V":"6","Q":"5"}}})",
    };
    std::vector<std::uint16_t> types;
    for (const char* f : frames) {
        const auto r = sut.parse(f, recv_ns, [&](const parsed_record& rec) {
            EXPECT_TRUE(vs::bus::verify_record(rec.type, rec.bytes)) << rec.symbol;
            EXPECT_EQ(vs::bus::record_symbol(rec.bytes), rec.symbol);
            EXPECT_EQ(writer.publish(rec.type, rec.symbol, rec.bytes, recv_ns), vs::bus::publish_status::ok)
                << rec.symbol;
            types.push_back(rec.type);
        });
        ASSERT_EQ(r.rows_accepted, 1u) << f;
    }
    writer.notify();
    ASSERT_EQ(types.size(), 5u);

    vs::bus::reader reader(config);
    for (int i = 0; i < 100 && reader.attach() != vs::bus::attach_state::ready; ++i) {
    }
    ASSERT_EQ(reader.state(), vs::bus::attach_state::ready) << reader.error();
    vs::bus::json_decoder decoder;
    std::vector<std::string> json;
    const auto n = reader.for_each_latest(0, [&](const vs::bus::record_view& v) {
        const auto text = decoder.decode(v.type, v.data);
        ASSERT_TRUE(text.has_value()) << "type " << v.type;
        json.push_back(*text);
    });
    EXPECT_EQ(n, 5u);
    std::string all;
    for (const auto& j : json) {
        all += j + "\n";
        simdjson::dom::parser strict;
        simdjson::dom::element e;
        EXPECT_EQ(strict.parse(j).get(e), simdjson::SUCCESS) << "not strict JSON: " << j;
    }
    EXPECT_NE(all.find("币安人生USDT"), std::string::npos) << all;
    EXPECT_EQ(all.find("nan"), std::string::npos) << "absent prices must be left out: " << all;
    EXPECT_EQ(all.find("estimated_settle_price"), std::string::npos) << all;
    const auto got = reader.latest(static_cast<vs::bus::record_type>(RecordType::MarkPrice), "币安人生USDT",
                                   [&](const vs::bus::record_view& v) {
                                       const auto* m = vs::bus::record_as<vs::schema::MarkPrice>(v.data);
                                       EXPECT_EQ(m->mark_price(), 0.4762);
                                       EXPECT_EQ(m->index_price(), 0.47561174);
                                       EXPECT_TRUE(std::isnan(m->estimated_settle_price()));
                                       EXPECT_EQ(m->market(), MarketType::UsdM);
                                   });
    EXPECT_EQ(got, vs::bus::read_status::ok);
}

// ---------------------------------------------------------------------------------------
// Resources and robustness

std::string mark_price_frame(std::size_t rows)
{
    std::string f = R"({"stream":"!markPrice@arr@1s","data":[)";
    for (std::size_t i = 0; i < rows; ++i) {
        if (i != 0) {
            f += ',';
        }
        f += R"({"e":"markPriceUpdate","E":1791382992684,"s":"SYM)" + std::to_string(i) +
             R"(USDT","p":"4103.92233180","ap":"4103.92233180","P":"4098.72755326","i":"4100.14187735",)"
             R"("r":"0.00019799","T":1791388800000,"st":1})";
    }
    return f + "]}";
}

TEST_F(FrameParserTest, DoesNotAllocateInSteadyState)
{
    if (!VS_COUNT_ALLOCATIONS) {
        GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
    }
    const std::string frame = mark_price_frame(650);
    std::size_t rows = 0;
    const auto sink = [&](const parsed_record& r) { rows += r.bytes.empty() ? 0 : 1; };
    sut.parse(frame, recv_ns, sink);  // grows the buffers

    g_allocations = 0;
    g_count_allocations = true;
    for (int i = 0; i < 5; ++i) {
        sut.parse(frame, recv_ns, sink);
    }
    g_count_allocations = false;

    EXPECT_EQ(g_allocations, 0u);
    EXPECT_EQ(rows, 6u * 650u);
}

// Issue 18: the funding interval is not in the frames; vs-feed hands the parser a table
// (REST fundingInfo + exchangeInfo) and every MarkPrice built carries its symbol's entry.
TEST_F(FrameParserTest, MarkPriceCarriesTheFundingIntervalOfTheTable)
{
    const std::string frame = mark_price_frame(3);   // SYM0USDT, SYM1USDT, SYM2USDT
    parse(frame);
    ASSERT_EQ(records.size(), 3u);
    for (const auto& r : records) {
        EXPECT_EQ(r.as<vs::schema::MarkPrice>()->funding_interval_hours(), 0) << r.symbol << ": no table yet";
    }

    auto table = std::make_shared<vs::feed::funding_interval_map>();
    table->emplace("SYM0USDT", 4);
    table->emplace("SYM1USDT", 8);
    sut.set_funding_intervals(table);
    records.clear();
    parse(frame);
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->funding_interval_hours(), 4);
    EXPECT_EQ(records[1].as<vs::schema::MarkPrice>()->funding_interval_hours(), 8);
    EXPECT_EQ(records[2].as<vs::schema::MarkPrice>()->funding_interval_hours(), 0) << "not in the table: unknown";
    for (const auto& r : records) {
        EXPECT_TRUE(verifies(r)) << r.symbol;
    }

    // The DOM path (a shape On-Demand leaves to it) fills it the same way.
    records.clear();
    parse(R"({"e":"markPriceUpdate","E":1,"s":"SYM0USDT","p":"1.5","r":"0.0001","T":2,"extra":{"x":[1]}})");
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->funding_interval_hours(), 4);

    // The table is the parser's own copy: the caller may drop it; a new one replaces it.
    table.reset();
    auto next = std::make_shared<vs::feed::funding_interval_map>();
    next->emplace("SYM2USDT", 1);
    sut.set_funding_intervals(std::move(next));
    records.clear();
    parse(frame);
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].as<vs::schema::MarkPrice>()->funding_interval_hours(), 0);
    EXPECT_EQ(records[2].as<vs::schema::MarkPrice>()->funding_interval_hours(), 1);

    sut.set_funding_intervals(nullptr);
    records.clear();
    parse(frame);
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[2].as<vs::schema::MarkPrice>()->funding_interval_hours(), 0);
}

TEST_F(FrameParserTest, FundingIntervalLookupDoesNotAllocate)
{
    if (!VS_COUNT_ALLOCATIONS) {
        GTEST_SKIP() << "allocation counting is off under AddressSanitizer";
    }
    auto table = std::make_shared<vs::feed::funding_interval_map>();
    for (int i = 0; i < 650; i += 2) {
        table->emplace("SYM" + std::to_string(i) + "USDT", 4);
    }
    sut.set_funding_intervals(table);
    const std::string frame = mark_price_frame(650);
    std::size_t four = 0;
    const auto sink = [&](const parsed_record& r) {
        four += vs::bus::record_as<vs::schema::MarkPrice>(r.bytes)->funding_interval_hours() == 4;
    };
    sut.parse(frame, recv_ns, sink);  // grows the buffers
    g_allocations = 0;
    g_count_allocations = true;
    for (int i = 0; i < 5; ++i) {
        sut.parse(frame, recv_ns, sink);
    }
    g_count_allocations = false;
    EXPECT_EQ(g_allocations, 0u);
    EXPECT_EQ(four, 6u * 325u);
}

TEST_F(FrameParserTest, SurvivesOneHundredThousandRandomMutationsOfRealFrames)
{
    std::vector<std::string> seeds = {
        mark_price_frame(3),
        R"({"stream":"!ticker@arr","data":[{"e":"24hrTicker","E":1,"s":"BTCUSD_PERP","ps":"BTCUSD","p":"-3074.5",)"
        R"("P":"-3.570","w":"84473.2","c":"83050.5","Q":"118","o":"86125.0","h":"86650.0","l":"82691.4",)"
        R"("v":"9776718","q":"11573.7","O":1,"C":2,"F":3,"L":4,"n":5,"st":2}]})",
        R"({"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.014",)"
        R"("p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}})",
        R"({"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":1,"T":2,"s":"BTCUSDT",)"
        R"("i":"1m","f":1,"L":2,"o":"1","c":"2","h":"3","l":"0.5","v":"13.5","n":10,"x":false,"q":"11","V":"6",)"
        R"("Q":"5","B":"0"}}})",
        R"({"result":null,"id":1})",
        "{\"stream\":\"!markPrice@arr\",\"data\":[{\"e\":\"markPriceUpdate\",\"s\":\"币安人生USDT\",\"p\":\"0.47\"}]}",
    };
    for (const char* name : {"ws_markPrice_arr_1s_envelope_trimmed2_2026-10-07.json",
                             "ws_ticker_arr_envelope_trimmed2_with_coinm_row_2026-10-07.json",
                             "ws_aggTrade_btcusdt_envelope_2026-10-07.json",
                             "ws_kline_1m_btcusdt_envelope_2026-10-07.json"}) {
        if (const auto p = sample(name); !p.empty()) {
            seeds.push_back(read_file(p));
        }
    }
    const char interesting[] = {'{', '}', '[', ']', '"', ':', ',', '\\', '-', '.', 'e', 'E', '0', '9', 'n', 'u',
                                '\x00', '\x7f', '\x80', '\xc3', '\xe5', '\xff', ' ', 'x'};
    std::mt19937_64 rng(20261121);
    constexpr int iterations = 100'000;
    std::size_t accepted = 0;
    std::size_t bad_records = 0;
    std::string frame;

    for (int i = 0; i < iterations; ++i) {
        frame = seeds[rng() % seeds.size()];
        vs::test::mutate_frame(frame, rng, 4, std::string_view(interesting, sizeof(interesting)));
        const auto r = sut.parse(frame, i, [&](const parsed_record& rec) {
            captured c;
            c.type = rec.type;
            const auto* p = reinterpret_cast<const std::uint8_t*>(rec.bytes.data());
            c.bytes.assign(p, p + rec.bytes.size());
            bad_records += verifies(c) && !rec.symbol.empty() ? 0 : 1;
        });
        accepted += r.rows_accepted;
    }

    EXPECT_EQ(sut.counters().frames, static_cast<std::uint64_t>(iterations));
    EXPECT_EQ(sut.counters().rows_accepted, accepted);
    EXPECT_EQ(bad_records, 0u);
    EXPECT_GT(accepted, 0u);
    EXPECT_GT(sut.counters().frames_rejected, 0u);
}

TEST_F(FrameParserTest, SurvivesRandomValueSubstitutionsInValidFrames)
{
    // Mostly valid JSON with hostile values, so that row validation (not the JSON parser) is
    // what gets exercised.
    const std::string seed = mark_price_frame(4) + "";
    const std::string seeds[] = {
        seed,
        R"({"stream":"!ticker@arr","data":[{"e":"24hrTicker","E":1,"s":"BTCUSD_PERP","ps":"BTCUSD","p":"-3074.5",)"
        R"("P":"-3.570","w":"84473.2","c":"83050.5","Q":"118","o":"86125.0","h":"86650.0","l":"82691.4",)"
        R"("v":"9776718","q":"11573.7","O":1,"C":2,"F":3,"L":4,"n":5,"st":2}]})",
        R"({"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL",)"
        R"("o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1}}})",
        R"({"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":1,"T":2,"s":"BTCUSDT",)"
        R"("i":"1m","o":"1","c":"2","h":"3","l":"0.5","v":"13.5","n":10,"x":false,"q":"11","V":"6","Q":"5"}}})",
        R"({"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":3,"a":7,"s":"BTCUSDT","p":"83091.70","q":"0.022",)"
        R"("f":1,"l":2,"T":3,"m":false,"st":1}})",
    };
    const char* values[] = {"-1", "0", "\"\"", "null", "true", "{}", "[]", "\"NaN\"", "\"inf\"", "1e999",
                            "-9223372036854775809", "18446744073709551616", "\"\\u0000\"", "\"币安人生USDT\"",
                            "\"0.00000001\"", "\"1e-300\"", "\"-0\"", "{\"s\":\"X\"}", "[{\"p\":\"1\"}]",
                            "\"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\"", "12.5", "\"markPriceUpdate\"", "\"kline\"",
                            "\"\\ud83d\\ude00\"", "1.0e2"};
    std::mt19937_64 rng(42);
    constexpr int iterations = 20'000;
    std::size_t accepted = 0;
    std::size_t bad = 0;
    vs::bus::json_decoder decoder;
    simdjson::dom::parser strict;
    std::string frame;
    for (int i = 0; i < iterations; ++i) {
        frame = seeds[rng() % std::size(seeds)];
        for (int edit = 0, edits = 1 + static_cast<int>(rng() % 3); edit < edits; ++edit) {
            // Replace the value after a random ':' up to the next ',' or '}' (never past the end).
            const std::size_t colon = frame.find(':', rng() % frame.size());
            if (colon == std::string::npos) {
                continue;
            }
            std::size_t end = colon + 1;
            if (frame[end] != '{' && frame[end] != '[') {
                while (end < frame.size() && frame[end] != ',' && frame[end] != '}') {
                    ++end;
                }
            } else {
                end += 1;  // a nested object/array: replacing its opening bracket breaks JSON; fine too
            }
            frame.replace(colon + 1, end - colon - 1, values[rng() % std::size(values)]);
        }
        const auto r = sut.parse(frame, i, [&](const parsed_record& rec) {
            const auto text = decoder.decode(rec.type, rec.bytes);
            simdjson::dom::element e;
            if (!vs::bus::verify_record(rec.type, rec.bytes) || !text || strict.parse(*text).get(e) != simdjson::SUCCESS ||
                vs::bus::record_symbol(rec.bytes) != rec.symbol) {
                if (++bad <= 3) {
                    ADD_FAILURE() << "bad record from " << frame << "\n  json: " << text.value_or("(none)");
                }
            }
        });
        accepted += r.rows_accepted;
    }

    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(sut.counters().frames, static_cast<std::uint64_t>(iterations));
    EXPECT_EQ(sut.counters().rows_accepted, accepted);
    EXPECT_GT(accepted, static_cast<std::size_t>(iterations) / 10);
    EXPECT_GT(sut.counters().rows_rejected, static_cast<std::uint64_t>(iterations) / 10);
}


}  // namespace
