// vs-replay's stand-in of the backend and of the Telegram Bot API (vs/replay/receiver.hpp):
// the answers of CONTRACTS.md section 1 (auth, statuses, user-alert life cycle), the record
// of everything received, and the same over HTTP through the server (headers and bodies).
#include "vs/replay/receiver.hpp"
#include "vs/replay/server.hpp"

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace {

using vs::replay::parse_target;
using vs::replay::received_request;
using vs::replay::receiver;

constexpr std::int64_t now_ms = 1'796'400'000'000;   // 2026-12-04T16:00:00Z

received_request post(std::string body, std::string key = "k1", std::string idem = {})
{
    return received_request{"POST", std::move(key), std::move(idem), std::move(body)};
}

boost::json::value json(const std::string& s) { return boost::json::parse(s); }

boost::json::array received(receiver& r, const std::string& query = "since=0")
{
    auto rep = r.control("received", parse_target("/_control/received?" + query), false, now_ms);
    EXPECT_EQ(rep.status, 200u) << rep.body;
    return json(rep.body).at("received").as_array();
}

constexpr const char* volume_body =
    R"({"symbol":"SOLUSDT","asset":"SOL","currentVolume":4e7,"previousVolume":1e7,"volumeRatio":4,)"
    R"("price":150.5,"fundingRate":0.0001,"candleDirection":"bullish","message":"SOL hourly volume",)"
    R"("timestamp":"2026-12-04T16:00:00Z","detectionTime":"2026-12-04T16:00:00Z",)"
    R"("hourTimestamp":"2026-12-04T16:00:00Z","isUpdate":false,"alertType":"SPIKE"})";

}  // namespace

TEST(ReplayReceiver, BackendIngestAnswersAndChecksTheKey)
{
    receiver r{{"k1", "123:ABC"}};
    auto rep = r.handle(parse_target("/api/volume-alerts/ingest"), post(volume_body, "k1", "0001:prod"), now_ms);
    ASSERT_EQ(rep.status, 200u) << rep.body;
    EXPECT_EQ(json(rep.body).at("success"), true);
    EXPECT_TRUE(json(rep.body).as_object().contains("alertId"));
    // Wrong key: 401 {"error":"Unauthorized"}; bad JSON: 500; null optional number: 400.
    rep = r.handle(parse_target("/api/volume-alerts/ingest"), post(volume_body, "nope"), now_ms);
    EXPECT_EQ(rep.status, 401u);
    EXPECT_EQ(json(rep.body).at("error"), "Unauthorized");
    EXPECT_EQ(r.handle(parse_target("/api/volume-alerts/ingest"), post("{not json"), now_ms).status, 500u);
    std::string with_null = volume_body;
    with_null.replace(with_null.find("\"price\":150.5"), 13, "\"price\":null");
    EXPECT_EQ(r.handle(parse_target("/api/volume-alerts/ingest"), post(with_null), now_ms).status, 400u);
    std::string offset_ts = volume_body;
    offset_ts.replace(offset_ts.find("16:00:00Z\",\"detection"), 9, "16:00:00+00:00");
    EXPECT_EQ(r.handle(parse_target("/api/volume-alerts/ingest"), post(offset_ts), now_ms).status, 400u);

    // OI alert: 400 without baseline, 500 for a direction other than UP/DOWN.
    const std::string oi = R"({"symbol":"DOGEUSDT","direction":"UP","baseline":1e6,"current":1.05e6,"pctChange":0.05,)"
                           R"("absChange":50000,"timestamp":"2026-12-04T16:00:00Z","source":"oi_realtime_poller","timeframe":"5 min"})";
    EXPECT_EQ(r.handle(parse_target("/api/open-interest-alerts/ingest"), post(oi), now_ms).status, 200u);
    std::string sideways = oi;
    sideways.replace(sideways.find("\"UP\""), 4, "\"SIDEWAYS\"");
    EXPECT_EQ(r.handle(parse_target("/api/open-interest-alerts/ingest"), post(sideways), now_ms).status, 500u);
    EXPECT_EQ(r.handle(parse_target("/api/open-interest-alerts/ingest"), post(R"({"symbol":"X","direction":"UP"})"), now_ms).status,
              400u);

    // OI batch and the liquid universe (its GET needs no key).
    rep = r.handle(parse_target("/api/market/open-interest/ingest"),
                   post(R"({"data":[{"symbol":"BTCUSDT","openInterest":1,"openInterestUsd":2,"markPrice":2},{"x":1}],)"
                        R"("timestamp":"2026-12-04T16:00:00Z","totalSymbols":2,"source":"realtime"})"),
                   now_ms);
    EXPECT_EQ(json(rep.body).at("inserted"), 1);
    rep = r.handle(parse_target("/api/market/open-interest/liquid-universe/update"),
                   post(R"({"symbols":[{"symbol":"BTCUSDT","quoteVolume24h":1e9}],"updatedAt":"2026-12-04T16:00:00Z"})"), now_ms);
    EXPECT_EQ(rep.status, 200u) << rep.body;
    rep = r.handle(parse_target("/api/market/open-interest/liquid-universe"), received_request{"GET", "", "", ""}, now_ms);
    ASSERT_EQ(rep.status, 200u);
    EXPECT_EQ(json(rep.body).at("totalSymbols"), 1);
    EXPECT_EQ(json(rep.body).at("symbols").at(0).at("symbol"), "BTCUSDT");
    rep = r.handle(parse_target("/api/telegram/ingest"),
                   post(R"({"channel":{"id":1,"username":"marketfeed","title":"M","category":"macro"},"messages":[{"id":31}]})"), now_ms);
    EXPECT_EQ(json(rep.body).at("processed"), 1);

    // Everything was recorded, in order, with its answer and idempotency key.
    const auto all = received(r);
    ASSERT_EQ(all.size(), 12u);
    EXPECT_EQ(all[0].at("seq"), 1);
    EXPECT_EQ(all[0].at("target"), "backend");
    EXPECT_EQ(all[0].at("path"), "/api/volume-alerts/ingest");
    EXPECT_EQ(all[0].at("status"), 200);
    EXPECT_EQ(all[0].at("idempotency_key"), "0001:prod");
    EXPECT_EQ(all[0].at("body").at("symbol"), "SOLUSDT");
    EXPECT_EQ(all[1].at("status"), 401);
    EXPECT_TRUE(all[2].at("body").is_string());   // not JSON: kept as text
    EXPECT_EQ(received(r, "since=11").size(), 1u);
    EXPECT_EQ(received(r, "since=0&path=/api/open-interest-alerts/").size(), 3u);
    EXPECT_EQ(received(r, "since=0&target=telegram").size(), 0u);
    EXPECT_EQ(received(r, "since=0&limit=2").size(), 2u);
}

TEST(ReplayReceiver, UserAlertsAreListedTriggeredOnceAndUpdated)
{
    receiver r{{"k1", ""}};
    ASSERT_EQ(r.control("user_alert", parse_target("/_control/user_alert?symbol=BNBUSDT&type=PRICE_CROSS&threshold=650&id=a1"),
                        true, now_ms).status, 200u);
    ASSERT_EQ(r.control("user_alert", parse_target("/_control/user_alert?symbol=DOGEUSDT&type=FUNDING_CROSS&threshold=0.001&tier=elite&last=0.0001"),
                        true, now_ms).status, 200u);
    EXPECT_EQ(r.control("user_alert", parse_target("/_control/user_alert?symbol=X&type=VOLUME&threshold=1"), true, now_ms).status,
              400u);
    EXPECT_EQ(r.control("user_alert", parse_target("/_control/user_alert?symbol=X&type=PRICE_CROSS&threshold=1&id=a1"), true,
                        now_ms).status, 409u);
    const received_request get{"GET", "", "", ""};
    EXPECT_EQ(r.handle(parse_target("/api/user-alerts-trigger/active?apiKey=bad"), get, now_ms).status, 401u);
    auto rep = r.handle(parse_target("/api/user-alerts-trigger/active?apiKey=k1"), get, now_ms);
    ASSERT_EQ(rep.status, 200u);
    auto list = json(rep.body).at("alerts").as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].at("id"), "a1");
    EXPECT_EQ(list[0].at("alertType"), "PRICE_CROSS");
    EXPECT_EQ(list[0].at("threshold"), 650.0);
    EXPECT_TRUE(list[0].at("lastCheckedValue").is_null());
    EXPECT_EQ(list[0].at("userTier"), "pro");
    EXPECT_EQ(list[1].at("id"), "replay-alert-2");
    EXPECT_EQ(list[1].at("lastCheckedValue"), 0.0001);
    EXPECT_EQ(list[1].at("userTier"), "elite");

    // update-checked: key in the body (not the header), unknown id 500.
    const auto trig = parse_target("/api/user-alerts-trigger/trigger");
    const auto upd = parse_target("/api/user-alerts-trigger/update-checked");
    EXPECT_EQ(r.handle(upd, post(R"({"alertId":"a1","lastCheckedValue":600,"apiKey":"k1"})", ""), now_ms).status, 200u);
    EXPECT_EQ(r.handle(upd, post(R"({"alertId":"a1","lastCheckedValue":600,"apiKey":"no"})", "k1"), now_ms).status, 401u);
    EXPECT_EQ(r.handle(upd, post(R"({"alertId":"zz","lastCheckedValue":600,"apiKey":"k1"})", ""), now_ms).status, 500u);
    const std::string fire = R"({"alertId":"a1","symbol":"BNBUSDT","currentValue":660,"previousValue":600,"crossedUp":true,"apiKey":"k1"})";
    EXPECT_EQ(r.handle(trig, post(fire, ""), now_ms).status, 200u);
    rep = r.handle(trig, post(fire, ""), now_ms);   // a resend after a crash
    EXPECT_EQ(rep.status, 400u);
    EXPECT_EQ(json(rep.body).at("error"), "Alert is not active");
    std::string unknown = fire;
    unknown.replace(unknown.find("\"a1\""), 4, "\"a9\"");
    EXPECT_EQ(r.handle(trig, post(unknown, ""), now_ms).status, 404u);
    list = json(r.handle(parse_target("/api/user-alerts-trigger/active?apiKey=k1"), get, now_ms).body).at("alerts").as_array();
    ASSERT_EQ(list.size(), 1u);   // a1 fired: no longer active
    EXPECT_EQ(list[0].at("id"), "replay-alert-2");
    const auto seeded = json(r.control("user_alerts", parse_target("/_control/user_alerts"), false, now_ms).body);
    EXPECT_EQ(seeded.at("alerts").at(0).at("active"), false);
    EXPECT_EQ(seeded.at("alerts").at(0).at("lastCheckedValue"), 660.0);
}

TEST(ReplayReceiver, TelegramSendMessageAndInjectedFailures)
{
    receiver r{{"", "123:ABC"}};
    const auto send = parse_target("/bot123:ABC/sendMessage");
    auto rep = r.handle(send, post(R"({"chat_id":"-100","text":"🔥 LIQUIDATION ALERT","disable_web_page_preview":true})"), now_ms);
    ASSERT_EQ(rep.status, 200u) << rep.body;
    EXPECT_EQ(json(rep.body).at("ok"), true);
    EXPECT_EQ(json(rep.body).at("result").at("message_id"), 1);
    EXPECT_EQ(r.handle(parse_target("/botWRONG/sendMessage"), post(R"({"chat_id":1,"text":"x"})"), now_ms).status, 401u);
    EXPECT_EQ(r.handle(send, post(R"({"chat_id":1,"text":""})"), now_ms).status, 400u);
    // The backend accepts any key when none is configured.
    EXPECT_EQ(r.handle(parse_target("/api/volume-alerts/ingest"), post(volume_body, "whatever"), now_ms).status, 200u);

    ASSERT_EQ(r.control("fail", parse_target("/_control/fail?target=telegram&status=429&count=2"), true, now_ms).status, 200u);
    rep = r.handle(send, post(R"({"chat_id":1,"text":"x"})"), now_ms);
    EXPECT_EQ(rep.status, 429u);
    EXPECT_EQ(json(rep.body).at("parameters").at("retry_after"), 1);
    EXPECT_EQ(r.handle(send, post(R"({"chat_id":1,"text":"x"})"), now_ms).status, 429u);
    EXPECT_EQ(r.handle(send, post(R"({"chat_id":1,"text":"x"})"), now_ms).status, 200u);
    ASSERT_EQ(r.control("fail", parse_target("/_control/fail?target=backend&seconds=10"), true, now_ms).status, 200u);
    EXPECT_EQ(r.handle(parse_target("/api/volume-alerts/ingest"), post(volume_body), now_ms + 9'000).status, 503u);
    EXPECT_EQ(r.handle(parse_target("/api/volume-alerts/ingest"), post(volume_body), now_ms + 10'000).status, 200u);

    const auto tg = received(r, "since=0&target=telegram");
    ASSERT_EQ(tg.size(), 6u);
    EXPECT_EQ(tg[0].at("path"), "/bot<token>/sendMessage");   // the token is not recorded
    EXPECT_EQ(tg[0].at("body").at("text"), "🔥 LIQUIDATION ALERT");
    const auto st = json(r.control("status", parse_target("/_control/status"), false, now_ms).body);
    EXPECT_EQ(st.at("receiver").at("telegram"), 6);
    EXPECT_EQ(st.at("receiver").at("backend"), 3);
    EXPECT_EQ(st.at("receiver").at("paths").at("/bot<token>/sendMessage"), 6);
    ASSERT_EQ(r.control("received/clear", parse_target("/_control/received/clear"), true, now_ms).status, 200u);
    EXPECT_EQ(received(r).size(), 0u);
    EXPECT_EQ(json(r.control("received", parse_target("/_control/received?since=0"), false, now_ms).body).at("last_seq"), 9);
}

namespace {

struct answer {
    unsigned status = 0;
    std::string body;
};

answer exchange(unsigned short port, boost::beast::http::verb verb, const std::string& target, const std::string& body,
                const std::string& key)
{
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(5));
    beast::error_code ec;
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) {
        return {};
    }
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    if (!key.empty()) {
        req.set("X-API-Key", key);
    }
    req.set("Idempotency-Key", "42:prod");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req, ec);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(stream, buf, res, ec);
    if (ec) {
        return {};
    }
    return {res.result_int(), res.body()};
}

}  // namespace

TEST(ReplayReceiver, ServedByTheServerWithHeadersAndBodies)
{
    vs::replay::server_config cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.symbols = 20;
    cfg.backend_api_key = "demo-key";
    vs::replay::server srv{cfg};
    const auto port = srv.start();
    std::thread io{[&] { srv.run(); }};
    using boost::beast::http::verb;
    EXPECT_EQ(exchange(port, verb::post, "/api/volume-alerts/ingest", volume_body, "demo-key").status, 200u);
    EXPECT_EQ(exchange(port, verb::post, "/api/volume-alerts/ingest", volume_body, "other").status, 401u);
    EXPECT_EQ(exchange(port, verb::post, "/bot1:x/sendMessage", R"({"chat_id":7,"text":"hi"})", "").status, 200u);
    EXPECT_EQ(exchange(port, verb::post, "/_control/user_alert?symbol=BTCUSDT&type=PRICE_CROSS&threshold=1", "", "").status, 200u);
    auto a = exchange(port, verb::get, "/api/user-alerts-trigger/active?apiKey=demo-key", "", "");
    EXPECT_EQ(a.status, 200u);
    EXPECT_EQ(json(a.body).at("alerts").as_array().size(), 1u);
    // GET /_control/status counts; POST /_control/status is still the exchange status action.
    auto st = exchange(port, verb::get, "/_control/status", "", "");
    ASSERT_EQ(st.status, 200u) << st.body;
    EXPECT_EQ(json(st.body).at("receiver").at("backend"), 3);
    EXPECT_EQ(json(st.body).at("receiver").at("telegram"), 1);
    EXPECT_EQ(exchange(port, verb::post, "/_control/status?symbol=BTCUSDT&status=SETTLING", "", "").status, 200u);
    auto stats = exchange(port, verb::get, "/_control/stats", "", "");
    EXPECT_EQ(json(stats.body).at("receiver").at("user_alerts"), 1);
    auto rec = exchange(port, verb::get, "/_control/received?since=0&target=backend", "", "");
    ASSERT_EQ(rec.status, 200u);
    const auto list = json(rec.body).at("received").as_array();
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0].at("idempotency_key"), "42:prod");
    EXPECT_EQ(list[0].at("body").at("asset"), "SOL");
    EXPECT_EQ(list[1].at("status"), 401);
    srv.stop();
    io.join();
}
