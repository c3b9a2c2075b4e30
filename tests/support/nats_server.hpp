#pragma once
// A real `nats-server -js` for the tests (Debian's nats-server): on 127.0.0.1:<port>, its
// JetStream store in <dir>/nats-store (so a restart on the same dir keeps the streams), its log
// in <dir>/nats-server.log. Returns once it accepts connections.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "http.hpp"
#include "process.hpp"

namespace vs::test {

inline child_process start_nats_server(std::uint16_t port, const std::filesystem::path& dir)
{
    child_process server{{"nats-server", "-js", "-a", "127.0.0.1", "-p", std::to_string(port), "-sd",
                          (dir / "nats-store").string()},
                         logged_to(dir / "nats-server.log")};
    if (!eventually([&] { return port_open(port); }, std::chrono::seconds{10})) {
        throw std::runtime_error("nats-server did not listen on port " + std::to_string(port));
    }
    return server;
}

}  // namespace vs::test
