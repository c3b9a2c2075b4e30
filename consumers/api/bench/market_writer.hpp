#pragma once
// Publishes records of the one record factory (tests/support/records.hpp) on a bus writer.
// Shared by vs-api-bench-writer and the vs-api tests.
#include <flatbuffers/flatbuffers.h>

#include "tests/support/records.hpp"
#include "vs/bus/channel.hpp"

namespace vs::api::bench {

/// Publishes `f` (any *_fields of the factory) under its type and symbol, at its receive time.
template <class Fields>
bus::publish_status publish(bus::writer& w, const Fields& f)
{
    // A writer belongs to one thread, and so does this builder: no allocation per record.
    thread_local flatbuffers::FlatBufferBuilder fbb{512};
    return w.publish(Fields::type, f.symbol, vs::test::build(fbb, f), f.recv_time_ns);
}

}  // namespace vs::api::bench
