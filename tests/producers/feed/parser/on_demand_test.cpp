// The frame parser's two paths (parser.hpp): simdjson On-Demand for the usual shapes, the DOM
// for everything else. Whatever a frame holds, a parser with on_demand = true must give
// exactly what the DOM-only parser gives: the same frame_result, the same counters (but
// frames_on_demand), and the same records, byte for byte, in the same order. These tests
// hold the two to that on the shared Binance samples, on every odd shape we could think of,
// and on random mutations of real frames; and check that the usual frames do take the fast
// path (else the benchmark would measure the wrong thing).
#include "vs/feed/parser.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "frame_mutation.hpp"

namespace {

using vs::feed::frame_kind;
using vs::feed::frame_parser;
using vs::feed::frame_result;
using vs::feed::parsed_record;
using vs::feed::parser_options;

const std::filesystem::path samples_dir{VS_BINANCE_SAMPLES_DIR};

/// Everything one parse() produced, copied out of the parser's views.
struct outcome {
    frame_kind kind = frame_kind::rejected;
    std::string stream;
    std::size_t rows_accepted = 0;
    std::size_t rows_rejected = 0;
    std::string error;
    std::string detail;
    std::vector<std::string> records;   // type | market | symbol | bytes, one string each

    bool operator==(const outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const outcome& o)
{
    os << to_string(o.kind) << " stream='" << o.stream << "' accepted=" << o.rows_accepted
       << " rejected=" << o.rows_rejected << " error='" << o.error << "' detail='" << o.detail << "' records="
       << o.records.size();
    return os;
}

outcome run(frame_parser& p, std::string_view frame, bool in_place)
{
    outcome o;
    const auto sink = [&](const parsed_record& r) {
        std::string rec;
        rec.append(reinterpret_cast<const char*>(&r.type), sizeof r.type);
        rec.push_back(static_cast<char>(r.market));
        rec.append(r.symbol);
        rec.push_back('|');
        rec.append(reinterpret_cast<const char*>(r.bytes.data()), r.bytes.size());
        o.records.push_back(std::move(rec));
    };
    frame_result r;
    std::vector<char> padded;
    if (in_place) {
        // As vs-feed calls it: the frame followed by frame_padding readable bytes (junk).
        padded.assign(frame.begin(), frame.end());
        padded.resize(frame.size() + vs::feed::frame_padding, '"');
        r = p.parse_in_place(std::string_view(padded.data(), frame.size()), 1'791'382'993'000'000'000, sink);
    } else {
        r = p.parse(frame, 1'791'382'993'000'000'000, sink);
    }
    o.kind = r.kind;
    o.stream = std::string(r.stream);
    o.rows_accepted = r.rows_accepted;
    o.rows_rejected = r.rows_rejected;
    o.error = r.error != nullptr ? r.error : "";
    o.detail = std::string(r.detail);
    return o;
}

class OnDemandTest : public ::testing::Test {
protected:
    OnDemandTest() : fast_(options(true)), dom_(options(false)) {}

    static parser_options options(bool on_demand)
    {
        parser_options o;
        o.on_demand = on_demand;
        o.max_frame_bytes = 1 << 20;
        return o;
    }

    /// Parses `frame` with both parsers (and in place with the fast one) and expects the
    /// same outcome. Returns whether the fast parser took the On-Demand path.
    bool same(std::string_view frame)
    {
        const auto before = fast_.counters().frames_on_demand;
        const outcome a = run(fast_, frame, (++calls_ % 2) == 0);
        const bool took_fast_path = fast_.counters().frames_on_demand != before;
        const outcome b = run(dom_, frame, false);
        EXPECT_EQ(a, b) << "frame: " << frame.substr(0, 300);
        const auto& ca = fast_.counters();
        const auto& cb = dom_.counters();
        EXPECT_EQ(ca.frames, cb.frames);
        EXPECT_EQ(ca.frames_rejected, cb.frames_rejected);
        EXPECT_EQ(ca.rows_accepted, cb.rows_accepted);
        EXPECT_EQ(ca.rows_rejected, cb.rows_rejected);
        EXPECT_EQ(ca.rows_coin_m, cb.rows_coin_m);
        EXPECT_EQ(ca.oversized_frames, cb.oversized_frames);
        EXPECT_EQ(ca.unknown_event_rows, cb.unknown_event_rows);
        EXPECT_EQ(cb.frames_on_demand, 0u);
        return took_fast_path;
    }

    static std::string read_file(const std::filesystem::path& p)
    {
        std::ifstream in(p, std::ios::binary);
        std::ostringstream s;
        s << in.rdbuf();
        return s.str();
    }

    /// The shared samples' frames (files and JSON-lines), empty when they are not here.
    static std::vector<std::string> samples()
    {
        std::vector<std::string> frames;
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(samples_dir, ec)) {
            const auto name = e.path().filename().string();
            if (name.ends_with(".json")) {
                frames.push_back(read_file(e.path()));
            } else if (name.ends_with(".jsonl")) {
                std::ifstream in(e.path(), std::ios::binary);
                for (std::string line; std::getline(in, line);) {
                    if (!line.empty()) {
                        frames.push_back(line);
                    }
                }
            }
        }
        return frames;
    }

    static std::string mark_price_row(int i)
    {
        return R"({"e":"markPriceUpdate","E":179138299268)" + std::to_string(i % 10) + R"(,"s":"SYM)" +
               std::to_string(i) + R"(USDT","p":"4103.92233180","ap":"4103.92233180","P":"4098.72755326",)"
               R"("i":"4100.14187735","r":"-0.00019799","T":1791388800000,"st":1})";
    }

    static std::string mark_price_frame(int rows)
    {
        std::string f = R"({"stream":"!markPrice@arr@1s","data":[)";
        for (int i = 0; i < rows; ++i) {
            f += (i == 0 ? "" : ",") + mark_price_row(i);
        }
        return f + "]}";
    }

    frame_parser fast_;
    frame_parser dom_;
    int calls_ = 0;
};

TEST_F(OnDemandTest, UsualFramesTakeTheOnDemandPathAndGiveTheDomRecords)
{
    EXPECT_TRUE(same(mark_price_frame(650)));
    // A raw array (/market/ws/!markPrice@arr), an envelope with one object, a COIN-M row.
    EXPECT_TRUE(same("[" + mark_price_row(1) + "," + mark_price_row(2) + "]"));
    EXPECT_TRUE(same(R"({"stream":"btcusdt@markPrice","data":)" + mark_price_row(7) + "}"));
    EXPECT_TRUE(same(R"({"stream":"!ticker@arr","data":[{"e":"24hrTicker","E":1,"s":"BTCUSD_PERP","ps":"BTCUSD",)"
                     R"("p":"-3074.5","P":"-3.570","w":"84473.2","c":"83050.5","Q":"118","o":"86125.0",)"
                     R"("h":"86650.0","l":"82691.4","v":"9776718","q":"11573.7","O":1,"C":2,"F":3,"L":4,)"
                     R"("n":5,"st":2}]})"));
    // Nested "o" (forceOrder) and "k" (kline) objects, booleans and nulls.
    EXPECT_TRUE(same(R"({"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT",)"
                     R"("S":"SELL","o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED",)"
                     R"("l":"0.014","z":"0.014","T":1568014460893}}})"));
    EXPECT_TRUE(same(R"({"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":1,"T":2,)"
                     R"("s":"BTCUSDT","i":"1m","f":1,"L":2,"o":"1","c":"2","h":"3","l":"0.5","v":"13.5","n":10,)"
                     R"("x":false,"q":"11","V":"6","Q":"5","B":null}}})"));
    // Bad rows are counted alike on both paths, and the frame still takes the fast one.
    EXPECT_TRUE(same(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"A","p":"-1"},)"
                     R"({"e":"nope","s":"B","p":"1"},{"e":"markPriceUpdate","s":"","p":"1"},)" +
                     mark_price_row(3) + "]}"));
    // Escapes (a frame with a backslash anywhere checks each string).
    EXPECT_TRUE(same(R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTC\u0055SDT","p":"1.5"}]})"));
    EXPECT_TRUE(same(R"({"stream":"!markPrice@arr","data":[{"e":"markPrice\u0055pdate","\u0073":"X\\Y","p":"1"}]})"));
    EXPECT_EQ(fast_.counters().frames_on_demand, 9u);
}

TEST_F(OnDemandTest, OtherShapesGoToTheDomPathWithTheSameOutcome)
{
    const std::vector<std::string> frames = {
        // Shapes the fast path leaves to the DOM.
        R"({"data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}],"stream":"!markPrice@arr"})",
        R"({"stream":"!markPrice@arr","extra":1,"data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]})",
        R"({"stream":"!markPrice@arr","data":[1,{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","x":[1,{"a":2}]}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":{"v":1}}]})",
        R"({"stream":7,"data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]})",
        R"({"stream":"!markPrice@arr","data":"x"})",
        R"({"stream":"!markPrice@arr"})",
        R"({"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"2"})",
        R"({"symbol":"BTCUSDT","markPrice":"3","lastFundingRate":"0.0001","time":1})",
        R"({"result":null,"id":1})",
        R"({"code":-1121,"msg":"Invalid symbol."})",
        R"({"error":{"code":2,"msg":"Invalid request"},"id":1})",
        // Malformed in ways On-Demand alone might not see: both must reject the frame whole.
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]} x)",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]}{"a":1})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}]}])",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}])",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1",}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","q":tru}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","q":nul}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","q":01}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","q":1.}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","q":-}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","q":1e999}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","q":"\q"}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1","q":"\ud800"}]})",
        "{\"stream\":\"!markPrice@arr\",\"data\":[{\"e\":\"markPriceUpdate\",\"s\":\"BTC\x01USDT\",\"p\":\"1\"}]}",
        "{\"stream\":\"!markPrice@arr\",\"data\":[{\"e\":\"markPriceUpdate\",\"s\":\"BTC\xffUSDT\",\"p\":\"1\"}]}",
        "{\"stream\":\"!markPrice@arr\",\"data\":[{\"e\":\"markPriceUpdate\",\"s\":\"BTCUSDT\",\"p\":\"1\"}]}\x00",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1)",
        R"([{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}] [])",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate" "s":"BTCUSDT","p":"1"}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"},]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}}})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate",1:"BTCUSDT","p":"1"}]})",
        // Scalars at the root, nothing, whitespace.
        "", " ", "\n\t ", "null", "true", "1", R"("text")", "[]", "{}", "[[]]",
        // Numbers at the edges of int64, uint64 and double, in every field the builder reads.
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":9223372036854775807,"s":"A","p":"1"},)"
        R"({"e":"markPriceUpdate","E":9223372036854775808,"s":"B","p":"1"},)"
        R"({"e":"markPriceUpdate","E":18446744073709551616,"s":"C","p":"1"},)"
        R"({"e":"markPriceUpdate","E":-9223372036854775808,"s":"D","p":1e308},)"
        R"({"e":"markPriceUpdate","E":1.5,"s":"E","p":-0.0},)"
        R"({"e":"markPriceUpdate","E":0,"T":1E3,"s":"F","p":0.1e-3,"r":-0,"st":2}]})",
        // Duplicate keys: the last one wins on both paths.
        R"({"stream":"!markPrice@arr","stream":"!ticker@arr","data":[{"e":"markPriceUpdate","s":"A","p":"1","p":"2"}]})",
        R"({"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","s":"A","p":"1"}],"data":[]})",
        // Whitespace everywhere.
        " { \"stream\" : \"!markPrice@arr\" , \"data\" : [ { \"e\" : \"markPriceUpdate\" , \"s\" : \"A\" , "
        "\"p\" : \"1.5\" , \"E\" : 12 , \"x\" : true } ] } \n",
    };
    for (const auto& f : frames) {
        same(f);
    }
}

TEST_F(OnDemandTest, EverySharedSampleGivesTheSameOutcome)
{
    const auto frames = samples();
    if (frames.empty()) {
        GTEST_SKIP() << "shared samples not found at " << samples_dir;
    }
    std::size_t fast = 0;
    for (const auto& f : frames) {
        fast += same(f) ? 1 : 0;
    }
    // The WebSocket samples (envelopes and raw arrays) are the fast path's; REST replies and
    // error payloads are the DOM's.
    EXPECT_GT(fast, frames.size() / 2) << fast << " of " << frames.size() << " frames took the On-Demand path";
}

TEST_F(OnDemandTest, RandomMutationsOfRealFramesGiveTheSameOutcome)
{
    std::vector<std::string> seeds = {
        mark_price_frame(4),
        "[" + mark_price_row(1) + "," + mark_price_row(2) + "]",
        R"({"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":1,"T":2,"s":"BTCUSDT",)"
        R"("i":"1m","f":1,"L":2,"o":"1","c":"2","h":"3","l":"0.5","v":"13.5","n":10,"x":false,"q":"11","V":"6",)"
        R"("Q":"5","B":"0"}}})",
        R"({"stream":"!forceOrder@arr","data":{"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL",)"
        R"("o":"LIMIT","f":"IOC","q":"0.014","p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014",)"
        R"("T":1568014460893}}})",
        "{\"stream\":\"!markPrice@arr\",\"data\":[{\"e\":\"markPriceUpdate\",\"s\":\"币安人生USDT\",\"p\":\"0.47\"}]}",
    };
    for (auto& f : samples()) {
        if (f.size() < 4096) {
            seeds.push_back(std::move(f));
        }
    }
    const char interesting[] = {'{', '}', '[', ']', '"', ':', ',', '\\', '-', '.', 'e', 'E', '0', '9', 'n', 'u',
                                't', '\x00', '\x01', '\x7f', '\x80', '\xc3', '\xe5', '\xff', ' ', 'x'};
    std::mt19937_64 rng(20261121);
    // VS_ON_DEMAND_MUTATIONS raises the count for a long local run (scripts/test.sh uses the default).
    const char* env = std::getenv("VS_ON_DEMAND_MUTATIONS");
    const int iterations = env != nullptr ? std::max(1, std::atoi(env)) : 30'000;
    std::size_t fast = 0;
    std::string frame;
    for (int i = 0; i < iterations && !HasFailure(); ++i) {
        frame = seeds[rng() % seeds.size()];
        vs::test::mutate_frame(frame, rng, 3, std::string_view(interesting, sizeof(interesting)));
        fast += same(frame) ? 1 : 0;
    }
    // Many mutations keep the frame valid (a changed digit, a changed letter): the fast path
    // must see a good share of them, or this test would only compare the DOM with itself.
    EXPECT_GT(fast, static_cast<std::size_t>(iterations / 20));
    RecordProperty("on_demand_frames", static_cast<int>(fast));
    std::printf("%zu of %d mutated frames took the On-Demand path\n", fast, iterations);
}

}  // namespace
