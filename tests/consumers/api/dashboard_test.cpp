// The /dashboard page in headless Chromium, driven over the DevTools protocol: it loads,
// shows BTCUSDT with the mark price the bus holds, marks stale rows, and follows a price
// change over /events without reloading.
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "http_client.hpp"
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
        }
    }
    /// Evaluates a JS expression returning a string.
    std::string eval(const std::string& expr)
    {
        const auto r = call("Runtime.evaluate", {{"expression", expr}, {"returnByValue", true}});
        const auto* v = r.at("result").at("result").as_object().if_contains("value");
        return v != nullptr && v->is_string() ? std::string{v->as_string()} : std::string{};
    }

private:
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

}  // namespace
