#pragma once
// `vs-feed --record FILE`: the raw frames with their receive times, one frame per line,
//   <recv_time_ns>\t<frame text as received>\n
// so that a user with internet access can capture real Binance data and serve it offline
// with `vs-replay --file`. Binance sends single-line JSON; a CR or LF inside a frame (only
// possible as JSON whitespace, never inside a JSON string) is written as a space so one line
// stays one frame.
//
// Threads: one owner thread. Errors: the constructor throws std::runtime_error when the file
// cannot be opened; write() never throws, a failed write is counted and logged once.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string_view>

namespace vs::feed {

class frame_recorder {
public:
    /// Opens `path` for appending (a restart adds to the capture instead of erasing it).
    explicit frame_recorder(const std::filesystem::path& path);
    ~frame_recorder();
    frame_recorder(const frame_recorder&) = delete;
    frame_recorder& operator=(const frame_recorder&) = delete;

    void write(std::int64_t recv_ns, std::string_view frame) noexcept;
    /// Pushes buffered lines to the kernel (called every second and at exit).
    void flush() noexcept;

    std::uint64_t frames_written() const noexcept { return frames_; }
    std::uint64_t write_errors() const noexcept { return errors_; }
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
    std::FILE* file_ = nullptr;
    std::uint64_t frames_ = 0;
    std::uint64_t errors_ = 0;
};

}  // namespace vs::feed
