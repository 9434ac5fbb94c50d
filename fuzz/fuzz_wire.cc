// libFuzzer target for src/proto/wire.h. Theory of operation: the input is offered to PeekPrefix and to every
// Decode. For each decoder the answer must agree with the prefix: kBad whenever the prefix is bad or names another
// type, kNeedMore exactly when the bytes are a strict prefix of the declared length, kOk only with
// used == declared length <= size. What decodes is re-encoded and must reproduce the input's first `used` bytes
// exactly (the codecs are canonical: reserved bytes are zero, unknown flags rejected), must not fit one byte less,
// and each of its strict prefixes must decode as kNeedMore.
#include <cstdint>
#include <cstring>

#include "fuzz_check.h"
#include "fuzz_decode.h"
#include "proto/wire.h"

namespace {

using namespace uvpn::proto;
using uvpn::proto::fuzz::CheckDecoder;
using uvpn::proto::fuzz::Peek;

// UDP_DATA (protocol.md section 9) decodes its 24-byte header only: kOk needs 24 bytes, not the declared length
// (the payload, and with AUTH the trailer, follow in the same datagram), and used is always the header size.
void CheckUdp(const uint8_t* data, size_t size, const Peek& peek) {
  UdpHeader m;
  size_t used = 0;
  Parse p = Decode(data, size, &m, &used);
  if (peek.result == Parse::kBad || (peek.result == Parse::kOk && peek.type != MsgType::kUdpData)) {
    FUZZ_CHECK(p == Parse::kBad);
    return;
  }
  if (size < kUdpHeaderSize) {
    FUZZ_CHECK(p != Parse::kOk);
    return;
  }
  if (p == Parse::kBad) return;
  FUZZ_CHECK(p == Parse::kOk);
  FUZZ_CHECK(used == kUdpHeaderSize);
  FUZZ_CHECK(m.payload_len + kUdpHeaderSize + (m.auth ? kUdpAuthTrailer : 0) == peek.total);  // section 12
  uint8_t out[kUdpHeaderSize];
  FUZZ_CHECK(Encode(m, out, sizeof out) == kUdpHeaderSize);
  FUZZ_CHECK(std::memcmp(out, data, kUdpHeaderSize) == 0);
  FUZZ_CHECK(Encode(m, out, kUdpHeaderSize - 1) == 0);
  for (size_t k = 0; k < kUdpHeaderSize; ++k) {
    UdpHeader part;
    size_t u;
    FUZZ_CHECK(Decode(data, k, &part, &u) == Parse::kNeedMore);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Peek peek{Parse::kBad, MsgType::kConnHeader, 0};
  peek.result = PeekPrefix(data, size, &peek.type, &peek.total);
  if (size < kPrefixSize) FUZZ_CHECK(peek.result != Parse::kOk);
  // Datagrams (UDP_DATA, UDP_SEALED) may be as long as a UDP payload, the name table's pages (HOSTS_LIST,
  // HOSTS_REPLY: UDP only) 1200 bytes; every message of a stream fits kMaxMessage.
  bool dgram = peek.type == MsgType::kUdpData || peek.type == MsgType::kUdpSealed;
  bool page = peek.type == MsgType::kHostsList || peek.type == MsgType::kHostsReply;
  size_t bound = dgram ? kUdpMaxDatagram : page ? kHostsListSize : kMaxMessage;
  if (peek.result == Parse::kOk) FUZZ_CHECK(peek.total >= 12 && peek.total <= bound);

  CheckDecoder<ConnHeader>(data, size, peek, MsgType::kConnHeader);
  CheckDecoder<StatusMsg>(data, size, peek, MsgType::kStatus);
  CheckDecoder<RegisterMsg>(data, size, peek, MsgType::kRegister);
  CheckDecoder<RegisterOkMsg>(data, size, peek, MsgType::kRegisterOk);
  CheckDecoder<RegisterErrMsg>(data, size, peek, MsgType::kRegisterErr);
  CheckDecoder<HeartbeatMsg>(data, size, peek, MsgType::kHeartbeat);
  CheckDecoder<LookupMsg>(data, size, peek, MsgType::kLookup);
  CheckDecoder<LookupReplyMsg>(data, size, peek, MsgType::kLookupReply);
  CheckDecoder<HelloMsg>(data, size, peek, MsgType::kHello);
  CheckDecoder<NodeAddMsg>(data, size, peek, MsgType::kNodeAdd);
  CheckDecoder<NodeDelMsg>(data, size, peek, MsgType::kNodeDel);
  CheckDecoder<ResolveMsg>(data, size, peek, MsgType::kResolve);
  CheckDecoder<ResolveAddrMsg>(data, size, peek, MsgType::kResolveAddr);
  CheckDecoder<ResolveReplyMsg>(data, size, peek, MsgType::kResolveReply);
  CheckDecoder<AckMsg>(data, size, peek, MsgType::kAck);
  CheckDecoder<ResumeMsg>(data, size, peek, MsgType::kResume);
  CheckDecoder<ResumeOkMsg>(data, size, peek, MsgType::kResumeOk);
  CheckDecoder<RelayResetMsg>(data, size, peek, MsgType::kRelayReset);
  CheckDecoder<HostsListMsg>(data, size, peek, MsgType::kHostsList);
  CheckDecoder<HostsReplyMsg>(data, size, peek, MsgType::kHostsReply);
  CheckUdp(data, size, peek);

  // The error-code mapping is total and stable both ways.
  if (size >= 2) {
    uint16_t code = static_cast<uint16_t>((data[0] << 8) | data[1]);
    if (code <= kMaxWireCode) {
      WireCode c = static_cast<WireCode>(code);
      FUZZ_CHECK(ErrnoToWireCode(WireCodeToErrno(c)) == c);
    }
    int err = static_cast<int>(code);
    FUZZ_CHECK(static_cast<uint16_t>(ErrnoToWireCode(err)) <= kMaxWireCode);
  }
  return 0;
}
