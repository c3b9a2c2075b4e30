#include "recorder.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace vs::feed {

frame_recorder::frame_recorder(const std::filesystem::path& path) : path_(path)
{
    file_ = std::fopen(path.c_str(), "ae");
    if (file_ == nullptr) {
        throw std::runtime_error(fmt::format("cannot open record file {}: {}", path.string(),
                                             std::strerror(errno)));
    }
    // Large buffer: a 650-symbol !ticker@arr frame is ~300 KB; fewer write(2) calls.
    std::setvbuf(file_, nullptr, _IOFBF, 1u << 16);
}

frame_recorder::~frame_recorder()
{
    if (file_ != nullptr) {
        if (std::fclose(file_) != 0) {
            spdlog::error("cannot close record file {}: {}", path_.string(), std::strerror(errno));
        }
    }
}

void frame_recorder::write(std::int64_t recv_ns, std::string_view frame) noexcept
{
    char prefix[32];
    const auto n = fmt::format_to_n(prefix, sizeof prefix - 1, "{}\t", recv_ns).size;
    bool ok = std::fwrite(prefix, 1, n, file_) == n;
    while (ok && !frame.empty()) {
        const auto nl = frame.find_first_of("\r\n");
        const auto chunk = frame.substr(0, nl);
        ok = std::fwrite(chunk.data(), 1, chunk.size(), file_) == chunk.size();
        if (nl == std::string_view::npos) {
            break;
        }
        ok = ok && std::fputc(' ', file_) != EOF;
        frame.remove_prefix(nl + 1);
    }
    ok = ok && std::fputc('\n', file_) != EOF;
    if (ok) {
        ++frames_;
    } else if (errors_++ == 0) {
        spdlog::error("cannot write record file {}: {} (further errors are counted only)",
                      path_.string(), std::strerror(errno));
    }
}

void frame_recorder::flush() noexcept
{
    if (std::fflush(file_) != 0 && errors_++ == 0) {
        spdlog::error("cannot flush record file {}: {}", path_.string(), std::strerror(errno));
    }
}

}  // namespace vs::feed
