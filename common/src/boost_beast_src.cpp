// Boost.Beast's non-template code (HTTP parser, WebSocket framing, zlib, errors), compiled once
// (BOOST_BEAST_SEPARATE_COMPILATION is a project argument in meson.build).
#include <boost/beast/src.hpp>
