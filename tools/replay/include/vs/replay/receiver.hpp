#pragma once
// vs-replay's stand-in of the VolSpike backend and of the Telegram Bot API, for the demo and
// the end-to-end tests: it answers what the real ones answer (CONTRACTS.md section 1: paths,
// auth, error statuses) and records every request it receives, so a test or the demo's
// terminal sees each alert arrive. Never a production default: the daemons reach it only
// when VOLSPIKE_API_URL / VS_TELEGRAM_API_URL point at vs-replay.
//
// Backend (base URL http://127.0.0.1:<port>; X-API-Key checked when an api key is set, the
// user-alert routes take it as ?apiKey= or the body member "apiKey"; wrong key: 401
// {"error":"Unauthorized"}; invalid JSON: 500; missing fields: 400):
//   POST /api/volume-alerts/ingest                        {"success":true,"alertId":N}
//   POST /api/open-interest-alerts/ingest                 {"success":true,"alertId":N}
//   POST /api/market/open-interest/ingest                 {"success":true,"inserted":n,"cached":n}
//   POST /api/market/open-interest/liquid-universe/update {"success":true,"count":n}
//   GET  /api/market/open-interest/liquid-universe        the last update (no auth)
//   GET  /api/market/open-interest/snapshot?symbol=S      {"found":false,...}
//   GET  /api/user-alerts-trigger/active?apiKey=K         the seeded alerts still active
//   POST /api/user-alerts-trigger/trigger                 deactivates; 404 unknown id, 400
//                                                         {"error":"Alert is not active"} after
//   POST /api/user-alerts-trigger/update-checked          stores lastCheckedValue; 500 unknown id
//   POST /api/telegram/ingest                             {"success":true,"processed":n}
//   GET  /health                                          {"status":"ok"}
// Telegram Bot API (base URL http://127.0.0.1:<port>, as api.telegram.org):
//   POST /bot<token>/sendMessage   {"ok":true,"result":{"message_id":N,...}}; a token other than
//                                  the configured one (when set): 401 as Telegram answers
//   POST /bot<token>/<other>       {"ok":true,"result":true}
//
// Control (replies {"ok":true,...} or 4xx {"ok":false,"error":...}):
//   GET  /_control/received?since=N[&target=backend|telegram][&path=PREFIX][&limit=L]
//        the requests recorded after seq N, oldest first: {"ok":true,"last_seq":M,"received":[
//        {"seq","time_ms","target","method","path","status","idempotency_key","body"}]}
//        (body: the JSON received, or a string when it was not JSON)
//   GET  /_control/status            counts per target and per path (also in /_control/stats)
//   POST /_control/user_alert?symbol=S&type=PRICE_CROSS|FUNDING_CROSS|OI_CROSS&threshold=T
//        [&id=ID][&user=U][&tier=pro|elite|free][&delivery=M][&last=V]   seeds an active alert
//   GET  /_control/user_alerts       the seeded alerts with their active flag and last value
//   POST /_control/fail?target=backend|telegram[&status=503][&count=N|&seconds=T]
//        the next N requests (or those during T s) to that target answer `status` (Telegram
//        429 carries parameters.retry_after=1); count=0 ends it
//   POST /_control/received/clear    forgets the recorded requests (seq keeps counting)
//
// Thread rule: the server's single I/O thread calls everything (no locking needed).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "vs/replay/rest.hpp"

namespace vs::replay {

struct receiver_config {
    std::string api_key;         ///< backend key checked when not empty
    std::string telegram_token;  ///< bot token checked when not empty
    std::size_t max_records = 20'000;        ///< oldest records are forgotten past this
    std::size_t max_record_bytes = 64U << 20; ///< ... or past this many body bytes
};

/// One received request as the HTTP layer hands it over.
struct received_request {
    std::string method;          ///< "GET", "POST", ...
    std::string api_key_header;  ///< X-API-Key
    std::string idempotency_key; ///< Idempotency-Key
    std::string body;
};

class receiver {
public:
    explicit receiver(receiver_config cfg);
    ~receiver();
    receiver(const receiver&) = delete;
    receiver& operator=(const receiver&) = delete;

    /// True for the backend's and the Bot API's paths (/api/..., /health, /bot<token>/...).
    static bool is_receiver_path(const std::string& path);
    /// Answers (and records) one request to such a path.
    http_reply handle(const request_target& t, const received_request& req, std::int64_t now_ms);
    /// /_control/<action> for the actions above; nullopt-like 404 for others is the caller's.
    static bool is_control_action(std::string_view action);
    http_reply control(std::string_view action, const request_target& t, bool is_post, std::int64_t now_ms);
    /// `"receiver":{...}` counts for /_control/stats.
    std::string stats_json() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace vs::replay
