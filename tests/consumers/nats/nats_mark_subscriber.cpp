// A third process on NATS (issue 17): subscribes with the plain libnats C client (no vs code:
// what a consumer in another program would write), decodes each message body with the
// generated FlatBuffers code, verifies it, and prints one line per record:
//   <symbol> <mark price> <funding rate> type=<Vs-Record-Type header>
//   usage: nats_mark_subscriber URL SUBJECT COUNT TIMEOUT_MS
// Exit 0 after COUNT records; 1 on a timeout, 2 on a record that does not verify or decode.
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <nats/nats.h>

#include "schemas/common_generated.h"
#include "schemas/market_data_generated.h"

int main(int argc, char** argv)
{
    if (argc != 5) {
        std::fprintf(stderr, "usage: %s URL SUBJECT COUNT TIMEOUT_MS\n", argv[0]);
        return 64;
    }
    const int count = std::atoi(argv[3]);
    const long timeout_ms = std::atol(argv[4]);
    natsConnection* nc = nullptr;
    natsSubscription* sub = nullptr;
    natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
    if (s == NATS_OK) {
        s = natsConnection_SubscribeSync(&sub, nc, argv[2]);
    }
    if (s != NATS_OK) {
        std::fprintf(stderr, "cannot subscribe to %s at %s: %s\n", argv[2], argv[1], natsStatus_GetText(s));
        return 1;
    }
    std::fprintf(stderr, "subscribed to %s\n", argv[2]);
    int rc = 0;
    std::vector<std::uint64_t> aligned;
    for (int got = 0; got < count;) {
        natsMsg* m = nullptr;
        s = natsSubscription_NextMsg(&m, sub, timeout_ms);
        if (s != NATS_OK) {
            std::fprintf(stderr, "no record within %ld ms (%d so far): %s\n", timeout_ms, got, natsStatus_GetText(s));
            rc = 1;
            break;
        }
        // libnats puts the body at any offset of its buffer; FlatBuffers read it aligned.
        const auto len = static_cast<std::size_t>(natsMsg_GetDataLength(m));
        aligned.resize(len / sizeof(std::uint64_t) + 1);
        std::memcpy(aligned.data(), natsMsg_GetData(m), len);
        const auto* data = reinterpret_cast<const std::uint8_t*>(aligned.data());
        const char* type = "";
        natsMsgHeader_Get(m, "Vs-Record-Type", &type);
        flatbuffers::Verifier v{data, len};
        if (std::string{type} != std::to_string(static_cast<int>(vs::schema::RecordType::MarkPrice)) ||
            !v.VerifyBuffer<vs::schema::MarkPrice>(nullptr)) {
            std::fprintf(stderr, "%s: not a valid MarkPrice record (type header '%s', %zu bytes)\n",
                         natsMsg_GetSubject(m), type, len);
            natsMsg_Destroy(m);
            rc = 2;
            break;
        }
        const auto* mp = flatbuffers::GetRoot<vs::schema::MarkPrice>(data);
        std::printf("%s %.10g %.10g type=%s\n", mp->symbol()->c_str(), mp->mark_price(), mp->funding_rate(), type);
        std::fflush(stdout);
        natsMsg_Destroy(m);
        ++got;
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return rc;
}
