#include "vs/feed/parser.hpp"

namespace vs::feed {

class frame_parser::impl {
public:
    explicit impl(parser_options o) : options(o) {}
    parser_options options;
    parser_counters counters;
};

frame_parser::frame_parser(parser_options options) : impl_(std::make_unique<impl>(options)) {}
frame_parser::~frame_parser() = default;
frame_parser::frame_parser(frame_parser&&) noexcept = default;
frame_parser& frame_parser::operator=(frame_parser&&) noexcept = default;

const parser_counters& frame_parser::counters() const noexcept { return impl_->counters; }
const parser_options& frame_parser::options() const noexcept { return impl_->options; }

frame_result frame_parser::parse_impl(std::string_view, std::int64_t, sink_fn, void*)
{
    // Placeholder until the implementation lands: every frame is rejected.
    ++impl_->counters.frames;
    ++impl_->counters.frames_rejected;
    frame_result r;
    r.error = "parser not implemented yet";
    return r;
}

const char* to_string(frame_kind k) noexcept
{
    switch (k) {
    case frame_kind::data: return "data";
    case frame_kind::subscription_reply: return "subscription_reply";
    case frame_kind::exchange_error: return "exchange_error";
    case frame_kind::rejected: return "rejected";
    }
    return "rejected";
}

}  // namespace vs::feed
