// vs::nats: see vs/nats/nats.hpp.
#include "vs/nats/nats.hpp"

#include <time.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "schemas/alerts_generated.h"
#include "vs/bus/records.hpp"
#include "vs/common/cli.hpp"
#include "vs/common/redact.hpp"

namespace vs::nats {
namespace {

using vs::schema::RecordType;

constexpr std::string_view root = "volspike";

std::string env_or(const char* name, std::string fallback)
{
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::string{v} : fallback;
}

bool token_char(unsigned char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string type_name(vs::bus::record_type type)
{
    const auto n = vs::bus::record_type_name(type);
    return n.empty() ? std::to_string(type) : std::string{n};
}

std::vector<std::string> split(std::string_view s, char sep)
{
    std::vector<std::string> out;
    while (!s.empty()) {
        const auto p = s.find(sep);
        auto part = s.substr(0, p);
        while (!part.empty() && part.front() == ' ') {
            part.remove_prefix(1);
        }
        while (!part.empty() && part.back() == ' ') {
            part.remove_suffix(1);
        }
        if (!part.empty()) {
            out.emplace_back(part);
        }
        if (p == std::string_view::npos) {
            break;
        }
        s.remove_prefix(p + 1);
    }
    return out;
}

constexpr RecordType alert_types[] = {RecordType::VolumeSpikeAlert, RecordType::OiSpikeAlert,
                                      RecordType::UserAlertTrigger, RecordType::LiquidationAlert,
                                      RecordType::WhaleTradeAlert};
/// Kept with days of retention besides the alerts: the news posts (their channel is an alert channel).
constexpr RecordType kept_types[] = {RecordType::NewsPost};
constexpr RecordType market_types[] = {RecordType::MarkPrice,     RecordType::Ticker24h,      RecordType::Liquidation,
                                       RecordType::AggTrade,      RecordType::Kline,          RecordType::OpenInterest,
                                       RecordType::LiquidUniverse, RecordType::FeedStatus};

template <class Range>
bool contains(const Range& r, vs::bus::record_type t) noexcept
{
    return std::any_of(std::begin(r), std::end(r), [t](RecordType x) { return static_cast<vs::bus::record_type>(x) == t; });
}

void check(natsStatus s, std::string_view what)
{
    if (s != NATS_OK) {
        throw nats_error(fmt::format("{}: {}", what, status_text(s)));
    }
}

}  // namespace

std::string status_text(natsStatus s)
{
    const char* last = nats_GetLastError(nullptr);
    std::string text = natsStatus_GetText(s);
    if (last != nullptr && *last != '\0' && text != last) {
        text += fmt::format(" ({})", last);
    }
    return text;
}

options options_from_env()
{
    options o;
    o.url = env_or("VS_NATS_URL", o.url);
    o.creds = env_or("VS_NATS_CREDS", "");
    o.token = env_or("VS_NATS_TOKEN", "");
    o.tls_ca = env_or("VS_NATS_TLS_CA", "");
    o.tls_cert = env_or("VS_NATS_TLS_CERT", "");
    o.tls_key = env_or("VS_NATS_TLS_KEY", "");
    if (!o.token.empty()) {
        vs::redact::add_secret(o.token);
    }
    return o;
}

void add_options(vs::cli::parser& cli)
{
    const options d;
    cli.option("nats-url", "URLS", d.url,
               "NATS server(s): nats://host:port, tls://host:port (TLS), a comma list for a cluster; "
               "user:password@ in a URL works too",
               {"VS_NATS_URL"})
        .option("nats-creds", "FILE", "", "NATS credentials file (.creds: JWT and NKey seed)", {"VS_NATS_CREDS"})
        .option("nats-token", "TOKEN", "", "NATS authentication token (never logged)", {"VS_NATS_TOKEN"})
        .option("nats-tls-ca", "FILE", "", "CA certificates (PEM) that sign the NATS server's certificate",
                {"VS_NATS_TLS_CA"})
        .option("nats-tls-cert", "FILE", "", "client certificate (PEM) when the server asks for one", {"VS_NATS_TLS_CERT"})
        .option("nats-tls-key", "FILE", "", "the client certificate's key (PEM)", {"VS_NATS_TLS_KEY"});
}

options options_from(const vs::cli::parser& cli)
{
    options o;
    o.url = cli.get("nats-url");
    o.creds = cli.get("nats-creds");
    o.token = cli.get("nats-token");
    o.tls_ca = cli.get("nats-tls-ca");
    o.tls_cert = cli.get("nats-tls-cert");
    o.tls_key = cli.get("nats-tls-key");
    if (!o.token.empty()) {
        vs::redact::add_secret(o.token);
    }
    return o;
}

std::string describe(const options& o)
{
    std::string out;
    for (const auto& u : split(o.url, ',')) {
        std::string url = u;
        const auto scheme = url.find("://");
        const auto at = url.find('@');
        if (at != std::string::npos) {
            url.erase(scheme == std::string::npos ? 0 : scheme + 3, at + 1 - (scheme == std::string::npos ? 0 : scheme + 3));
        }
        out += (out.empty() ? "" : ",") + url;
    }
    return out;
}

std::string subject_token(std::string_view symbol)
{
    if (symbol.empty()) {
        return "_";
    }
    if (std::all_of(symbol.begin(), symbol.end(), [](char c) { return token_char(static_cast<unsigned char>(c)); }) &&
        symbol != "_") {
        return std::string{symbol};
    }
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out = "~";
    out.reserve(1 + 2 * symbol.size());
    for (const char c : symbol) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

std::optional<std::string> symbol_from_token(std::string_view token)
{
    if (token == "_") {
        return std::string{};
    }
    if (token.empty()) {
        return std::nullopt;
    }
    if (token.front() != '~') {
        if (!std::all_of(token.begin(), token.end(), [](char c) { return token_char(static_cast<unsigned char>(c)); })) {
            return std::nullopt;
        }
        return std::string{token};
    }
    token.remove_prefix(1);
    if (token.empty() || token.size() % 2 != 0) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(token.size() / 2);
    for (std::size_t i = 0; i < token.size(); i += 2) {
        const int hi = hex_value(token[i]);
        const int lo = hex_value(token[i + 1]);
        if (hi < 0 || lo < 0) {
            return std::nullopt;
        }
        out += static_cast<char>((hi << 4) | lo);
    }
    return out;
}

std::string subject(std::string_view channel, vs::bus::record_type type, std::string_view symbol)
{
    return fmt::format("{}.{}.{}.{}", root, channel, type_name(type), subject_token(symbol));
}

std::string json_subject(std::string_view channel, vs::bus::record_type type, std::string_view symbol)
{
    return fmt::format("{}.json.{}.{}.{}", root, channel, type_name(type), subject_token(symbol));
}

std::optional<subject_parts> parse_subject(std::string_view s)
{
    const auto parts = split(s, '.');
    subject_parts p;
    std::size_t i = 0;
    if (parts.size() == 5 && parts[0] == root && parts[1] == "json") {
        p.json = true;
        i = 2;
    } else if (parts.size() == 4 && parts[0] == root) {
        i = 1;
    } else {
        return std::nullopt;
    }
    p.channel = parts[i];
    p.type_name = parts[i + 1];
    p.type = vs::bus::parse_record_type(p.type_name).value_or(0);
    auto sym = symbol_from_token(parts[i + 2]);
    if (!sym) {
        return std::nullopt;
    }
    p.symbol = std::move(*sym);
    return p;
}

bool is_alert_type(vs::bus::record_type t) noexcept { return contains(alert_types, t); }

std::string alert_id(vs::bus::record_type t, std::span<const std::byte> data)
{
    if (!is_alert_type(t) || !vs::bus::verify_record(t, data)) {
        return {};
    }
    const flatbuffers::String* id = nullptr;
    switch (static_cast<RecordType>(t)) {
    case RecordType::VolumeSpikeAlert: id = vs::bus::record_as<vs::schema::VolumeSpikeAlert>(data)->alert_id(); break;
    case RecordType::OiSpikeAlert: id = vs::bus::record_as<vs::schema::OiSpikeAlert>(data)->alert_id(); break;
    case RecordType::UserAlertTrigger: id = vs::bus::record_as<vs::schema::UserAlertTrigger>(data)->alert_id(); break;
    case RecordType::LiquidationAlert: id = vs::bus::record_as<vs::schema::LiquidationAlert>(data)->alert_id(); break;
    case RecordType::WhaleTradeAlert: id = vs::bus::record_as<vs::schema::WhaleTradeAlert>(data)->alert_id(); break;
    default: break;
    }
    return id != nullptr ? id->str() : std::string{};
}

std::string msg_id(std::string_view channel, std::uint64_t generation, std::uint64_t sequence)
{
    return fmt::format("{}:{}:{}", channel, generation, sequence);
}

std::string snapshot_msg_id(std::string_view channel, std::uint64_t generation, std::uint64_t sequence,
                            std::string_view symbol)
{
    return fmt::format("{}:{}:snap:{}:{}", channel, generation, sequence, subject_token(symbol));
}

std::string alert_msg_id(std::string_view id) { return fmt::format("alert:{}", id); }

std::int64_t wall_ns() noexcept
{
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

msg_ptr make_message(const record_message& m)
{
    natsMsg* raw = nullptr;
    check(natsMsg_Create(&raw, m.subject.c_str(), nullptr, reinterpret_cast<const char*>(m.data.data()),
                         static_cast<int>(m.data.size())),
          "natsMsg_Create");
    msg_ptr msg{raw};
    check(natsMsgHeader_Set(raw, header::record_type, std::to_string(m.type).c_str()), "natsMsgHeader_Set");
    check(natsMsgHeader_Set(raw, header::schema_hash, fmt::format("{:016x}", m.schema_hash).c_str()),
          "natsMsgHeader_Set");
    check(natsMsgHeader_Set(raw, header::publish_ns, std::to_string(wall_ns()).c_str()), "natsMsgHeader_Set");
    if (m.bus_ns != 0) {
        check(natsMsgHeader_Set(raw, header::bus_ns, std::to_string(m.bus_ns).c_str()), "natsMsgHeader_Set");
    }
    if (m.snapshot) {
        check(natsMsgHeader_Set(raw, header::snapshot, "1"), "natsMsgHeader_Set");
    }
    if (!m.id.empty()) {
        check(natsMsgHeader_Set(raw, header::msg_id, m.id.c_str()), "natsMsgHeader_Set");
    }
    return msg;
}

std::string_view get_header(natsMsg* m, const char* key) noexcept
{
    const char* v = nullptr;
    if (natsMsgHeader_Get(m, key, &v) != NATS_OK || v == nullptr) {
        return {};
    }
    return v;
}

std::vector<stream_config> stream_configs()
{
    using namespace std::chrono_literals;
    std::vector<stream_config> out;
    stream_config alerts{"VOLSPIKE_ALERTS", {}, std::chrono::hours{24 * 7}, -1, 3600s, true};
    for (const auto t : alert_types) {
        alerts.subjects.push_back(fmt::format("{}.*.{}.*", root, type_name(static_cast<vs::bus::record_type>(t))));
    }
    for (const auto t : kept_types) {
        alerts.subjects.push_back(fmt::format("{}.*.{}.*", root, type_name(static_cast<vs::bus::record_type>(t))));
    }
    stream_config market{"VOLSPIKE_MARKET", {}, std::chrono::hours{1}, 32, 120s, true};
    for (const auto t : market_types) {
        market.subjects.push_back(fmt::format("{}.*.{}.*", root, type_name(static_cast<vs::bus::record_type>(t))));
    }
    // Five tokens: never overlaps the four-token subjects above (a channel named "json" included).
    stream_config json{"VOLSPIKE_JSON", {fmt::format("{}.json.*.*.*", root)}, std::chrono::hours{1}, 8, 120s, true};
    out.push_back(std::move(alerts));
    out.push_back(std::move(market));
    out.push_back(std::move(json));
    return out;
}

std::string stream_of(std::string_view /*channel*/, vs::bus::record_type type, bool json)
{
    if (json) {
        return "VOLSPIKE_JSON";
    }
    if (contains(alert_types, type) || contains(kept_types, type)) {
        return "VOLSPIKE_ALERTS";
    }
    if (contains(market_types, type)) {
        return "VOLSPIKE_MARKET";
    }
    return {};
}

// --- connection -----------------------------------------------------------------------------

namespace {

std::int64_t reconnect_delay(natsConnection*, int attempts, void*)
{
    // 100 ms, 200, 400, ... 5 s (libnats counts attempts over the whole server list).
    const int shift = std::clamp(attempts, 0, 6);
    return std::min<std::int64_t>(5000, std::int64_t{100} << shift);
}

}  // namespace

void connection::cb_disconnected(natsConnection*, void* self)
{
    auto* c = static_cast<connection*>(self);
    ++c->disconnects_;
    if (c->cb_.on_disconnected) {
        c->cb_.on_disconnected();
    }
}

void connection::cb_reconnected(natsConnection*, void* self)
{
    auto* c = static_cast<connection*>(self);
    ++c->reconnects_;
    if (c->cb_.on_reconnected) {
        c->cb_.on_reconnected();
    }
}

void connection::cb_connected(natsConnection*, void* self)
{
    auto* c = static_cast<connection*>(self);
    if (c->cb_.on_connected) {
        c->cb_.on_connected();
    }
}

void connection::cb_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* self)
{
    auto* c = static_cast<connection*>(self);
    if (c->cb_.on_publish_ack) {
        c->cb_.on_publish_ack(msg, pa, pae);
    }
    natsMsg_Destroy(msg);
}

connection::connection(const options& o, connection_callbacks cb) : cb_(std::move(cb))
{
    try {
        check(natsOptions_Create(&opts_), "natsOptions_Create");
        auto urls = split(o.url, ',');
        if (urls.empty()) {
            throw nats_error("no NATS URL");
        }
        std::vector<const char*> ptrs;
        bool tls = false;
        for (const auto& u : urls) {
            ptrs.push_back(u.c_str());
            tls = tls || u.rfind("tls://", 0) == 0;
        }
        check(natsOptions_SetServers(opts_, ptrs.data(), static_cast<int>(ptrs.size())), "NATS URL");
        if (tls || !o.tls_ca.empty()) {
            check(natsOptions_SetSecure(opts_, true), "NATS TLS");
        }
        if (!o.tls_ca.empty()) {
            check(natsOptions_LoadCATrustedCertificates(opts_, o.tls_ca.c_str()), "NATS TLS CA " + o.tls_ca);
        }
        if (!o.tls_cert.empty() || !o.tls_key.empty()) {
            check(natsOptions_LoadCertificatesChain(opts_, o.tls_cert.c_str(), o.tls_key.c_str()),
                  "NATS TLS certificate " + o.tls_cert);
        }
        if (!o.creds.empty()) {
            check(natsOptions_SetUserCredentialsFromFiles(opts_, o.creds.c_str(), nullptr),
                  "NATS credentials " + o.creds);
        }
        if (!o.token.empty()) {
            check(natsOptions_SetToken(opts_, o.token.c_str()), "NATS token");
        }
        if (!o.name.empty()) {
            check(natsOptions_SetName(opts_, o.name.c_str()), "NATS name");
        }
        check(natsOptions_SetTimeout(opts_, 2000), "NATS timeout");
        check(natsOptions_SetMaxReconnect(opts_, -1), "NATS reconnect");
        check(natsOptions_SetCustomReconnectDelay(opts_, reconnect_delay, nullptr), "NATS reconnect delay");
        check(natsOptions_SetReconnectBufSize(opts_, 8 << 20), "NATS reconnect buffer");
        check(natsOptions_SetPingInterval(opts_, 5000), "NATS ping");
        check(natsOptions_SetMaxPingsOut(opts_, 3), "NATS ping");
        check(natsOptions_SetDisconnectedCB(opts_, cb_disconnected, this), "NATS callbacks");
        check(natsOptions_SetReconnectedCB(opts_, cb_reconnected, this), "NATS callbacks");
        check(natsOptions_SetRetryOnFailedConnect(opts_, true, cb_connected, this), "NATS callbacks");
        const natsStatus s = natsConnection_Connect(&nc_, opts_);
        if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
            throw nats_error(fmt::format("NATS connect to {}: {}", describe(o), status_text(s)));
        }
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = 5000;
        jo.PublishAsync.MaxPending = cb_.max_pending;
        jo.PublishAsync.AckHandler = cb_ack;
        jo.PublishAsync.AckHandlerClosure = this;
        jo.PublishAsync.StallWait = 200;
        check(natsConnection_JetStream(&js_, nc_, &jo), "NATS JetStream context");
    } catch (...) {
        if (js_ != nullptr) {
            jsCtx_Destroy(js_);
        }
        if (nc_ != nullptr) {
            natsConnection_Destroy(nc_);
        }
        if (opts_ != nullptr) {
            natsOptions_Destroy(opts_);
        }
        throw;
    }
}

connection::~connection()
{
    if (js_ != nullptr) {
        jsCtx_Destroy(js_);
    }
    if (nc_ != nullptr) {
        natsConnection_Close(nc_);
        natsConnection_Destroy(nc_);
    }
    if (opts_ != nullptr) {
        natsOptions_Destroy(opts_);
    }
}

bool connection::connected() const noexcept { return natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }

void connection::ensure_streams()
{
    for (const auto& sc : stream_configs()) {
        std::vector<const char*> subjects;
        for (const auto& s : sc.subjects) {
            subjects.push_back(s.c_str());
        }
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = sc.name.c_str();
        cfg.Subjects = subjects.data();
        cfg.SubjectsLen = static_cast<int>(subjects.size());
        cfg.Storage = sc.file_storage ? js_FileStorage : js_MemoryStorage;
        cfg.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(sc.max_age).count();
        cfg.MaxMsgsPerSubject = sc.max_msgs_per_subject;
        cfg.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(sc.duplicates).count();
        jsStreamInfo* si = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_GetStreamInfo(&si, js_, sc.name.c_str(), nullptr, &jerr);
        if (s == NATS_NOT_FOUND) {
            s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
            if (s != NATS_OK) {
                throw nats_error(fmt::format("creating stream {}: {} (JetStream error {})", sc.name, status_text(s),
                                             static_cast<int>(jerr)));
            }
            spdlog::info("NATS stream {} created ({})", sc.name, fmt::join(sc.subjects, " "));
        } else if (s == NATS_OK) {
            jsStreamInfo_Destroy(si);
            si = nullptr;
            s = js_UpdateStream(&si, js_, &cfg, nullptr, &jerr);
            if (s != NATS_OK) {
                throw nats_error(fmt::format("updating stream {}: {} (JetStream error {})", sc.name, status_text(s),
                                             static_cast<int>(jerr)));
            }
        } else {
            throw nats_error(fmt::format("stream {}: {} (JetStream error {}; is JetStream enabled, nats-server -js?)",
                                         sc.name, status_text(s), static_cast<int>(jerr)));
        }
        jsStreamInfo_Destroy(si);
    }
}

bool connection::publish_async(msg_ptr m, std::string* error)
{
    natsMsg* raw = m.release();
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 5000;
    const natsStatus s = js_PublishMsgAsync(js_, &raw, &po);
    if (raw != nullptr) {   // not taken
        natsMsg_Destroy(raw);
    }
    if (s != NATS_OK) {
        if (error != nullptr) {
            *error = status_text(s);
        }
        return false;
    }
    return true;
}

bool connection::publish_async_complete(std::chrono::milliseconds timeout)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout.count();
    return js_PublishAsyncComplete(js_, &po) == NATS_OK;
}

bool connection::publish_sync(natsMsg* m, std::chrono::milliseconds timeout)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout.count();
    jsPubAck* pa = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_PublishMsg(&pa, js_, m, &po, &jerr);
    if (s != NATS_OK) {
        throw nats_error(fmt::format("JetStream publish {}: {} (JetStream error {})", natsMsg_GetSubject(m),
                                     status_text(s), static_cast<int>(jerr)));
    }
    const bool dup = pa != nullptr && pa->Duplicate;
    jsPubAck_Destroy(pa);
    return dup;
}

}  // namespace vs::nats
