#pragma once
// Issue 19's rule for every process, present and future: no secret reaches its stderr, a file
// under its state directory (LMDB snapshots, the outbox), `vs-outbox list`, an HTTP answer,
// /metrics or `--help`. A process's test runs it with known secrets (known_secrets(): the
// environment .volspike.env gives every unit, plus URLs with credentials for stand-ins that
// fail), then hands everything it produced to a secrets_scan:
//
//   const auto secrets = vs::test::known_secrets();
//   child_process p{{exe, "--state-dir", dir}, {.out = sink::file(log), .err = sink::to_stdout(),
//                                               .env = secrets.env}};
//   ... make it fail: stand-ins that answer 500 or hang ...
//   vs::test::secrets_scan scan{secrets.values};
//   scan.file("stderr", log);
//   scan.tree(state_dir);                          // every file, LMDB data included
//   scan.outbox_listing(outbox_exe, state_dir);   // `vs-outbox list --state all` (+ --json)
//   scan.text("--help", vs::test::run({exe, "--help"}).out);
//   EXPECT_TRUE(scan.clean()) << scan.report();
//   EXPECT_GT(scan.scanned_bytes(), 0u);
//
// Percent-encoded forms of every secret are looked for too (a URL carries them that way).
#include <cctype>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "process.hpp"

namespace vs::test {

/// Secrets a test gives a process, and the environment that carries them.
struct secret_set {
    env_map env;                      ///< variables as .volspike.env holds them
    std::vector<std::string> values;  ///< what must never appear (each at least 6 bytes)
};

/// The secret variables every VolSpike unit gets from .volspike.env, with values a test can
/// grep for; `webhook_base` is where the Discord webhook URL points (a failing stand-in).
inline secret_set known_secrets(const std::string& webhook_base = "http://127.0.0.1:9")
{
    secret_set s;
    s.values = {"prodKEY-sekrit-4242", "devKEY-sekrit-4343", "424242:TGsekritTOKEN", "TGsekritTOKEN",
                "DISCORDsekritTOKEN-77", "natsPASSsekrit-11", "natsTOKENsekrit-22"};
    s.env = {{"VOLSPIKE_API_KEY", s.values[0]},
             {"VOLSPIKE_API_KEY_DEV", s.values[1]},
             {"TELEGRAM_TOKEN", s.values[2]},
             {"TELEGRAM_BOT_TOKEN", s.values[2]},
             {"VS_DISCORD_WEBHOOK_URL", webhook_base + "/api/webhooks/4242/" + s.values[4]},
             {"NATS_PASSWORD", s.values[5]},
             {"NATS_TOKEN", s.values[6]},
             {"NATS_URL", "nats://volspike:" + s.values[5] + "@127.0.0.1:9"}};
    return s;
}

/// `%XX` for every byte outside [A-Za-z0-9-._~] (how a secret looks inside a URL).
inline std::string percent_encoded(std::string_view s)
{
    std::string out;
    for (const unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            char b[4];
            std::snprintf(b, sizeof b, "%%%02X", c);
            out += b;
        }
    }
    return out;
}

class secrets_scan {
public:
    explicit secrets_scan(std::vector<std::string> secrets)
    {
        for (auto& s : secrets) {
            const auto enc = percent_encoded(s);
            if (enc != s) {
                needles_.push_back(enc);
            }
            needles_.push_back(std::move(s));
        }
    }

    /// Looks for every secret in `content`, reported as `where`.
    void text(const std::string& where, std::string_view content)
    {
        bytes_ += content.size();
        ++places_;
        for (const auto& n : needles_) {
            if (!n.empty() && content.find(n) != std::string_view::npos) {
                hits_.push_back(where + " contains " + n);
            }
        }
    }

    /// One file (a log, a child's stderr).
    void file(const std::string& where, const std::filesystem::path& p) { text(where + " (" + p.string() + ")", read_file(p)); }

    /// Every regular file under `dir` (LMDB data.mdb and lock.mdb included).
    void tree(const std::filesystem::path& dir)
    {
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator{dir, ec};
             !ec && it != std::filesystem::recursive_directory_iterator{}; it.increment(ec)) {
            if (it->is_regular_file(ec)) {
                text(it->path().string(), read_file(it->path()));
            }
        }
    }

    /// `vs-outbox list --state all`, its --json form and its stderr, when `state_dir` holds
    /// an outbox (nothing otherwise). Run with an empty environment: what it prints comes
    /// from the outbox as stored.
    void outbox_listing(const std::string& outbox_exe, const std::filesystem::path& state_dir)
    {
        std::error_code ec;
        if (!std::filesystem::exists(state_dir / "outbox.lmdb", ec)) {
            return;
        }
        for (const bool json : {false, true}) {
            std::vector<std::string> argv{outbox_exe, "--state-dir", state_dir.string(), "list", "--state", "all"};
            if (json) {
                argv.push_back("--json");
            }
            const auto r = run_with(std::move(argv), {.out = sink::pipe(), .err = sink::pipe(),
                                                      .env = {{"PATH", "/usr/bin:/bin"}}, .clean_env = true});
            text(json ? "vs-outbox list --json" : "vs-outbox list", r.out);
            text("vs-outbox stderr", r.err);
        }
    }

    bool clean() const noexcept { return hits_.empty(); }
    const std::vector<std::string>& hits() const noexcept { return hits_; }
    std::size_t scanned_bytes() const noexcept { return bytes_; }
    std::size_t places() const noexcept { return places_; }
    /// One line per hit ("" when clean).
    std::string report() const
    {
        std::string r;
        for (const auto& h : hits_) {
            r += h + "\n";
        }
        return r;
    }

private:
    std::vector<std::string> needles_;
    std::vector<std::string> hits_;
    std::size_t bytes_ = 0;
    std::size_t places_ = 0;
};

}  // namespace vs::test
