// Boost.Asio's SSL layer (OpenSSL), compiled once; a separate object in vs_asio so that only
// the programs that use TLS pull it (and libssl) in.
#include <boost/asio/ssl/impl/src.hpp>
