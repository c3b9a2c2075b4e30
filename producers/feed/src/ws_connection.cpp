#include "ws_connection.hpp"

#include <deque>
#include <stdexcept>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fmt/format.h>

#include "vs/common/clock.hpp"
#include "vs/net/tls.hpp"

namespace vs::feed {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
/// Bytes asked of one read_some: large enough that a 300 KB !ticker@arr frame takes a few
/// reads, small enough to drop an oversized frame without holding it.
constexpr std::size_t read_chunk = std::size_t{64} << 10;

using plain_ws = websocket::stream<beast::tcp_stream>;
using tls_ws = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

std::string describe(std::string_view step, const beast::error_code& ec)
{
    return fmt::format("{}: {}", step, ec.message());
}

template <class Ws>
class session final : public ws_connection, public std::enable_shared_from_this<session<Ws>> {
public:
    static constexpr bool is_tls = std::is_same_v<Ws, tls_ws>;

    template <class... WsArgs>
    session(asio::io_context& io, ws_endpoint endpoint, connection_options options,
            connection_events events, std::uint64_t id, WsArgs&&... ws_args)
        : io_(io),
          endpoint_(std::move(endpoint)),
          options_(std::move(options)),
          events_(std::move(events)),
          id_(id),
          resolver_(io),
          ws_(std::forward<WsArgs>(ws_args)...)
    {
    }

    void start() override
    {
        asio::co_spawn(io_, run(this->shared_from_this()), asio::detached);
    }

    void close() override
    {
        if (closing_) {
            return;
        }
        closing_ = true;
        if (open_ && writing_) {
            close_after_write_ = true;   // one write operation at a time: the close follows it
        } else if (open_) {
            // The read loop ends with websocket::error::closed once the peer answers, or with
            // a timeout after handshake_timeout.
            ws_.async_close(websocket::close_code::normal,
                            [self = this->shared_from_this()](const beast::error_code&) {});
        } else {
            resolver_.cancel();
            beast::error_code ignored;
            beast::get_lowest_layer(ws_).socket().close(ignored);
        }
    }

    std::uint64_t id() const noexcept override { return id_; }
    bool is_open() const noexcept override { return open_; }
    std::uint64_t pings_received() const noexcept override { return pings_; }

    void send(std::string text) override
    {
        outgoing_.push_back(std::move(text));
        if (open_) {
            write_next();
        }
    }

private:
    /// One write at a time (Beast allows one write beside the read loop); the next starts
    /// from the completion of the previous.
    void write_next()
    {
        if (writing_ || outgoing_.empty() || closing_ || !open_) {
            return;
        }
        writing_ = true;
        ws_.text(true);
        ws_.async_write(asio::buffer(outgoing_.front()),
                        [self = this->shared_from_this()](const beast::error_code& ec, std::size_t) {
                            self->writing_ = false;
                            if (!self->outgoing_.empty()) {
                                self->outgoing_.pop_front();
                            }
                            if (self->close_after_write_) {
                                self->close_after_write_ = false;
                                self->ws_.async_close(websocket::close_code::normal,
                                                      [self](const beast::error_code&) {});
                                return;
                            }
                            if (ec) {
                                if (!self->closing_) {
                                    // The read loop ends too and reports the closing.
                                    beast::error_code ignored;
                                    beast::get_lowest_layer(self->ws_).socket().close(ignored);
                                }
                                return;
                            }
                            self->write_next();
                        });
    }

    asio::awaitable<void> run(std::shared_ptr<session> self)
    {
        std::string why;
        try {
            why = co_await connect_and_read();
        } catch (const std::exception& e) {
            why = fmt::format("unexpected error: {}", e.what());
        }
        open_ = false;
        if (events_.on_closed) {
            events_.on_closed(id_, why);
        }
        (void)self;
    }

    asio::awaitable<std::string> connect_and_read()
    {
        auto [rec, results] = co_await resolver_.async_resolve(endpoint_.host, endpoint_.port, use_tuple);
        if (rec) {
            co_return describe("cannot resolve " + endpoint_.host, rec);
        }
        if (closing_) {
            co_return std::string{"closed before connecting"};
        }
        auto& tcp_layer = beast::get_lowest_layer(ws_);
        tcp_layer.expires_after(options_.connect_timeout);
        auto [cec, peer] = co_await tcp_layer.async_connect(results, use_tuple);
        if (cec) {
            co_return describe(fmt::format("cannot connect to {}:{}", endpoint_.host, endpoint_.port), cec);
        }
        (void)peer;
        if constexpr (is_tls) {
            auto& tls = ws_.next_layer();
            // SNI: Binance's front end picks the certificate by server name.
            if (const auto sec = vs::net::prepare_client_stream(tls, endpoint_.host)) {
                co_return describe("cannot set up TLS for " + endpoint_.host, sec);
            }
            auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_tuple);
            if (hec) {
                co_return describe("TLS handshake with " + endpoint_.host, hec);
            }
        }
        tcp_layer.expires_never();

        websocket::stream_base::timeout timeouts{};
        timeouts.handshake_timeout = options_.connect_timeout;
        timeouts.idle_timeout = options_.idle_timeout.count() > 0
                                    ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.idle_timeout)
                                    : websocket::stream_base::none();
        timeouts.keep_alive_pings = true;
        ws_.set_option(timeouts);
        ws_.set_option(websocket::stream_base::decorator([ua = options_.user_agent](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, ua);
        }));
        // Oversized messages are dropped by the read loop below without closing the
        // connection, so Beast itself must not refuse them.
        ws_.read_message_max(0);
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::ping) {
                ++pings_;
            }
        });

        websocket::response_type response;
        auto [wec] = co_await ws_.async_handshake(response, endpoint_.host_header, endpoint_.target, use_tuple);
        if (wec) {
            if (response.result_int() != 0 && response.result() != beast::http::status::switching_protocols) {
                co_return fmt::format("WebSocket upgrade refused: HTTP {} {}", response.result_int(),
                                      std::string_view{response.reason()});
            }
            co_return describe("WebSocket handshake", wec);
        }
        if (closing_) {
            co_return std::string{"closed during the handshake"};
        }
        open_ = true;
        if (events_.on_open) {
            events_.on_open(id_);
        }
        write_next();
        co_return co_await read_loop();
    }

    asio::awaitable<std::string> read_loop()
    {
        for (;;) {
            std::size_t message_bytes = 0;
            bool oversized = false;
            do {
                auto [ec, n] = co_await ws_.async_read_some(buffer_, read_chunk, use_tuple);
                if (ec) {
                    if (ec == websocket::error::closed) {
                        const auto& r = ws_.reason();
                        co_return fmt::format("closed by {} (code {}{}{})", closing_ ? "us" : "the server",
                                              static_cast<unsigned>(r.code), r.reason.empty() ? "" : ": ",
                                              std::string_view{r.reason.data(), r.reason.size()});
                    }
                    if (closing_ && ec == asio::error::operation_aborted) {
                        // Our close frame went out and Beast ended the pending read.
                        co_return std::string{"closed by us"};
                    }
                    co_return describe(closing_ ? "closing" : "read", ec);
                }
                message_bytes += n;
                if (oversized || buffer_.size() > options_.max_frame_bytes) {
                    oversized = true;
                    buffer_.consume(buffer_.size());
                }
            } while (!ws_.is_message_done());

            if (oversized) {
                if (events_.on_oversized) {
                    events_.on_oversized(id_, message_bytes);
                }
            } else if (events_.on_frame) {
                // Room after the message, so that the parser may read past its end in place
                // (prepare() may move the message; cdata() is taken after it).
                buffer_.prepare(frame_padding_bytes);
                const auto data = buffer_.cdata();
                events_.on_frame(id_, std::string_view{static_cast<const char*>(data.data()), data.size()},
                                 vs::realtime_ns());
            }
            buffer_.consume(buffer_.size());
            // Give back the memory of a rare huge frame; the steady state stays small.
            if (buffer_.capacity() > (std::size_t{4} << 20)) {
                buffer_.shrink_to_fit();
            }
        }
    }

    asio::io_context& io_;
    ws_endpoint endpoint_;
    connection_options options_;
    connection_events events_;
    std::uint64_t id_;
    asio::ip::tcp::resolver resolver_;
    Ws ws_;
    beast::flat_buffer buffer_;
    bool open_ = false;
    bool closing_ = false;
    bool writing_ = false;
    bool close_after_write_ = false;
    std::deque<std::string> outgoing_;
    std::uint64_t pings_ = 0;
};

}  // namespace

std::shared_ptr<ws_connection> make_connection(asio::io_context& io, asio::ssl::context* tls,
                                               const ws_endpoint& endpoint,
                                               const connection_options& options,
                                               connection_events events, std::uint64_t id)
{
    if (endpoint.tls) {
        if (tls == nullptr) {
            throw std::invalid_argument("a wss:// endpoint needs a TLS context");
        }
        return std::make_shared<session<tls_ws>>(io, endpoint, options, std::move(events), id, io, *tls);
    }
    return std::make_shared<session<plain_ws>>(io, endpoint, options, std::move(events), id, io);
}

}  // namespace vs::feed
