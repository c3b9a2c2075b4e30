#include "vs/api/alert_log.hpp"

#include <algorithm>
#include <cmath>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "schemas/alerts_generated.h"
#include "schemas/news_generated.h"
#include "vs/api/json_writer.hpp"
#include "vs/api/render.hpp"
#include "vs/common/clock.hpp"
#include "vs/outbox/outbox.hpp"

namespace vs::api {
namespace {

using schema::RecordType;
constexpr auto volume_type = static_cast<bus::record_type>(RecordType::VolumeSpikeAlert);
constexpr auto oi_type = static_cast<bus::record_type>(RecordType::OiSpikeAlert);
constexpr auto user_type = static_cast<bus::record_type>(RecordType::UserAlertTrigger);
constexpr auto liquidation_type = static_cast<bus::record_type>(RecordType::LiquidationAlert);
constexpr auto whale_type = static_cast<bus::record_type>(RecordType::WhaleTradeAlert);
constexpr auto news_type = static_cast<bus::record_type>(RecordType::NewsPost);

std::string_view sv(const flatbuffers::String* s) noexcept
{
    return s == nullptr ? std::string_view{} : std::string_view{s->c_str(), s->size()};
}

// "$1.23M", "$456.7K", "$12.34"
std::string usd(double v)
{
    if (!std::isfinite(v)) {
        return "$?";
    }
    const double a = std::fabs(v);
    if (a >= 1e9) {
        return fmt::format("${:.2f}B", v / 1e9);
    }
    if (a >= 1e6) {
        return fmt::format("${:.2f}M", v / 1e6);
    }
    if (a >= 1e3) {
        return fmt::format("${:.1f}K", v / 1e3);
    }
    return fmt::format("${:.2f}", v);
}

std::string num(double v) { return std::isfinite(v) ? fmt::format("{:g}", v) : std::string{"?"}; }

std::string_view side_name(schema::Side s) noexcept
{
    switch (s) {
    case schema::Side::Buy: return "BUY";
    case schema::Side::Sell: return "SELL";
    default: return "UNKNOWN";
    }
}

std::string_view market_name(schema::MarketType m) noexcept
{
    switch (m) {
    case schema::MarketType::UsdM: return "USD-M";
    case schema::MarketType::CoinM: return "COIN-M";
    default: return "unknown";
    }
}

// The members every alert table shares, then the table's own (inside "fields").
template <class T>
void common_fields(json_writer& w, const T& a)
{
    w.member("symbol", sv(a.symbol()));
    w.member("event_time_ms", a.event_time_ms());
    w.member("recv_time_ns", a.recv_time_ns());
    w.member("market", market_name(a.market()));
    w.member("alert_id", sv(a.alert_id()));
}

template <class T>
const T* as(const bus::record_view& r) noexcept
{
    return verified_as<T>(r.data);
}

}  // namespace

std::string_view alert_kind(bus::record_type type) noexcept
{
    switch (type) {
    case volume_type: return "volume";
    case oi_type: return "oi";
    case user_type: return "user";
    case liquidation_type: return "liquidation";
    case whale_type: return "whale";
    default: return {};
    }
}

std::optional<alert_item> render_alert(std::string_view channel, const bus::record_view& r)
{
    const auto kind = alert_kind(r.type);
    if (kind.empty()) {
        return std::nullopt;
    }
    alert_item a;
    a.kind = kind;
    a.type = schema::EnumNameRecordType(static_cast<RecordType>(r.type));
    a.channel = channel;
    a.publish_ns = r.publish_ns;
    std::string summary;
    std::string fields;
    json_writer f{fields};
    f.begin_object();
    std::string_view alert_id;
    std::int64_t event_ms = 0;
    switch (r.type) {
    case volume_type: {
        const auto* v = as<schema::VolumeSpikeAlert>(r);
        if (v == nullptr) {
            return std::nullopt;
        }
        common_fields(f, *v);
        f.member("kind", sv(v->kind()));
        f.member("candle_open_time_ms", v->candle_open_time_ms());
        f.member("current_volume_usd", v->current_volume_usd());
        f.member("previous_volume_usd", v->previous_volume_usd());
        f.member("volume_ratio", v->volume_ratio());
        f.member("price_change_percent", v->price_change_percent());
        f.member("funding_rate", v->funding_rate());
        f.member("bullish", v->bullish());
        a.symbol = sv(v->symbol());
        alert_id = sv(v->alert_id());
        event_ms = v->event_time_ms();
        const auto k = sv(v->kind());
        summary = fmt::format("{} hourly volume {} ({}x prev){}{}", a.symbol, usd(v->current_volume_usd()),
                              num(std::round(v->volume_ratio() * 100) / 100),
                              std::isfinite(v->price_change_percent())
                                  ? fmt::format(", price {:+.2f}%", v->price_change_percent())
                                  : std::string{},
                              k == "spike" || k.empty() ? " - VOLUME SPIKE" : fmt::format(" - {}", k));
        break;
    }
    case oi_type: {
        const auto* o = as<schema::OiSpikeAlert>(r);
        if (o == nullptr) {
            return std::nullopt;
        }
        common_fields(f, *o);
        f.member("timeframe", sv(o->timeframe()));
        f.member("direction", static_cast<int>(o->direction()));
        f.member("baseline_oi", o->baseline_oi());
        f.member("current_oi", o->current_oi());
        f.member("pct_change", o->pct_change());
        f.member("abs_change", o->abs_change());
        f.member("mark_price", o->mark_price());
        f.member("current_oi_usd", o->current_oi_usd());
        a.symbol = sv(o->symbol());
        alert_id = sv(o->alert_id());
        event_ms = o->event_time_ms();
        // pct_change is a fraction (0.052 = 5.2 %), as vs-oi's rules compute it.
        const double pct = o->pct_change() * 100.0;
        summary = fmt::format("{} open interest {} {:.2f}% in {} (now {}{})", a.symbol,
                              o->direction() < 0 ? "down" : "up", std::fabs(pct), sv(o->timeframe()),
                              num(o->current_oi()),
                              std::isfinite(o->current_oi_usd()) ? ", " + usd(o->current_oi_usd()) : std::string{});
        break;
    }
    case user_type: {
        const auto* u = as<schema::UserAlertTrigger>(r);
        if (u == nullptr) {
            return std::nullopt;
        }
        common_fields(f, *u);
        f.member("user_alert_id", sv(u->user_alert_id()));
        f.member("alert_type", sv(u->alert_type()));
        f.member("direction", sv(u->direction()));
        f.member("threshold", u->threshold());
        f.member("previous_value", u->previous_value());
        f.member("current_value", u->current_value());
        a.symbol = sv(u->symbol());
        alert_id = sv(u->alert_id());
        event_ms = u->event_time_ms();
        summary = fmt::format("{} {} {} {} (now {})", a.symbol, sv(u->alert_type()), sv(u->direction()),
                              num(u->threshold()), num(u->current_value()));
        break;
    }
    case liquidation_type: {
        const auto* l = as<schema::LiquidationAlert>(r);
        if (l == nullptr) {
            return std::nullopt;
        }
        common_fields(f, *l);
        f.member("side", side_name(l->side()));
        f.member("price", l->price());
        f.member("qty", l->qty());
        f.member("notional_usd", l->notional_usd());
        f.member("count", static_cast<std::uint64_t>(l->count()));
        a.symbol = sv(l->symbol());
        alert_id = sv(l->alert_id());
        event_ms = l->event_time_ms();
        // The order's side: SELL liquidates a long position.
        summary = fmt::format("{} {} liquidation {}{} at {}", a.symbol,
                              l->side() == schema::Side::Sell ? "LONG" : l->side() == schema::Side::Buy ? "SHORT" : "?",
                              usd(l->notional_usd()), l->count() > 1 ? fmt::format(" ({} orders)", l->count()) : "",
                              num(l->price()));
        break;
    }
    case whale_type: {
        const auto* t = as<schema::WhaleTradeAlert>(r);
        if (t == nullptr) {
            return std::nullopt;
        }
        common_fields(f, *t);
        f.member("side", side_name(t->side()));
        f.member("price", t->price());
        f.member("qty", t->qty());
        f.member("notional_usd", t->notional_usd());
        a.symbol = sv(t->symbol());
        alert_id = sv(t->alert_id());
        event_ms = t->event_time_ms();
        summary = fmt::format("{} whale {} {} at {}", a.symbol, t->side() == schema::Side::Sell ? "SELL" : "BUY",
                              usd(t->notional_usd()), num(t->price()));
        break;
    }
    default: return std::nullopt;
    }
    f.end_object();
    a.id = alert_id.empty() ? fmt::format("{}:{}", channel, r.publish_ns) : std::string{alert_id};
    a.time_ms = event_ms > 0 ? event_ms : r.publish_ns / 1'000'000;
    json_writer w{a.json_open};
    w.begin_object();
    w.member("id", a.id);
    w.member("type", a.type);
    w.member("kind", a.kind);
    w.member("channel", a.channel);
    w.member("symbol", a.symbol);
    w.member("time_ms", a.time_ms);
    w.member("summary", summary);
    w.key("fields");
    w.raw(fields);
    // The closing brace is the caller's (after "delivery").
    return a;
}

std::optional<news_item> render_news(const bus::record_view& r)
{
    if (r.type != news_type) {
        return std::nullopt;
    }
    const auto* p = verified_as<schema::NewsPost>(r.data);
    if (p == nullptr) {
        return std::nullopt;
    }
    news_item n;
    n.channel = sv(p->symbol());
    n.post_id = p->post_id();
    n.time_ms = p->event_time_ms() > 0 ? p->event_time_ms() : r.publish_ns / 1'000'000;
    n.publish_ns = r.publish_ns;
    json_writer w{n.json};
    w.begin_object();
    w.member("id", n.post_id);
    w.member("channel", n.channel);
    w.member("time_ms", n.time_ms);
    w.member("text", sv(p->text()));
    w.member("url", sv(p->url()));
    w.key("links");
    w.begin_array();
    if (p->links() != nullptr) {
        for (const auto* l : *p->links()) {
            w.value(sv(l));
        }
    }
    w.end_array();
    w.member("title", sv(p->channel_title()));
    w.member("category", sv(p->category()));
    w.member("views", p->views());
    w.member("media_type", sv(p->media_type()));
    w.member("forwarded_from", sv(p->forwarded_from()));
    w.member("edited", p->edited());
    w.end_object();
    return n;
}

// ---- alert_log --------------------------------------------------------------------------

alert_log::alert_log(alert_log_config config) : config_(std::move(config))
{
    const auto make = [&](const std::string& name, bool news) {
        bus::channel_config c;
        c.prefix = config_.bus_prefix;
        c.name = name;
        bus::reader_options o;
        o.register_reader = false;
        o.name = "vs-api";
        followers_.push_back(follower{name, news, bus::reader{c, o}, 0});
    };
    for (const auto& ch : config_.alert_channels) {
        try {
            make(ch, false);
        } catch (const std::exception& e) {
            spdlog::warn("alert channel '{}' left out: {}", ch, e.what());
        }
    }
    if (!config_.news_channel.empty()) {
        try {
            make(config_.news_channel, true);
        } catch (const std::exception& e) {
            spdlog::warn("news channel '{}' left out: {}", config_.news_channel, e.what());
        }
    }
}

alert_log::~alert_log() { stop(); }

void alert_log::start()
{
    if (thread_.joinable()) {
        return;
    }
    poll_once();
    stop_.store(false, std::memory_order_relaxed);
    thread_ = std::thread{[this] {
        while (!stop_.load(std::memory_order_relaxed)) {   // relaxed: a stop flag, nothing published through it
            try {
                poll_once();
            } catch (const std::exception& e) {
                spdlog::error("alert log: {}", e.what());
            }
            std::this_thread::sleep_for(config_.poll_interval);
        }
    }};
}

void alert_log::stop()
{
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) {
        thread_.join();
    }
}

void alert_log::poll_once()
{
    // Once, as soon as the outbox exists: the alerts it keeps with their bus record (the
    // bytes the process published) seed the log, so a restarted vs-api lists the alerts
    // published before it started, ring-only ones (OI) included.
    if (!outbox_seeded_ && delivery_ != nullptr) {
        if (auto entries = delivery_->recent(config_.max_alerts)) {
            outbox_seeded_ = true;
            for (const auto& e : *entries) {
                if (!e.a.bus || e.a.bus->bytes.empty()) {
                    continue;
                }
                bus::record_view r;
                r.type = e.a.bus->type;
                r.publish_ns = e.created_ms * 1'000'000;
                r.symbol = e.a.bus->symbol;
                r.data = {reinterpret_cast<const std::byte*>(e.a.bus->bytes.data()), e.a.bus->bytes.size()};
                add_alert(render_alert(e.a.bus->channel, r), false);
            }
        }
    }
    for (auto& f : followers_) {
        if (f.reader.attach() != bus::attach_state::ready) {
            continue;
        }
        if (f.reader.attachments() != f.attachments) {
            // First attach (or a re-created segment): the latest table seeds the log (oldest
            // first); the ring is read from the writer's tail on.
            f.attachments = f.reader.attachments();
            std::vector<std::pair<std::int64_t, std::string>> order;
            std::vector<std::variant<alert_item, news_item>> seeds;
            f.reader.for_each_latest(0, [&](const bus::record_view& r) {
                if (f.news) {
                    if (auto n = render_news(r)) {
                        seeds.emplace_back(std::move(*n));
                    }
                } else if (auto a = render_alert(f.name, r)) {
                    seeds.emplace_back(std::move(*a));
                }
            });
            std::sort(seeds.begin(), seeds.end(), [](const auto& x, const auto& y) {
                const auto t = [](const auto& v) {
                    return std::visit([](const auto& i) { return i.publish_ns; }, v);
                };
                return t(x) < t(y);
            });
            for (auto& s : seeds) {
                if (auto* a = std::get_if<alert_item>(&s)) {
                    add_alert(std::move(*a), false);
                } else {
                    add_news(std::move(std::get<news_item>(s)), false);
                }
            }
        }
        f.reader.poll([&](const bus::record_view& r) {
            if (f.news) {
                add_news(render_news(r), true);
            } else {
                add_alert(render_alert(f.name, r), true);
            }
        });
    }
}

void alert_log::add_alert(std::optional<alert_item> a, bool notify)
{
    if (!a) {
        return;
    }
    auto item = std::make_shared<const alert_item>(std::move(*a));
    {
        std::lock_guard lock{mu_};
        if (!alert_ids_.insert(item->id).second) {
            return;   // the table seed and the ring both had it
        }
        const auto pos = std::upper_bound(alerts_.begin(), alerts_.end(), item->publish_ns,
                                          [](std::int64_t t, const auto& x) { return t < x->publish_ns; });
        alerts_.insert(pos, item);
        while (alerts_.size() > config_.max_alerts) {
            alert_ids_.erase(alerts_.front()->id);
            alerts_.pop_front();
        }
    }
    if (notify && on_alert_) {
        on_alert_(*item);
    }
}

void alert_log::add_news(std::optional<news_item> n, bool notify)
{
    if (!n) {
        return;
    }
    auto item = std::make_shared<const news_item>(std::move(*n));
    {
        std::lock_guard lock{mu_};
        auto& posts = news_[item->channel];
        // An edited post replaces its earlier version.
        std::erase_if(posts, [&](const auto& p) { return p->post_id == item->post_id; });
        const auto pos = std::upper_bound(posts.begin(), posts.end(), item->time_ms,
                                          [](std::int64_t t, const auto& x) { return t < x->time_ms; });
        posts.insert(pos, item);
        while (posts.size() > config_.max_news_per_channel) {
            posts.pop_front();
        }
    }
    if (notify && on_news_) {
        on_news_(*item);
    }
}

std::vector<std::shared_ptr<const alert_item>> alert_log::alerts(std::string_view type, std::string_view symbol,
                                                                 std::size_t limit) const
{
    std::vector<std::shared_ptr<const alert_item>> out;
    std::lock_guard lock{mu_};
    for (auto it = alerts_.rbegin(); it != alerts_.rend() && out.size() < limit; ++it) {
        const auto& a = **it;
        if (alert_type_matches(a, type) && (symbol.empty() || a.symbol == symbol)) {
            out.push_back(*it);
        }
    }
    return out;
}

news_channels alert_log::news(std::size_t limit) const
{
    news_channels out;
    std::lock_guard lock{mu_};
    for (const auto& [channel, posts] : news_) {
        auto& row = out.emplace_back(channel, std::vector<std::shared_ptr<const news_item>>{});
        for (auto it = posts.rbegin(); it != posts.rend() && row.second.size() < limit; ++it) {
            row.second.push_back(*it);
        }
    }
    return out;
}

std::string alert_log::delivery_json(const std::string& id)
{
    return delivery_ != nullptr ? delivery_->states_json(id) : std::string{};
}

std::string alert_log::outbox_json() { return delivery_ != nullptr ? delivery_->stats_json() : std::string{}; }

// ---- delivery_lookup ----------------------------------------------------------------------

delivery_lookup::delivery_lookup(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}

delivery_lookup::~delivery_lookup() = default;

vs::outbox::outbox* delivery_lookup::open()
{
    std::lock_guard lock{mu_};
    if (outbox_ || state_dir_.empty()) {
        return outbox_.get();
    }
    const auto now = monotonic_ns();
    if (now < next_try_ns_) {
        return nullptr;
    }
    next_try_ns_ = now + 5'000'000'000;
    std::error_code ec;
    if (!std::filesystem::exists(state_dir_ / "outbox.lmdb" / "data.mdb", ec)) {
        return nullptr;   // no alert was ever enqueued here: delivery is omitted
    }
    try {
        vs::outbox::outbox_options o;
        o.read_only = true;
        o.targets = vs::outbox::target_set{};
        outbox_ = vs::outbox::outbox::open(state_dir_, o);
        spdlog::info("delivery states from {} (read-only)", outbox_->path().string());
    } catch (const std::exception& e) {
        spdlog::warn("delivery states unavailable: {}", e.what());
    }
    return outbox_.get();
}

std::string delivery_lookup::states_json(const std::string& id)
{
    auto* ob = open();
    if (ob == nullptr || id.size() != 16) {
        return {};
    }
    std::optional<vs::outbox::entry> e;
    try {
        e = ob->get(id);
    } catch (const std::exception& ex) {
        spdlog::warn("cannot read alert {} from the outbox: {}", id, ex.what());
        return {};
    }
    if (!e) {
        return {};
    }
    std::string out;
    json_writer w{out};
    w.begin_object();
    for (const auto& t : e->targets) {
        const auto st = t.st == vs::outbox::state::sending ? vs::outbox::state::pending : t.st;
        w.member(vs::outbox::to_string(t.t), vs::outbox::to_string(st));
    }
    w.end_object();
    return out;
}

std::optional<std::vector<vs::outbox::entry>> delivery_lookup::recent(std::size_t limit)
{
    auto* ob = open();
    if (ob == nullptr) {
        return std::nullopt;
    }
    try {
        return ob->recent(limit);
    } catch (const std::exception& e) {
        spdlog::warn("cannot read the outbox's recent alerts: {}", e.what());
        return std::nullopt;
    }
}

bool delivery_lookup::state_for_each(std::string_view process,
                                     const std::function<void(std::string_view key, std::string_view value)>& fn)
{
    auto* ob = open();
    if (ob == nullptr) {
        return false;
    }
    ob->state_for_each(process, fn);
    return true;
}

std::string delivery_lookup::stats_json()
{
    auto* ob = open();
    if (ob == nullptr) {
        return {};
    }
    std::string out;
    try {
        std::uint64_t queued = 0, dead = 0;
        std::string targets;
        json_writer tw{targets};
        tw.begin_object();
        for (const auto t : vs::outbox::all_targets) {
            const auto q = ob->queue_length(t);
            const auto c = ob->counters(t);
            if (q == 0 && c.enqueued == 0) {
                continue;   // a target this host never used
            }
            queued += q;
            dead += c.dead;
            tw.key(vs::outbox::to_string(t));
            tw.begin_object();
            tw.member("queued", static_cast<std::uint64_t>(q));
            tw.member("dead", c.dead);
            tw.member("delivered", c.sent);
            tw.end_object();
        }
        tw.end_object();
        json_writer w{out};
        w.begin_object();
        w.member("queued", queued);
        w.member("dead", dead);
        w.key("targets");
        w.raw(targets);
        w.end_object();
    } catch (const std::exception& e) {
        spdlog::warn("cannot read the outbox's counts: {}", e.what());
        return {};
    }
    return out;
}

}  // namespace vs::api
