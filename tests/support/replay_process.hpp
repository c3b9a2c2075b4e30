#pragma once
// vs-replay (the local Binance look-alike) as the fixture of integration tests: started on
// 127.0.0.1 at a port of its own choosing and announced ("vs-replay listening on
// 127.0.0.1:PORT" on its stdout, which is piped for that). A thin wrapper over child_process.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "process.hpp"

namespace vs::test {

class replay_process : public child_process {
public:
    /// `exe --listen 127.0.0.1:0 args...`; stderr and the environment as `opts` says.
    replay_process(const std::string& exe, const std::vector<std::string>& args, process_options opts = {},
                   std::chrono::milliseconds startup = std::chrono::seconds{15})
        : child_process(argv_of(exe, args), piped(std::move(opts)))
    {
        if (const auto line = wait_for_line("vs-replay listening on ", startup)) {
            port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
        }
    }

    /// Its port; 0 when it announced none in time.
    unsigned short port() const noexcept { return port_; }
    /// Its WebSocket market stream (or another path), as vs-feed's --ws-url takes it.
    std::string ws_url(std::string_view path = "/market/stream") const
    {
        return "ws://127.0.0.1:" + std::to_string(port_) + std::string{path};
    }
    /// Its REST base (and the control API's).
    std::string http_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

private:
    static std::vector<std::string> argv_of(const std::string& exe, const std::vector<std::string>& args)
    {
        std::vector<std::string> argv{exe, "--listen", "127.0.0.1:0"};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }
    static process_options piped(process_options o)
    {
        o.out = sink::pipe();
        return o;
    }

    unsigned short port_ = 0;
};

}  // namespace vs::test
