// vs-nats: the bus beyond one host through NATS JetStream (issue 17).
//   publish (default): follows `market`, `oi` and the alert channels and publishes every record
//     on volspike.<channel>.<RecordType>.<token> (body = the record's FlatBuffer as on the bus;
//     --format json|both: the same records as JSON on volspike.json.…), JetStream async publish
//     with acks; after an outage or a lapped ring, the latest table (Vs-Snapshot: 1) instead.
//   --mirror: durable JetStream consumers (the latest value of every subject first, then
//     everything new) write local bus channels of the same names under --bus-prefix.
// Conventions (subjects, headers, ids, streams): common/nats; README.md in this folder.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "channels.hpp"
#include "schemas/common_generated.h"
#include "schemas/market_data_generated.h"
#include "vs/bus/records.hpp"
#include "vs/daemon/daemon.hpp"
#include "vs/nats/nats.hpp"

namespace {

using namespace std::chrono_literals;
using vs::nats_process::channel_spec;
constexpr auto process_status_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::ProcessStatus);
constexpr auto kline_type = static_cast<vs::bus::record_type>(vs::schema::RecordType::Kline);

std::vector<std::string> split_list(const std::string& s)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        const auto p = s.find(',', start);
        auto part = s.substr(start, p == std::string::npos ? std::string::npos : p - start);
        part.erase(0, part.find_first_not_of(' '));
        part.erase(part.find_last_not_of(' ') + 1);
        if (!part.empty()) {
            out.push_back(part);
        }
        if (p == std::string::npos) {
            break;
        }
        start = p + 1;
    }
    return out;
}

std::span<const std::byte> as_bytes(const std::string& s)
{
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// ---- publish ------------------------------------------------------------------------------

int run_publish(vs::daemon::context& ctx)
{
    const auto& cli = ctx.options();
    const auto format = cli.get("format");
    if (format != "binary" && format != "json" && format != "both") {
        throw vs::cli::usage_error("--format must be binary, json or both, got '" + format + "'");
    }
    const bool binary = format != "json";
    const bool json = format != "binary";
    const auto channel_names = split_list(cli.get("channels"));
    const auto snapshot_names = split_list(cli.get("snapshot-channels"));
    auto opts = vs::nats::options_from(cli);
    opts.name = ctx.program() + "@" + ctx.bus_prefix();

    auto& published = ctx.counter("published");
    auto& acked = ctx.counter("acked");
    auto& duplicates = ctx.counter("ack_duplicates");
    auto& publish_errors = ctx.counter("publish_errors");
    auto& resent = ctx.counter("alerts_resent");
    auto& snapshots = ctx.counter("snapshots");
    auto& snapshot_records = ctx.counter("snapshot_records");
    auto& invalid = ctx.counter("records_invalid");
    auto& skipped = ctx.counter("records_skipped");
    auto& disconnects = ctx.counter("disconnects");
    auto& json_published = ctx.counter("json_published");

    std::atomic<bool> reconnected{false};
    std::atomic<bool> closing{false};   // our own close: not an outage
    std::atomic<std::uint64_t> last_error_logged_ns{0};
    std::unique_ptr<vs::nats::connection> conn;
    vs::nats::connection_callbacks cb;
    cb.on_disconnected = [&] {
        if (closing) {
            return;
        }
        ++disconnects;
        spdlog::warn("NATS connection lost ({}); publishing paused, reconnecting", vs::nats::describe(opts));
    };
    cb.on_reconnected = [&] {
        spdlog::info("NATS reconnected");
        reconnected = true;
    };
    cb.on_publish_ack = [&](natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae) {
        if (pa != nullptr) {
            ++acked;
            if (pa->Duplicate) {
                ++duplicates;
            }
            return;
        }
        ++publish_errors;
        const auto id = vs::nats::get_header(msg, vs::nats::header::msg_id);
        const auto now = static_cast<std::uint64_t>(vs::nats::wall_ns());
        if (now - last_error_logged_ns.load() > 5'000'000'000ull) {
            last_error_logged_ns = now;
            spdlog::warn("JetStream publish of {} failed: {} {}", natsMsg_GetSubject(msg),
                         pae != nullptr ? vs::nats::status_text(pae->Err) : std::string{"?"},
                         pae != nullptr && pae->ErrText != nullptr ? pae->ErrText : "");
        }
        // An alert is sent again (its Nats-Msg-Id makes a second copy a duplicate). Market data is
        // not: the latest table goes out after a reconnect.
        if (id.rfind("alert:", 0) == 0 && conn) {
            if (js_PublishMsgAsync(conn->js(), &msg, nullptr) == NATS_OK) {
                ++resent;
            }
        }
    };
    try {
        conn = std::make_unique<vs::nats::connection>(opts, cb);
    } catch (const vs::nats::nats_error& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }

    struct followed {
        std::string name;
        vs::daemon::follower f;
        bool data;                  // market data: a snapshot after an outage instead of the ring
        std::uint64_t schema_hash = 0;
        std::uint64_t generation = 0;
    };
    std::vector<followed> chans;
    for (const auto& n : channel_names) {
        chans.push_back({n, ctx.follow(n), std::find(snapshot_names.begin(), snapshot_names.end(), n) != snapshot_names.end()});
    }
    vs::bus::json_decoder decoder;
    bool streams_ok = false;
    std::string streams_error;
    bool was_connected = false;
    bool ever_connected = false;   // the first connection: the followers' first attach publishes the tables

    auto publish_one = [&](followed& c, const vs::bus::record_view& r, std::string_view key, bool snapshot,
                           std::uint64_t snap_seq) {
        if (r.type == process_status_type) {
            return;   // host-local
        }
        if (vs::nats::stream_of(c.name, r.type, false).empty()) {
            ++skipped;
            return;
        }
        if (!vs::bus::verify_record(r.type, r.data)) {
            ++invalid;
            return;
        }
        const std::string symbol{snapshot ? key : vs::bus::record_symbol(r.data)};
        vs::nats::record_message m;
        m.type = r.type;
        m.schema_hash = c.schema_hash;
        m.bus_ns = r.publish_ns;
        m.snapshot = snapshot;
        const auto aid = vs::nats::alert_id(r.type, r.data);
        m.id = !aid.empty() ? vs::nats::alert_msg_id(aid)
               : snapshot   ? vs::nats::snapshot_msg_id(c.name, c.generation, snap_seq, symbol)
                            : vs::nats::msg_id(c.name, c.generation, r.position);
        std::string err;
        if (binary) {
            m.subject = vs::nats::subject(c.name, r.type, symbol);
            m.data = r.data;
            if (conn->publish_async(vs::nats::make_message(m), &err)) {
                ++published;
            } else {
                ++publish_errors;
                spdlog::debug("publish {}: {}", m.subject, err);
            }
        }
        if (json) {
            if (auto text = decoder.decode(r.type, r.data)) {
                m.subject = vs::nats::json_subject(c.name, r.type, symbol);
                m.data = as_bytes(*text);
                if (conn->publish_async(vs::nats::make_message(m), &err)) {
                    ++json_published;
                } else {
                    ++publish_errors;
                }
            }
        }
        if (snapshot) {
            ++snapshot_records;
        }
    };
    auto refresh = [&](followed& c) {
        const auto st = c.f.table().status();
        c.schema_hash = st.schema_hash;
        c.generation = st.generation;
    };
    // The latest table, one message per (type, key), marked Vs-Snapshot: 1.
    auto snapshot = [&](followed& c) {
        refresh(c);
        const auto seq = c.f.table().status().records_published;
        std::size_t n = 0;
        c.f.table().for_each_latest(0, [&](const vs::bus::record_view& r) {
            publish_one(c, r, r.symbol, true, seq);
            ++n;
        });
        ++snapshots;
        spdlog::info("{}: latest table published ({} records)", c.name, n);
    };

    ctx.set_probe([&] {
        if (!conn->connected()) {
            return vs::daemon::health::bad("NATS not connected (" + vs::nats::describe(opts) + ")");
        }
        if (!streams_ok) {
            return vs::daemon::health::bad("JetStream streams not set up: " + streams_error);
        }
        return vs::daemon::health::good(fmt::format("{} published, {} acked, {} errors", published.load(), acked.load(),
                                                    publish_errors.load()));
    });
    spdlog::info("publishing {} to {} ({})", cli.get("channels"), vs::nats::describe(opts), format);

    auto last_stream_try = std::chrono::steady_clock::time_point{};
    while (ctx.wait(5ms, chans.empty() ? nullptr : &chans.front().f)) {
        if (!conn->connected()) {
            was_connected = false;
            continue;   // the rings keep the records (alerts); market data: a snapshot after
        }
        if (reconnected.exchange(false)) {
            was_connected = false;   // however short the outage was
        }
        if (!streams_ok || !was_connected) {
            const auto now = std::chrono::steady_clock::now();
            if (!streams_ok && now - last_stream_try < 1s) {
                continue;
            }
            last_stream_try = now;
            try {
                conn->ensure_streams();   // a server restarted without its store needs them again
                if (!streams_ok) {
                    spdlog::info("JetStream streams ready");
                }
                streams_ok = true;
            } catch (const vs::nats::nats_error& e) {
                if (streams_ok || streams_error != e.what()) {
                    spdlog::error("{}", e.what());
                }
                streams_ok = false;
                streams_error = e.what();
                continue;
            }
            if (!was_connected && ever_connected) {
                for (auto& c : chans) {
                    // After an outage: market data resumes from its latest table, the alert
                    // channels from where their ring was left (a lapped one: from its table).
                    if (c.data && c.f.attached()) {
                        c.f.table().seek_to_tail();
                        snapshot(c);
                    }
                }
            }
            was_connected = true;
            ever_connected = true;
        }
        for (auto& c : chans) {
            c.f.poll([&](const vs::bus::record_view& r) { publish_one(c, r, {}, false, 0); },
                     [&] {
                         spdlog::info("{}: new writer, first attach or lapped: its latest table instead of the ring",
                                      c.name);
                         snapshot(c);
                     },
                     4096);
        }
    }
    conn->publish_async_complete(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max<std::chrono::steady_clock::duration>(0s, ctx.drain_deadline() - std::chrono::steady_clock::now())));
    closing = true;
    conn.reset();
    nats_Close();   // libnats' own threads and state
    return 0;
}

// ---- mirror -------------------------------------------------------------------------------

struct inbox {
    std::mutex m;
    std::condition_variable cv;
    std::deque<natsMsg*> q;
};

void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure)
{
    auto* in = static_cast<inbox*>(closure);
    {
        std::lock_guard lock{in->m};
        in->q.push_back(msg);
    }
    in->cv.notify_one();
}

int run_mirror(vs::daemon::context& ctx)
{
    const auto& cli = ctx.options();
    const auto channel_names = split_list(cli.get("channels"));
    const auto durable = cli.get("durable");
    const auto kept = static_cast<std::uint64_t>(cli.get_int("alert-ids-kept", 100, 100'000'000));
    if (durable.empty() || durable.find_first_of(".*> ") != std::string::npos) {
        throw vs::cli::usage_error("--durable must be a non-empty name without '.', '*', '>' or spaces");
    }
    auto opts = vs::nats::options_from(cli);
    opts.name = ctx.program() + "-mirror@" + ctx.bus_prefix();

    struct mirrored {
        const channel_spec* spec;
        std::uint64_t schema_hash;
        vs::bus::writer w;
        bool dirty = false;
        bool refused_logged = false;
    };
    std::map<std::string, mirrored, std::less<>> out;
    for (const auto& n : channel_names) {
        const auto* spec = vs::nats_process::find_channel(n);
        if (spec == nullptr) {
            throw vs::cli::usage_error("--channels: unknown channel '" + n + "' (known: market, oi, volume, user_alerts, "
                                       "liquidations, news)");
        }
        try {
            out.emplace(n, mirrored{spec, vs::nats_process::schema_hash_of(*spec),
                                    vs::bus::writer{vs::nats_process::config_of(*spec, ctx.bus_prefix())}});
        } catch (const vs::bus::bus_error& e) {
            spdlog::critical("{} (is a producer of '{}' running on this host? the mirror must be its only writer)",
                             e.what(), n);
            return 1;
        }
    }

    auto& records = ctx.counter("records");
    auto& snapshot_records = ctx.counter("snapshot_records");
    auto& redeliveries = ctx.counter("redeliveries");
    auto& mismatches = ctx.counter("schema_mismatches");
    auto& invalid = ctx.counter("records_invalid");
    auto& skipped = ctx.counter("records_skipped");
    auto& dup_alerts = ctx.counter("alerts_duplicate_dropped");
    auto& alerts = ctx.counter("alerts_written");
    auto& disconnects = ctx.counter("disconnects");
    auto& commit_failures = ctx.counter("state_commit_failures");

    inbox in;
    std::atomic<bool> closing{false};   // our own close: not an outage
    vs::nats::connection_callbacks cb;
    cb.on_disconnected = [&] {
        if (closing) {
            return;
        }
        ++disconnects;
        spdlog::warn("NATS connection lost ({}); reconnecting, the durable consumers resume where they were",
                     vs::nats::describe(opts));
    };
    cb.on_reconnected = [] { spdlog::info("NATS reconnected"); };
    std::unique_ptr<vs::nats::connection> conn;
    try {
        conn = std::make_unique<vs::nats::connection>(opts, cb);
    } catch (const vs::nats::nats_error& e) {
        spdlog::critical("{}", e.what());
        return 1;
    }

    // The alert ids already written (exactly once on this host beyond JetStream's duplicate
    // window): "seen:<id>" -> its number, "seenq:<number>" -> id, bounded to --alert-ids-kept.
    auto state_u64 = [&](const std::string& key) {
        const auto v = ctx.state(key);
        return v ? std::stoull(*v) : 0ull;
    };
    std::uint64_t seen_next = state_u64("seen_next");
    std::uint64_t seen_first = state_u64("seen_first");

    struct sub_t {
        std::string stream;
        std::string consumer;
        natsSubscription* sub = nullptr;
    };
    std::vector<sub_t> subs{{"VOLSPIKE_MARKET", durable + "-market"}, {"VOLSPIKE_ALERTS", durable + "-alerts"}};
    std::string sub_error;
    std::string refused;   // a schema mismatch: why (unhealthy while set)
    std::int64_t refused_at_ns = 0;
    double lag_ms = 0;
    std::uint64_t rate_base = 0;
    auto rate_at = std::chrono::steady_clock::now();

    auto subscribe = [&] {
        for (auto& s : subs) {
            if (s.sub != nullptr) {
                continue;
            }
            jsSubOptions so;
            jsSubOptions_Init(&so);
            so.Stream = s.stream.c_str();
            so.ManualAck = true;
            so.Config.Durable = s.consumer.c_str();
            so.Config.DeliverPolicy = js_DeliverLastPerSubject;
            so.Config.AckPolicy = js_AckExplicit;
            so.Config.AckWait = std::chrono::nanoseconds{30s}.count();
            so.Config.MaxAckPending = 8192;
            jsErrCode jerr = static_cast<jsErrCode>(0);
            const natsStatus st =
                js_Subscribe(&s.sub, conn->js(), "volspike.>", on_message, &in, nullptr, &so, &jerr);
            if (st != NATS_OK) {
                s.sub = nullptr;
                const auto why = fmt::format("subscribing {} on {}: {} (JetStream error {})", s.consumer, s.stream,
                                             vs::nats::status_text(st), static_cast<int>(jerr));
                if (why != sub_error) {
                    spdlog::error("{} (the publisher creates the streams; retrying)", why);
                }
                sub_error = why;
                return;
            }
            spdlog::info("durable consumer {} on {} bound (a new one starts with the latest value of every subject, "
                         "an existing one resumes where it was)",
                         s.consumer, s.stream);
        }
        sub_error.clear();
    };

    ctx.set_probe([&] {
        const auto now = std::chrono::steady_clock::now();
        // Over windows of at least 2 s (market data arrives in bursts, once a second).
        const double secs = std::chrono::duration<double>(now - rate_at).count();
        if (secs >= 2.0) {
            ctx.gauge("records_per_s", static_cast<double>(records.load() - rate_base) / secs);
            rate_base = records.load();
            rate_at = now;
        }
        ctx.gauge("lag_ms", lag_ms);
        const bool connected = conn->connected();
        ctx.gauge("connected", connected ? 1 : 0);
        if (!connected) {
            return vs::daemon::health::bad("NATS not connected (" + vs::nats::describe(opts) + ")");
        }
        if (!refused.empty() && vs::nats::wall_ns() - refused_at_ns < 60'000'000'000) {
            return vs::daemon::health::bad(refused);
        }
        if (!sub_error.empty()) {
            return vs::daemon::health::bad(sub_error);
        }
        return vs::daemon::health::good(fmt::format("{} records, lag {:.1f} ms", records.load(), lag_ms));
    });
    spdlog::info("mirroring {} from {} onto bus prefix '{}'", cli.get("channels"), vs::nats::describe(opts),
                 ctx.bus_prefix());

    std::vector<natsMsg*> batch;
    std::vector<std::uint64_t> aligned;   // the record being handled, 8-byte aligned
    std::vector<natsMsg*> to_ack;
    std::vector<vs::outbox::state_change> changes;
    std::vector<std::string> batch_ids;
    auto last_sub_try = std::chrono::steady_clock::time_point{};
    while (!ctx.stopping()) {
        ctx.service();
        for (auto& [name, m] : out) {
            m.w.heartbeat();
        }
        if ((subs[0].sub == nullptr || subs[1].sub == nullptr) && conn->connected() &&
            std::chrono::steady_clock::now() - last_sub_try > 1s) {
            last_sub_try = std::chrono::steady_clock::now();
            subscribe();
        }
        {
            std::unique_lock lock{in.m};
            in.cv.wait_for(lock, 100ms, [&] { return !in.q.empty(); });
            batch.assign(in.q.begin(), in.q.end());
            in.q.clear();
        }
        if (batch.empty()) {
            continue;
        }
        const auto now_ns = vs::nats::wall_ns();
        to_ack.clear();
        changes.clear();
        batch_ids.clear();
        for (natsMsg* msg : batch) {
            auto done = [&](bool ack) {
                if (ack) {
                    to_ack.push_back(msg);
                } else {
                    natsMsg_Destroy(msg);
                }
            };
            jsMsgMetaData* meta = nullptr;
            if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
                if (meta->NumDelivered > 1) {
                    ++redeliveries;
                }
                jsMsgMetaData_Destroy(meta);
            }
            const auto parts = vs::nats::parse_subject(natsMsg_GetSubject(msg));
            auto it = parts ? out.find(parts->channel) : out.end();
            if (!parts || parts->json || it == out.end()) {
                ++skipped;
                done(true);
                continue;
            }
            auto& ch = it->second;
            const auto type_text = vs::nats::get_header(msg, vs::nats::header::record_type);
            const auto hash_text = vs::nats::get_header(msg, vs::nats::header::schema_hash);
            // The body sits at any offset in libnats' message buffer: FlatBuffers need it aligned.
            const auto body_len = static_cast<std::size_t>(natsMsg_GetDataLength(msg));
            aligned.resize(body_len / sizeof(std::uint64_t) + 1);
            std::memcpy(aligned.data(), natsMsg_GetData(msg), body_len);
            const std::span<const std::byte> data{reinterpret_cast<const std::byte*>(aligned.data()), body_len};
            std::uint64_t hash = 0;
            try {
                hash = std::stoull(std::string{hash_text}, nullptr, 16);
            } catch (...) {
            }
            if (hash != ch.schema_hash) {
                ++mismatches;
                refused = fmt::format("schema mismatch on channel '{}': host A's records have schema hash {} and this "
                                      "build's is {:016x}; refused (nothing written). Run the same vs-nats build on "
                                      "both hosts.",
                                      parts->channel, hash_text.empty() ? "(none)" : std::string{hash_text},
                                      ch.schema_hash);
                refused_at_ns = now_ns;
                if (!ch.refused_logged) {
                    spdlog::error("{}", refused);
                    ch.refused_logged = true;
                    ctx.publish_status();
                }
                natsMsg_NakWithDelay(msg, 10'000, nullptr);   // kept on the server for a fixed build
                natsMsg_Destroy(msg);
                continue;
            }
            if (type_text != std::to_string(parts->type) || parts->type == 0 ||
                std::find(ch.spec->types.begin(), ch.spec->types.end(), parts->type) == ch.spec->types.end() ||
                !vs::bus::verify_record(parts->type, data)) {
                ++invalid;
                spdlog::warn("{}: record type {} / {} bytes do not verify; dropped", natsMsg_GetSubject(msg),
                             std::string{type_text}, data.size());
                natsMsg_Term(msg, nullptr);
                natsMsg_Destroy(msg);
                continue;
            }
            const auto aid = vs::nats::alert_id(parts->type, data);
            if (!aid.empty()) {
                const bool in_batch = std::find(batch_ids.begin(), batch_ids.end(), aid) != batch_ids.end();
                if (in_batch || ctx.state("seen:" + aid)) {
                    ++dup_alerts;
                    done(true);
                    continue;
                }
                batch_ids.push_back(aid);
                const auto n = seen_next++;
                changes.push_back({"seen:" + aid, std::to_string(n)});
                changes.push_back({fmt::format("seenq:{:020}", n), aid});
            }
            const bool snap = vs::nats::get_header(msg, vs::nats::header::snapshot) == "1";
            std::int64_t bus_ns = now_ns;
            if (const auto b = vs::nats::get_header(msg, vs::nats::header::bus_ns); !b.empty()) {
                bus_ns = std::strtoll(std::string{b}.c_str(), nullptr, 10);
            }
            const auto st = ch.w.publish(parts->type, parts->symbol, data, bus_ns, snap ? vs::bus::to_table : vs::bus::to_both);
            if (st != vs::bus::publish_status::ok && st != vs::bus::publish_status::table_full) {
                ++invalid;
            }
            // vs-feed keeps a closed kline also under "<S>@prev" (table only, never in the ring:
            // producers/feed/src/feed.hpp, kline_prev_key_suffix); the mirror does the same with
            // the closed klines it receives, so vs-volume on host B finds the previous hour.
            if (!snap && parts->type == kline_type) {
                if (const auto* k = vs::bus::record_as<vs::schema::Kline>(data); k != nullptr && k->closed()) {
                    ch.w.publish(parts->type, parts->symbol + "@prev", data, bus_ns, vs::bus::to_table);
                }
            }
            ch.dirty = true;
            ++records;
            if (snap) {
                ++snapshot_records;
            }
            if (!aid.empty()) {
                ++alerts;
            }
            if (const auto p = vs::nats::get_header(msg, vs::nats::header::publish_ns); !p.empty()) {
                lag_ms = static_cast<double>(now_ns - std::strtoll(std::string{p}.c_str(), nullptr, 10)) / 1e6;
            }
            done(true);
        }
        for (auto& [name, m] : out) {
            if (m.dirty) {
                m.w.notify();
                m.dirty = false;
            }
        }
        bool committed = true;
        if (!changes.empty()) {
            changes.push_back({"seen_next", std::to_string(seen_next)});
            while (seen_next - seen_first > kept) {
                const auto key = fmt::format("seenq:{:020}", seen_first);
                if (const auto old = ctx.state(key)) {
                    changes.push_back({"seen:" + *old, std::nullopt});
                }
                changes.push_back({key, std::nullopt});
                ++seen_first;
            }
            changes.push_back({"seen_first", std::to_string(seen_first)});
            try {
                ctx.commit({}, changes);
            } catch (const std::exception& e) {
                // Not acknowledged: JetStream delivers them again (the bus may then show them twice).
                ++commit_failures;
                committed = false;
            }
        }
        for (natsMsg* msg : to_ack) {
            if (committed) {
                natsMsg_Ack(msg, nullptr);
            }
            natsMsg_Destroy(msg);
        }
    }
    for (auto& s : subs) {
        if (s.sub != nullptr) {
            natsSubscription_Unsubscribe(s.sub);   // unsubscribes only: the durable consumer stays
            natsSubscription_Destroy(s.sub);
        }
    }
    closing = true;
    conn.reset();   // no callback after this
    for (natsMsg* m : in.q) {
        natsMsg_Destroy(m);
    }
    in.q.clear();
    nats_Close();
    return 0;
}

bool has_mirror_flag(int argc, char** argv)
{
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--mirror") == 0) {
            return true;
        }
    }
    return false;
}

}  // namespace

int main(int argc, char** argv)
{
    const bool mirror = has_mirror_flag(argc, argv);
    vs::daemon::spec s{
        "vs-nats",
        "The bus beyond one host through NATS JetStream: publish market, oi and alert channels (default), or with "
        "--mirror write them onto this host's bus from a durable JetStream consumer.",
        "VS_NATS_URL=nats://nats-a:4222 vs-nats --bus-prefix volspike --state-dir /var/lib/volspike\n"
        "  vs-nats --format both                  # and JSON on volspike.json.> for other languages\n"
        "  VS_NATS_URL=tls://nats-a:4222 VS_NATS_CREDS=/etc/volspike/b.creds vs-nats --mirror --state-dir /var/lib/volspike"};
    s.channel = mirror ? "nats_mirror" : "nats";
    s.channel_option = "channel";
    s.channel_option_help = "bus channel of this process's status (default: nats, with --mirror nats_mirror)";
    s.record_types = {process_status_type};
    s.ring_bytes = 1u << 16;
    s.table_slots = 16;
    s.snapshots = false;   // only ProcessStatus, never restored
    s.outbox = mirror;     // the mirror's state (the alert ids it wrote)
    s.drain = 3s;
    return vs::daemon::main(
        s, argc, argv,
        [](vs::cli::parser& cli) {
            vs::nats::add_options(cli);
            cli.flag("mirror", "mirror mode (host B): durable JetStream consumers write the channels onto this bus");
            cli.option("channels", "LIST", "market,oi,volume,user_alerts,liquidations,news",
                       "bus channels to publish (or, with --mirror, to write); a missing one is retried",
                       {"VS_NATS_CHANNELS"});
            cli.option("snapshot-channels", "LIST", "market,oi",
                       "market-data channels: after a NATS outage their latest table is published instead of the ring "
                       "(the other channels resume their ring)",
                       {"VS_NATS_SNAPSHOT_CHANNELS"});
            cli.option("format", "FORMAT", "binary",
                       "binary (the FlatBuffers as on the bus), json (volspike.json.…) or both", {"VS_NATS_FORMAT"});
            cli.option("durable", "NAME", "vs-nats-mirror",
                       "--mirror: durable consumer name prefix (<NAME>-market, <NAME>-alerts), one per mirror host",
                       {"VS_NATS_DURABLE"});
            cli.option("alert-ids-kept", "N", "100000",
                       "--mirror: alert ids remembered (LMDB) to write each alert once beyond JetStream's 1 h window",
                       {"VS_NATS_ALERT_IDS_KEPT"});
        },
        [mirror](vs::daemon::context& ctx) { return mirror ? run_mirror(ctx) : run_publish(ctx); });
}
