// The /dashboard page in headless Chromium, driven over the DevTools protocol: it loads,
// shows BTCUSDT with the mark price the bus holds, marks stale rows, and follows a price
// change over /events without reloading.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http_client.hpp"
#include "schemas/alerts_generated.h"
#include "schemas/process_status_generated.h"
#include "vs/net/rest_weight.hpp"
#include "vs/outbox/outbox.hpp"
#include "live_market.hpp"
#include "process.hpp"
#include "test_env.hpp"
#include "vs/api/server.hpp"

namespace {

namespace json = boost::json;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

// A DevTools session on the page target.
class devtools {
public:
    explicit devtools(std::uint16_t port, const std::string& path) : ws_(io_)
    {
        tcp::endpoint ep{boost::asio::ip::make_address("127.0.0.1"), port};
        ws_.next_layer().connect(ep);
        ws_.handshake("127.0.0.1:" + std::to_string(port), path);
    }
    json::value call(const std::string& method, json::object params)
    {
        const int id = ++id_;
        ws_.write(boost::asio::buffer(json::serialize(json::object{{"id", id}, {"method", method}, {"params", params}})));
        for (;;) {
            boost::beast::flat_buffer b;
            ws_.read(b);
            auto v = json::parse(boost::beast::buffers_to_string(b.data()));
            if (v.as_object().contains("id") && v.at("id").to_number<int>() == id) {
                return v;
            }
            if (v.as_object().contains("method")) {
                events_.push_back(std::move(v));   // Runtime.consoleAPICalled, Log.entryAdded, ...
            }
        }
    }
    /// Evaluates a JS expression returning a string.
    std::string eval(const std::string& expr)
    {
        const auto r = call("Runtime.evaluate", {{"expression", expr}, {"returnByValue", true}});
        const auto* v = r.at("result").at("result").as_object().if_contains("value");
        return v != nullptr && v->is_string() ? std::string{v->as_string()} : std::string{};
    }

    /// The events received so far (while waiting for answers).
    const std::vector<json::value>& events() const noexcept { return events_; }

private:
    std::vector<json::value> events_;
    boost::asio::io_context io_;
    websocket::stream<tcp::socket> ws_;
    int id_ = 0;
};

class DashboardTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (std::string{VS_CHROMIUM}.empty() || !std::filesystem::exists(VS_CHROMIUM)) {
            GTEST_SKIP() << "chromium is not installed (apt-get install chromium); issue 4 page test skipped";
        }
    }
    vs::test::test_env env_;
};

TEST_F(DashboardTest, ShowsTheBusMarkPriceAndFollowsChangesWithoutReload)
{
    vs::api::test::live_channel market{env_.prefix(), "market"};
    const auto publish = [&](double btc) {
        const auto now = vs::realtime_ns();
        market.run([&](vs::bus::writer& w) {
            for (std::size_t i = 0; i < 50; ++i) {
                const auto symbol = vs::test::state_symbol(i);
                const double price = i == 0 ? btc : 10.0 + static_cast<double>(i);
                vs::api::bench::publish(w, vs::test::mark_price_fields{
                                               .symbol = symbol, .recv_time_ns = now, .mark_price = price, .funding_rate = 0.0001});
                vs::api::bench::publish(w, vs::test::ticker_around(symbol, price, 1e6 * (60 - static_cast<double>(i)), now));
            }
            vs::api::bench::publish(
                w, vs::test::mark_price_fields{.symbol = "OLDUSDT", .recv_time_ns = now - 600'000'000'000, .mark_price = 1.5});
            vs::api::bench::publish(w, vs::test::healthy_feed_status(51, now));
        });
    };
    publish(65000.5);
    vs::api::server_config cfg;
    cfg.port = 0;
    cfg.threads = 2;
    cfg.bus_prefix = env_.prefix();
    vs::api::server srv{cfg};
    srv.start();

    const auto profile = env_.state_dir() / "chromium-profile";
    std::filesystem::create_directories(profile);
    const std::string url = "http://127.0.0.1:" + std::to_string(srv.port()) + "/dashboard";
    vs::test::child_process browser{
        {VS_CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-port=0", "--user-data-dir=" + profile.string(), url},
        vs::test::logged_to(env_.state_dir() / "chromium.log")};

    // Chromium writes its DevTools port into the profile.
    std::uint16_t port = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    while (port == 0 && std::chrono::steady_clock::now() < deadline) {
        std::ifstream f{profile / "DevToolsActivePort"};
        int p = 0;
        if (f >> p && p > 0) {
            port = static_cast<std::uint16_t>(p);
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds{100});
        }
    }
    ASSERT_NE(port, 0) << browser.output();
    std::string page_path;
    while (page_path.empty() && std::chrono::steady_clock::now() < deadline) {
        const auto list = json::parse(vs::api::test::http_get(port, "/json/list").body());
        for (const auto& t : list.as_array()) {
            if (t.at("type").as_string() == "page" && std::string{t.at("url").as_string()}.find("/dashboard") != std::string::npos) {
                const std::string ws{t.at("webSocketDebuggerUrl").as_string()};
                page_path = ws.substr(ws.find("/devtools/"));
            }
        }
        if (page_path.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds{100});
        }
    }
    ASSERT_FALSE(page_path.empty());
    devtools dt{port, page_path};

    const std::string read_btc =
        "(() => { const td = document.querySelector('tr[data-symbol=\"BTCUSDT\"] td.mark');"
        " return td ? td.dataset.v + '|' + td.textContent : ''; })()";
    const auto wait_for = [&](const std::string& expr, const std::string& want) {
        std::string got;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{15};
        while (std::chrono::steady_clock::now() < until) {
            got = dt.eval(expr);
            if (got == want) {
                return got;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds{100});
        }
        return got;
    };
    EXPECT_EQ(wait_for(read_btc, "65000.5|65,000.50"), "65000.5|65,000.50");
    EXPECT_EQ(dt.eval("String(document.querySelectorAll('#rows tr').length)"), "51");
    EXPECT_EQ(dt.eval("document.querySelector('tr[data-symbol=\"OLDUSDT\"]').className.includes('stale') ? 'stale' : 'fresh'"),
              "stale");
    EXPECT_EQ(dt.eval("document.querySelector('tr[data-symbol=\"BTCUSDT\"]').className.includes('stale') ? 'stale' : 'fresh'"),
              "fresh");
    dt.eval("window.__vsMarker = 'same-page'; ''");

    publish(65123.25);
    EXPECT_EQ(wait_for(read_btc, "65123.25|65,123.25"), "65123.25|65,123.25");
    EXPECT_EQ(dt.eval("String(window.__vsMarker)"), "same-page");   // no reload happened

    // Sorting by symbol and filtering work in the page.
    dt.eval("document.getElementById('filter').value = 'sym04'; document.getElementById('filter')"
            ".dispatchEvent(new Event('input')); ''");
    EXPECT_EQ(dt.eval("[...document.querySelectorAll('#rows tr')].map(r => r.dataset.symbol).sort().join(',')"),
              "SYM040USDT,SYM041USDT,SYM042USDT,SYM043USDT,SYM044USDT,SYM045USDT,SYM046USDT,SYM047USDT,SYM048USDT,"
              "SYM049USDT");

    if (const char* shot = std::getenv("VS_API_SCREENSHOT"); shot != nullptr) {
        dt.eval("document.getElementById('filter').value = ''; document.getElementById('filter')"
                ".dispatchEvent(new Event('input')); ''");
        const auto r = dt.call("Page.captureScreenshot", {{"format", "png"}});
        const std::string b64{r.at("result").at("data").as_string()};
        std::string png;
        png.resize(boost::beast::detail::base64::decoded_size(b64.size()));
        const auto n = boost::beast::detail::base64::decode(png.data(), b64.data(), b64.size());
        png.resize(n.first);
        std::ofstream{shot, std::ios::binary} << png;
    }
    browser.terminate(std::chrono::seconds{5});
}

// ---- issue 18: alerts, news, processes and the symbol charts --------------------------------

namespace alerts_page {

/// Headless Chromium on about:blank with Runtime and Log enabled before the page loads, so
/// that every console error and uncaught exception of the page is seen.
class browser {
public:
    explicit browser(const std::filesystem::path& dir)
    {
        const auto profile = dir / "chromium-profile-2";
        std::filesystem::create_directories(profile);
        proc_ = std::make_unique<vs::test::child_process>(
            std::vector<std::string>{VS_CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                     "--disable-sync", "--disable-dev-shm-usage", "--window-size=1600,1000",
                                     "--remote-debugging-port=0", "--user-data-dir=" + profile.string(), "about:blank"},
            vs::test::logged_to(dir / "chromium2.log"));
        std::uint16_t port = 0;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
        while (port == 0 && std::chrono::steady_clock::now() < deadline) {
            std::ifstream f{profile / "DevToolsActivePort"};
            int p = 0;
            if (f >> p && p > 0) {
                port = static_cast<std::uint16_t>(p);
            } else {
                std::this_thread::sleep_for(std::chrono::milliseconds{100});
            }
        }
        if (port == 0) {
            throw std::runtime_error{"chromium did not start: " + proc_->output()};
        }
        std::string page_path;
        while (page_path.empty() && std::chrono::steady_clock::now() < deadline) {
            const auto list = json::parse(vs::api::test::http_get(port, "/json/list").body());
            for (const auto& t : list.as_array()) {
                if (t.at("type").as_string() == "page") {
                    const std::string ws{t.at("webSocketDebuggerUrl").as_string()};
                    page_path = ws.substr(ws.find("/devtools/"));
                }
            }
            if (page_path.empty()) {
                std::this_thread::sleep_for(std::chrono::milliseconds{100});
            }
        }
        if (page_path.empty()) {
            throw std::runtime_error{"no page target in chromium"};
        }
        dt_ = std::make_unique<devtools>(port, page_path);
        dt_->call("Runtime.enable", {});
        dt_->call("Log.enable", {});
        dt_->call("Page.enable", {});
    }
    ~browser()
    {
        dt_.reset();
        proc_->terminate(std::chrono::seconds{5});
    }
    devtools& dt() { return *dt_; }

    /// Console errors, uncaught exceptions and error log entries seen so far, one a line.
    std::string errors() const
    {
        std::string out;
        for (const auto& e : dt_->events()) {
            const std::string method{e.at("method").as_string()};
            const auto& p = e.at("params");
            if (method == "Runtime.exceptionThrown") {
                out += "exception: " + json::serialize(p.at("exceptionDetails")) + "\n";
            } else if (method == "Runtime.consoleAPICalled" &&
                       (p.at("type").as_string() == "error" || p.at("type").as_string() == "assert")) {
                out += "console.error: " + json::serialize(p.at("args")) + "\n";
            } else if (method == "Log.entryAdded" && p.at("entry").at("level").as_string() == "error") {
                out += "log: " + json::serialize(p.at("entry")) + "\n";
            }
        }
        return out;
    }

private:
    std::unique_ptr<vs::test::child_process> proc_;
    std::unique_ptr<devtools> dt_;
};

std::vector<std::byte> oi_spike_alert(std::string_view symbol, std::string_view alert_id, std::int64_t now_ns)
{
    flatbuffers::FlatBufferBuilder fbb{256};
    fbb.Finish(vs::schema::CreateOiSpikeAlertDirect(fbb, std::string{symbol}.c_str(), now_ns / 1'000'000, now_ns,
                                                    vs::schema::MarketType::UsdM, std::string{alert_id}.c_str(), "5m",
                                                    1, 1000.0, 1040.0, 0.04, 40.0, 65000.0, 1040.0 * 65000.0));
    return vs::test::finish(fbb);
}

std::vector<std::byte> process_status(std::string_view name, bool healthy, std::string_view reason, std::int64_t now_ns)
{
    flatbuffers::FlatBufferBuilder fbb{256};
    fbb.Finish(vs::schema::CreateProcessStatusDirect(fbb, std::string{name}.c_str(), now_ns / 1'000'000, now_ns,
                                                     vs::schema::MarketType::Unknown, 4242, "test", now_ns, true, healthy,
                                                     std::string{reason}.c_str(), nullptr, false, 1000));
    return vs::test::finish(fbb);
}

}  // namespace alerts_page

TEST_F(DashboardTest, AlertsNewsProcessesAndChartsWithoutConsoleErrors)
{
    using namespace std::chrono_literals;
    const auto t_start = std::chrono::steady_clock::now();
    constexpr auto alert_t = static_cast<vs::bus::record_type>(vs::schema::RecordType::OiSpikeAlert);
    constexpr auto status_t = static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus);
    constexpr std::int64_t min_ns = 60'000'000'000;

    // The outbox vs-deliver would read: one alert queued for PROD (its id is the alert's id).
    std::string alert_id;
    {
        vs::outbox::outbox_options o;
        o.targets = vs::outbox::target_set{};
        o.targets->add(vs::outbox::target::prod);
        auto ob = vs::outbox::outbox::open(env_.state_dir(), o);
        vs::outbox::alert a;
        a.kind = "oi";
        a.backend = vs::outbox::backend_call{"/api/oi-alerts/ingest", R"({"symbol":"BTCUSDT"})"};
        alert_id = ob->enqueue(a);
    }
    ASSERT_EQ(alert_id.size(), 16u);
    // The host's REST budget: 7 weight used this minute.
    vs::net::weight_budget budget{{.prefix = env_.prefix()}};
    ASSERT_TRUE(budget.try_reserve(7, vs::realtime_ns() / 1'000'000).ok());

    vs::api::test::live_channel market{env_.prefix(), "market"};
    vs::api::test::live_channel oi{env_.prefix(), "oi"};
    const auto now0 = vs::realtime_ns();
    const auto publish_market = [&](std::int64_t t_ns, double btc) {
        market.run([&](vs::bus::writer& w) {
            for (std::size_t i = 0; i < 5; ++i) {
                const auto symbol = i == 0 ? std::string{"BTCUSDT"} : vs::test::state_symbol(i);
                const double price = i == 0 ? btc : 10.0 + static_cast<double>(i);
                vs::api::bench::publish(w, vs::test::mark_price_fields{
                                               .symbol = symbol, .recv_time_ns = t_ns, .mark_price = price, .funding_rate = 0.0001});
                vs::api::bench::publish(w, vs::test::ticker_around(symbol, price, 1e6 * (60 - static_cast<double>(i)), t_ns));
            }
            vs::api::bench::publish(w, vs::test::healthy_feed_status(5, now0));
        });
    };
    const auto publish_oi = [&](std::int64_t t_ns, double contracts) {
        oi.run([&](vs::bus::writer& w) {
            vs::api::bench::publish(w, vs::test::open_interest_fields{
                                           .symbol = "BTCUSDT", .recv_time_ns = t_ns, .open_interest = contracts, .mark_price = 65000.0});
        });
    };
    publish_market(now0 - 50 * min_ns, 64000.0);
    publish_oi(now0 - 65 * min_ns, 1000.0);
    oi.run([&](vs::bus::writer& w) {
        vs::api::bench::publish(w, vs::test::universe_fields{.recv_time_ns = now0, .symbols = std::vector<std::string_view>{"BTCUSDT"}});
        const auto st = alerts_page::process_status("vs-oi", false, "no poll cycle for 30 s", now0);
        w.publish(status_t, "vs-oi", st, now0);
    });

    vs::api::server_config cfg;
    cfg.port = 0;
    cfg.threads = 2;
    cfg.bus_prefix = env_.prefix();
    cfg.state_dir = env_.state_dir().string();
    cfg.history_sample_interval = 20ms;
    cfg.history_step = 1000ms;
    vs::api::server srv{cfg};
    srv.start();

    // History: the recorder reads the latest tables every 20 ms; each record stays long
    // enough to be seen. Ten mark prices over the last 50 minutes, OI 65 and 30 minutes ago.
    for (int k = 1; k <= 10; ++k) {
        std::this_thread::sleep_for(200ms);
        publish_market(now0 - (50 - 5 * k) * min_ns, 64000.0 + 100.0 * k);
        if (k == 5) {
            publish_oi(now0 - 30 * min_ns, 1020.0);
        }
    }
    std::this_thread::sleep_for(200ms);
    publish_oi(now0, 1050.0);   // +5 % over the hour
    std::this_thread::sleep_for(200ms);

    alerts_page::browser b{env_.state_dir()};
    auto& dt = b.dt();
    const std::string base = "http://127.0.0.1:" + std::to_string(srv.port());
    oi.run([&](vs::bus::writer& w) {   // fresh: /health counts a status older than 5 s as stuck
        const auto now = vs::realtime_ns();
        w.publish(status_t, "vs-oi", alerts_page::process_status("vs-oi", false, "no poll cycle for 30 s", now), now);
    });
    dt.call("Page.navigate", {{"url", base + "/dashboard#BTCUSDT"}});
    const auto wait_for = [&](const std::string& expr, const std::string& want, std::chrono::milliseconds within) {
        std::string got;
        const auto until = std::chrono::steady_clock::now() + within;
        while (std::chrono::steady_clock::now() < until) {
            got = dt.eval(expr);
            if (got == want) {
                return got;
            }
            std::this_thread::sleep_for(20ms);
        }
        return got;
    };

    // The market table: OI (USD) of the oi channel, its 1 h change from the history, the
    // universe mark, and the funding interval the MarkPrice record carries (8 h).
    const std::string btc_row = "(() => { const r = document.querySelector('tr[data-symbol=\"BTCUSDT\"]'); if (!r) return '';"
                                " return [...r.querySelectorAll('td')].slice(0, 9).map(td => td.textContent).join('|'); })()";
    EXPECT_EQ(wait_for(btc_row, "BTCUSDT|65,000.00|0.0100 %|8 h|$60.00 M|1.00 %|$68.25 M|+5.00 %|✓", 15s),
              "BTCUSDT|65,000.00|0.0100 %|8 h|$60.00 M|1.00 %|$68.25 M|+5.00 %|✓");
    // Not a universe member: no mark.
    EXPECT_EQ(dt.eval("document.querySelector('tr[data-symbol=\"SYM001USDT\"] td.univ').textContent"), "");

    // The detail chart of BTCUSDT (opened by the #BTCUSDT link) draws the history's points.
    // (11 mark prices and 3 OI samples were published; a loaded machine may let the recorder
    // miss one.)
    EXPECT_EQ(wait_for("String(window.__vs.charts.price ? window.__vs.charts.price.data.datasets[0].data.length >= 9 : false)",
                       "true", 10s),
              "true");
    std::printf("chart points: %s mark price, %s OI\n", dt.eval("String(window.__vs.charts.price.data.datasets[0].data.length)").c_str(),
                dt.eval("String(window.__vs.charts.oi.data.datasets[0].data.length)").c_str());
    EXPECT_EQ(dt.eval("String(window.__vs.charts.oi.data.datasets[0].data.length >= 2)"), "true");
    // Drawn: every point has a pixel position inside the canvas.
    EXPECT_EQ(dt.eval("(() => { const c = window.__vs.charts.price; const m = c.getDatasetMeta(0).data;"
                      " return String(m.length > 0 && m.every(p => Number.isFinite(p.x) && Number.isFinite(p.y) &&"
                      " p.x >= 0 && p.x <= c.width && p.y >= 0 && p.y <= c.height)); })()"),
              "true");

    // Processes, REST weight and the outbox.
    EXPECT_EQ(wait_for("(() => { const r = document.querySelector('#procRows tr[data-name=\"vs-oi\"]');"
                       " return r ? r.children[2].textContent + '|' + r.children[3].textContent : ''; })()",
                       "no|no poll cycle for 30 s", 10s),
              "no|no poll cycle for 30 s");
    EXPECT_EQ(wait_for("document.getElementById('restWeight').textContent", "7", 10s), "7");
    EXPECT_EQ(dt.eval("document.getElementById('outboxQueued').textContent + '|' + document.getElementById('outboxDead').textContent"),
              "1|0");

    // An alert published on the bus appears in the panel within 2 s, without a reload, marked
    // on the chart, with its delivery state from the outbox.
    dt.eval("window.__vsMarker = 'same-page'; ''");
    const auto alert_ns = vs::realtime_ns();
    const auto published = std::chrono::steady_clock::now();
    oi.run([&](vs::bus::writer& w) {
        const auto rec = alerts_page::oi_spike_alert("BTCUSDT", alert_id, alert_ns);
        w.publish(alert_t, "BTCUSDT", rec, alert_ns, vs::bus::to_ring);
    });
    const std::string alert_sel = "document.querySelector('#alerts .alert[data-id=\"" + alert_id + "\"]')";
    EXPECT_EQ(wait_for("String(!!" + alert_sel + ")", "true", 2s), "true");
    const auto shown_after = std::chrono::steady_clock::now() - published;
    EXPECT_LT(shown_after, 2s);
    std::printf("alert shown %lld ms after it was published\n",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(shown_after).count()));
    EXPECT_EQ(dt.eval("String(window.__vsMarker)"), "same-page");
    EXPECT_NE(dt.eval(alert_sel + ".textContent").find("prod: pending"), std::string::npos) << dt.eval(alert_sel + ".textContent");
    EXPECT_EQ(dt.eval("String(window.__vs.charts.price.data.datasets[1].data.length)"), "1");

    // The type filter hides it, the symbol filter keeps it.
    dt.eval("const t = document.getElementById('alertType'); t.value = 'volume'; t.dispatchEvent(new Event('change')); ''");
    EXPECT_EQ(wait_for("String(!!" + alert_sel + ")", "false", 3s), "false");
    dt.eval("const t2 = document.getElementById('alertType'); t2.value = 'oi'; t2.dispatchEvent(new Event('change'));"
            " const s = document.getElementById('alertSymbol'); s.value = 'btc'; s.dispatchEvent(new Event('input')); ''");
    EXPECT_EQ(wait_for("String(!!" + alert_sel + ")", "true", 3s), "true");

    // A screenshot for the log folder (meson-logs), then no console error at all.
    std::this_thread::sleep_for(300ms);
    const auto r = dt.call("Page.captureScreenshot", {{"format", "png"}});
    const std::string b64{r.at("result").at("data").as_string()};
    std::string png;
    png.resize(boost::beast::detail::base64::decoded_size(b64.size()));
    png.resize(boost::beast::detail::base64::decode(png.data(), b64.data(), b64.size()).first);
    const std::filesystem::path shot = std::filesystem::path{VS_API_LOG_DIR} / "dashboard_test.png";
    std::filesystem::create_directories(shot.parent_path());
    std::ofstream{shot, std::ios::binary} << png;
    std::printf("screenshot: %s (%zu bytes)\n", shot.c_str(), png.size());
    EXPECT_GT(png.size(), 10'000u);
    EXPECT_EQ(b.errors(), "");
    std::printf("test took %lld ms\n", static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - t_start).count()));
    srv.stop();
}

}  // namespace
