// Boost.Asio's non-template code, compiled once for the whole project instead of in every
// translation unit that includes an Asio header (BOOST_ASIO_SEPARATE_COMPILATION is a project
// argument in meson.build). Everything that uses Asio links vs_asio through asio_dep.
#include <boost/asio/impl/src.hpp>
