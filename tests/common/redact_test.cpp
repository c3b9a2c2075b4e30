// vs::redact: every secret form the processes handle is replaced, the rest of the text is
// kept, and the registry is safe to use from many threads.
#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "vs/common/redact.hpp"

namespace {

using vs::redact::apply;

class RedactTest : public ::testing::Test {
protected:
    void SetUp() override { vs::redact::clear_secrets(); }
    void TearDown() override { vs::redact::clear_secrets(); }
};

TEST_F(RedactTest, TelegramBotTokenInAUrl)
{
    EXPECT_EQ(apply("cannot send POST http://127.0.0.1:9/bot123456:SECRETTOKENabc/sendMessage: timeout"),
              "cannot send POST http://127.0.0.1:9/bot<redacted>/sendMessage: timeout");
    EXPECT_EQ(apply("https://api.telegram.org/bot1:x/getMe"), "https://api.telegram.org/bot<redacted>/getMe");
    EXPECT_EQ(apply("/bot123456%3AAAE-x_y/sendMessage"), "/bot<redacted>/sendMessage");
    EXPECT_EQ(apply("GET /bot123:ABC"), "GET /bot<redacted>");
    // Not a token: no digits-colon segment.
    EXPECT_EQ(apply("/bottles/12 and /bot/x and /botany:1"), "/bottles/12 and /bot/x and /botany:1");
}

TEST_F(RedactTest, DiscordWebhookKeepsTheIdAndRedactsTheToken)
{
    EXPECT_EQ(apply("POST https://discord.com/api/webhooks/112233445566/AbC-dEf_123?wait=true failed"),
              "POST https://discord.com/api/webhooks/112233445566/<redacted>?wait=true failed");
    EXPECT_EQ(apply("https://discordapp.com/api/webhooks/1/tok"), "https://discordapp.com/api/webhooks/1/<redacted>");
    EXPECT_EQ(apply("/api/webhooks/42"), "/api/webhooks/42") << "no token, nothing to hide";
}

TEST_F(RedactTest, UserinfoInUrls)
{
    EXPECT_EQ(apply("cannot connect to nats://user:pa55word@127.0.0.1:4222: refused"),
              "cannot connect to nats://<redacted>@127.0.0.1:4222: refused");
    EXPECT_EQ(apply("nats://s3cr3ttoken@nats.internal/x"), "nats://<redacted>@nats.internal/x");
    EXPECT_EQ(apply("https://a:b@host/p?q=x@y"), "https://<redacted>@host/p?q=x@y");
    EXPECT_EQ(apply("http://127.0.0.1:8080/path"), "http://127.0.0.1:8080/path");
    EXPECT_EQ(apply("mail me at ops@example.com"), "mail me at ops@example.com");
}

TEST_F(RedactTest, ApiKeyQueryValues)
{
    EXPECT_EQ(apply("GET https://h/api/x?symbol=BTC&apiKey=abc123&limit=5"),
              "GET https://h/api/x?symbol=BTC&apiKey=<redacted>&limit=5");
    EXPECT_EQ(apply("https://h/x?APIKEY=abc"), "https://h/x?APIKEY=<redacted>");
    EXPECT_EQ(apply("?api_key=a&token=b&bot_token=c&signature=d&password=e"),
              "?api_key=<redacted>&token=<redacted>&bot_token=<redacted>&signature=<redacted>&password=<redacted>");
    EXPECT_EQ(apply("?symbol=BTCUSDT&limit=5&tokens=3"), "?symbol=BTCUSDT&limit=5&tokens=3");
}

TEST_F(RedactTest, ApiKeyJsonBodyValues)
{
    EXPECT_EQ(apply(R"(HTTP 400: {"apiKey":"sekrit-key-987","symbol":"BTCUSDT"})"),
              R"(HTTP 400: {"apiKey":"<redacted>","symbol":"BTCUSDT"})");
    EXPECT_EQ(apply(R"({ "api_key" : "a\"b" , "x": 1})"), R"({ "api_key" : "<redacted>" , "x": 1})");
    EXPECT_EQ(apply(R"({"bot_token":"1:x","password":"p","text":"apiKey"})"),
              R"({"bot_token":"<redacted>","password":"<redacted>","text":"apiKey"})");
    // Escaped inside another JSON string (an error stored as JSON).
    EXPECT_EQ(apply(R"({"error":"HTTP 400: {\"apiKey\":\"abc\"}"})"),
              R"({"error":"HTTP 400: {\"apiKey\":\"<redacted>\"}"})");
    EXPECT_EQ(apply(R"({"symbol":"BTCUSDT","volumeRatio":3.3})"), R"({"symbol":"BTCUSDT","volumeRatio":3.3})");
}

TEST_F(RedactTest, HeaderValues)
{
    EXPECT_EQ(apply("X-API-Key: prod-key-1\r\nHost: h"), "X-API-Key: <redacted>\r\nHost: h");
    EXPECT_EQ(apply("x-api-key=abc"), "x-api-key=<redacted>");
    EXPECT_EQ(apply("Authorization: Bearer eyJhbGciOi.x.y"), "Authorization: Bearer <redacted>");
    EXPECT_EQ(apply("authorization: opaque"), "authorization: <redacted>");
    EXPECT_EQ(apply(R"({"X-API-Key":"k"})"), R"({"X-API-Key":"<redacted>"})");
    EXPECT_EQ(apply("cannot parse token: unexpected end"), "cannot parse token: unexpected end");
}

TEST_F(RedactTest, RegisteredSecretsAreReplacedAnywhere)
{
    EXPECT_TRUE(vs::redact::add_secret("sekrit-key-987"));
    EXPECT_TRUE(vs::redact::add_secret("123456:SECRETTOKENabc"));
    EXPECT_EQ(apply("the key sekrit-key-987 was refused; token 123456:SECRETTOKENabc too"),
              "the key <redacted> was refused; token <redacted> too");
    EXPECT_EQ(apply("encoded: 123456%3ASECRETTOKENabc"), "encoded: <redacted>");
    EXPECT_EQ(apply("sekrit-key-987sekrit-key-987"), "<redacted><redacted>");
}

TEST_F(RedactTest, ShortSecretsAreIgnored)
{
    EXPECT_FALSE(vs::redact::add_secret(""));
    EXPECT_FALSE(vs::redact::add_secret("12345"));
    EXPECT_EQ(vs::redact::secret_count(), 0u);
    EXPECT_EQ(apply("chat 12345 ok"), "chat 12345 ok");
    EXPECT_TRUE(vs::redact::add_secret("123456"));
    EXPECT_EQ(apply("chat 123456 ok"), "chat <redacted> ok");
}

TEST_F(RedactTest, LongestSecretFirst)
{
    vs::redact::add_secret("abcdef");
    vs::redact::add_secret("abcdefghijkl");
    EXPECT_EQ(apply("x abcdefghijkl y abcdef"), "x <redacted> y <redacted>");
}

TEST_F(RedactTest, WebhookUrlRegistersItsToken)
{
    vs::redact::add_secret_url("https://discord.com/api/webhooks/4242/DISCORDsecretTOKEN");
    EXPECT_EQ(apply("token DISCORDsecretTOKEN leaked"), "token <redacted> leaked");
    EXPECT_EQ(apply("https://discord.com/api/webhooks/4242/DISCORDsecretTOKEN"),
              "https://discord.com/api/webhooks/4242/<redacted>");
    // An unrecognised URL that is a credential as a whole.
    vs::redact::add_secret_url("https://hooks.example/T000/B000/XXXX");
    EXPECT_EQ(apply("post to https://hooks.example/T000/B000/XXXX failed"), "post to <redacted> failed");
    // Userinfo password and secret query values.
    vs::redact::add_secret_url("nats://bob:hunter2hunter2@h:4222?token=tok-tok-tok");
    EXPECT_EQ(apply("pw hunter2hunter2 t tok-tok-tok"), "pw <redacted> t <redacted>");
}

TEST_F(RedactTest, SecretEnvironmentVariables)
{
    for (const char* n : {"VOLSPIKE_API_KEY", "VOLSPIKE_API_KEY_DEV", "TELEGRAM_TOKEN", "TELEGRAM_BOT_TOKEN",
                          "VS_DISCORD_WEBHOOK_URL", "NATS_PASSWORD", "NATS_TOKEN", "BINANCE_SECRET_KEY"}) {
        EXPECT_TRUE(vs::redact::is_secret_env(n)) << n;
    }
    for (const char* n : {"VOLSPIKE_API_URL", "CHAT_ID", "VS_STATE_DIR", "VS_TELEGRAM_API_URL", "PATH"}) {
        EXPECT_FALSE(vs::redact::is_secret_env(n)) << n;
    }
    ::setenv("VOLSPIKE_API_KEY_DEV", "dev-key-from-env", 1);
    ::setenv("VS_STATE_DIR", "/var/lib/volspike-test", 1);
    vs::redact::add_secrets_from_env();
    ::unsetenv("VOLSPIKE_API_KEY_DEV");
    ::unsetenv("VS_STATE_DIR");
    EXPECT_EQ(apply("dev-key-from-env in /var/lib/volspike-test"), "<redacted> in /var/lib/volspike-test");
    EXPECT_FALSE(vs::redact::add_env_secret("CHAT_ID", "-1001234567"));
    EXPECT_EQ(apply("-1001234567"), "-1001234567");
}

TEST_F(RedactTest, IdempotentAndPlainTextUntouched)
{
    vs::redact::add_secret("sekrit-key-987");
    const std::string once = apply(
        "POST http://u:p@h/bot1:x/sendMessage?apiKey=sekrit-key-987 /api/webhooks/1/t X-API-Key: k "
        R"({"apiKey":"v"})");
    EXPECT_EQ(apply(once), once);
    EXPECT_EQ(once.find("sekrit"), std::string::npos);
    const std::string plain = "prod: alert 00000000000000a1 attempt 3 failed (HTTP 503: {\"error\":\"down\"}); next in 40 ms";
    EXPECT_EQ(apply(plain), plain);
    EXPECT_EQ(apply(""), "");
}

TEST_F(RedactTest, ConcurrentRegistrationAndUse)
{
    std::atomic<bool> leaked{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t, &leaked] {
            for (int i = 0; i < 300; ++i) {
                const std::string secret = "secret-" + std::to_string(t) + "-" + std::to_string(i);
                vs::redact::add_secret(secret);
                if (apply("x " + secret + " y") != "x <redacted> y") {
                    leaked.store(true);
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_FALSE(leaked.load());
    EXPECT_EQ(vs::redact::secret_count(), 1200u);
}

}  // namespace
