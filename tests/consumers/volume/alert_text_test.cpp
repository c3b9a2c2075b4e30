// The Telegram text and the ingest payload, byte for byte against what the old Python
// script produced for the same numbers (values computed with its own code).
#include "alert_text.hpp"

#include <gtest/gtest.h>

namespace vs::volume {
namespace {

TEST(VolumeAlertTextTest, VolumeFormatIsTheOldFmt)
{
    EXPECT_EQ(format_volume(150e6), "150.00M");
    EXPECT_EQ(format_volume(1234.567e9), "1,234.57B");
    EXPECT_EQ(format_volume(12500), "12.50K");
    EXPECT_EQ(format_volume(999.4), "999");
    EXPECT_EQ(format_volume(999.6), "1,000");
    EXPECT_EQ(format_volume(999999.999), "1,000.00K");
    EXPECT_EQ(format_volume(0), "0");
    EXPECT_EQ(format_volume(2.5), "2");   // round half even, as Python
    EXPECT_EQ(format_volume(3.5), "4");
    EXPECT_EQ(format_volume(1234567.0), "1.23M");
}

TEST(VolumeAlertTextTest, NumbersAreWrittenAsPythonsRepr)
{
    EXPECT_EQ(python_float(150000000.0), "150000000.0");
    EXPECT_EQ(python_float(10.0 / 3.0), "3.3333333333333335");
    EXPECT_EQ(python_float(1e-05), "1e-05");
    EXPECT_EQ(python_float(1.5e16), "1.5e+16");
    EXPECT_EQ(python_float(0.0001), "0.0001");
    EXPECT_EQ(python_float(1234567890123456.0), "1234567890123456.0");
    EXPECT_EQ(python_float(0.1), "0.1");
    EXPECT_EQ(python_float(100.0), "100.0");
    EXPECT_EQ(python_float(-0.0123), "-0.0123");
    EXPECT_EQ(python_float(12345678901234567.0), "1.2345678901234568e+16");
    EXPECT_EQ(python_float(5e-324), "5e-324");
    EXPECT_EQ(python_float(0.0), "0.0");
    EXPECT_EQ(python_float(123.456e-10), "1.23456e-08");
    EXPECT_EQ(python_float(1e22), "1e+22");
}

decision spike_at(std::int64_t detect_ms)
{
    decision d;
    d.symbol = "BTCUSDT";
    d.type = alert_type::spike;
    d.hour_ms = 1'796'389'200'000;   // 2026-12-04T13:00:00Z
    d.detect_ms = detect_ms;
    d.curr = candle{d.hour_ms, 100.0, 102.5, 150e6, false};
    d.prev_volume = 45e6;
    d.ratio = 150e6 / 45e6;
    return d;
}

TEST(VolumeAlertTextTest, TelegramTextByteForByte)
{
    auto d = spike_at(1'796'389'200'000 + 7 * 60'000 + 31'000);
    EXPECT_EQ(telegram_text(d), "BTC hourly volume 150.00M (3.33\xC3\x97 prev) \xE2\x80\x94 VOLUME SPIKE!");
    d.type = alert_type::half_update;
    EXPECT_EQ(telegram_text(d), "HALF-UPDATE: BTC hourly volume 150.00M (3.33\xC3\x97 prev) \xE2\x80\x94 VOLUME SPIKE!");
    d.type = alert_type::full_update;
    EXPECT_EQ(telegram_text(d), "UPDATE: BTC hourly volume 150.00M (3.33\xC3\x97 prev) \xE2\x80\x94 VOLUME SPIKE!");
    d.symbol = "\xE5\xB8\x81\xE5\xAE\x89\xE4\xBA\xBA\xE7\x94\x9FUSDT";   // 币安人生USDT
    EXPECT_EQ(asset_of(d.symbol), "\xE5\xB8\x81\xE5\xAE\x89\xE4\xBA\xBA\xE7\x94\x9F");
}

TEST(VolumeAlertTextTest, PayloadFieldsTypesAndOrder)
{
    const auto d = spike_at(1'796'389'200'000 + 7 * 60'000 + 31'000);   // 13:07:31
    const auto text = telegram_text(d);
    EXPECT_EQ(payload_json(d, text, {0.0001, -0.0123}),
              "{\"symbol\":\"BTCUSDT\",\"asset\":\"BTC\",\"currentVolume\":150000000.0,\"previousVolume\":45000000.0,"
              "\"volumeRatio\":3.3333333333333335,\"price\":102.5,\"fundingRate\":0.0001,\"candleDirection\":\"bullish\","
              "\"message\":\"BTC hourly volume 150.00M (3.33\xC3\x97 prev) \xE2\x80\x94 VOLUME SPIKE!\","
              "\"timestamp\":\"2026-12-04T13:07:31Z\",\"detectionTime\":\"2026-12-04T13:05:00Z\","
              "\"hourTimestamp\":\"2026-12-04T13:00:00Z\",\"isUpdate\":false,\"alertType\":\"SPIKE\","
              "\"priceChange\":0.025,\"oiChange\":-0.0123}");
    // Unknown funding and OI: absent, never null or 0; a bearish FULL update.
    auto u = d;
    u.type = alert_type::full_update;
    u.curr.close = 99.0;
    u.detect_ms = 1'796'389'200'000 + 3'600'000 + 1'000;
    EXPECT_EQ(payload_json(u, telegram_text(u), {}),
              "{\"symbol\":\"BTCUSDT\",\"asset\":\"BTC\",\"currentVolume\":150000000.0,\"previousVolume\":45000000.0,"
              "\"volumeRatio\":3.3333333333333335,\"price\":99.0,\"candleDirection\":\"bearish\","
              "\"message\":\"UPDATE: BTC hourly volume 150.00M (3.33\xC3\x97 prev) \xE2\x80\x94 VOLUME SPIKE!\","
              "\"timestamp\":\"2026-12-04T14:00:01Z\",\"detectionTime\":\"2026-12-04T14:00:00Z\","
              "\"hourTimestamp\":\"2026-12-04T13:00:00Z\",\"isUpdate\":true,\"alertType\":\"FULL_UPDATE\","
              "\"priceChange\":-0.01}");
}

TEST(VolumeAlertTextTest, DetectionTimeFloorsToFiveMinutes)
{
    EXPECT_EQ(iso_utc(detection_floor(1'796'389'200'000 + 14 * 60'000 + 59'999)), "2026-12-04T13:10:00Z");
    EXPECT_EQ(iso_utc(detection_floor(1'796'389'200'000 + 15 * 60'000)), "2026-12-04T13:15:00Z");
}

}  // namespace
}  // namespace vs::volume
