// Sealed legs 1 (docs/protocol.md section 11, docs/security.md): LEG_OPEN, small sealed messages (STATUS, RESUME_OK)
// and the record data path of both directions.
//
// Theory of operation: a home router opening a leg 1 takes the next leg number of its link's current session,
// derives the leg's two keys and writes LEG_OPEN, whose sealed first message is the hop-1 CONN_HEADER or a RESUME;
// the peer router checks link id, leg number (replay window) and tag before it acts on anything. Sending into a
// sealed leg always goes through the relay's replay ring (resume.cc): SealedSend cuts the ring's unsent bytes into
// records of at most 16 KiB (never across the ring's wrap), seals them into a buffer of up to four records, and
// writes it; the ring's `sent` moves when bytes are sealed, so a lost leg simply drops the buffer and the resume
// rewinds the ring to the peer's counter. Receiving (SealedRecv) reads ciphertext into a buffer, opens every
// complete record in place and writes the plaintexts into the direction's pipe with one writev, reading no more
// than the pipe can take so that the write is never short; those bytes are counted (NoteRead) as read from leg 1.
// The splice from the pipe to the node is the plain relay's (relay.cc Flush). An empty record is the sender's
// authenticated end of stream; a TCP EOF before it, a forged or malformed record, or data after it is a lost leg
// (Suspend), never the application's EOF -- so a FIN or RST injected on the WAN costs a resume, not bytes.
// Record buffers (kSealBuf) come from a free list and go back as soon as they are empty: no allocation per record.
#include <sodium.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "crypto/keys.h"
#include "router/router_impl.h"

namespace uvpn::router {
namespace {
constexpr size_t kMaxIdleSealBufs = 64;  // 8 MiB of idle buffers at most
}  // namespace

uint8_t* Router::GetSealBuf() {
  if (!seal_bufs_.empty()) {
    uint8_t* b = seal_bufs_.back();
    seal_bufs_.pop_back();
    return b;
  }
  return static_cast<uint8_t*>(malloc(kSealBuf));
}

void Router::PutSealBuf(uint8_t*& b) {
  if (!b) return;
  if (seal_bufs_.size() < kMaxIdleSealBufs) {
    seal_bufs_.push_back(b);
  } else {
    free(b);
  }
  b = nullptr;
}

void Router::ReleaseSeal(LegSeal& s) {
  PutSealBuf(s.rxb);
  PutSealBuf(s.txb);
  s.rx_have = 0;
  s.tx_off = s.tx_len = 0;
  s.rx_closed = false;
  s.close_queued = false;
  s.tx.Clear();
  s.rx.Clear();
}

bool Router::SendSealedSmall(int fd, crypto::Cipher& tx, const uint8_t* msg, size_t n) {
  uint8_t b[crypto::kRecordHeader + 64 + crypto::kTagSize];
  if (n > 64) return false;
  size_t len = crypto::SealRecord(tx, msg, n, b);
  return send(fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(len);
}

int Router::ReadSealedSmall(uint32_t slot, int side, size_t plain_len, const char** why) {
  Relay& r = relays_[slot];
  size_t want = crypto::kRecordHeader + plain_len + crypto::kTagSize;
  if (want > sizeof r.buf) {
    *why = "internal: record too large";
    return -1;
  }
  ssize_t n = recv(r.fd[side], r.buf + r.have, want - r.have, 0);
  if (n == 0) {
    *why = "closed before its answer";
    return -1;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    *why = strerror(errno);
    return -1;
  }
  r.have = static_cast<uint8_t>(r.have + n);
  if (r.have >= crypto::kRecordHeader && crypto::RecordCipherLen(r.buf) != plain_len + crypto::kTagSize) {
    *why = "record of an unexpected length";
    return -1;
  }
  if (r.have < want) return 0;
  uint8_t plain[64];
  if (!r.seal.rx.Open(r.buf, crypto::kRecordHeader, r.buf + crypto::kRecordHeader, plain_len + crypto::kTagSize,
                      plain)) {
    *why = "record failed authentication";
    return -1;
  }
  memcpy(r.buf, plain, plain_len);
  r.have = 0;
  return 1;
}

bool Router::SendLegOpen(uint32_t slot, const uint8_t first[32], int* err) {
  Relay& r = relays_[slot];
  Link& l = links_[r.link];
  if (!l.sealed || l.state != LinkState::kUp) {
    *err = EHOSTUNREACH;
    return false;
  }
  ReleaseSeal(r.seal);
  proto::LegOpenMsg m;
  m.link_id = l.sess.link_id;
  m.leg_no = l.next_leg++;
  uint8_t kd[crypto::kKeySize], ka[crypto::kKeySize];
  crypto::LegKeys(l.sess.exporter, l.sess.initiator ? 0 : 1, m.leg_no, kd, ka);
  r.seal.on = true;
  r.seal.tx.SetKey(l.suite, kd);
  r.seal.rx.SetKey(l.suite, ka);
  sodium_memzero(kd, sizeof kd);
  sodium_memzero(ka, sizeof ka);
  uint8_t b[proto::kLegOpenSize];
  proto::Encode(m, b, sizeof b);
  r.seal.tx.Seal(b, proto::kLegOpenAd, first, 32, b + proto::kLegOpenAd);
  ssize_t w = send(r.fd[r.leg1], b, sizeof b, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w == static_cast<ssize_t>(sizeof b)) return true;
  *err = w < 0 ? errno : EPIPE;
  // Not written at all (EAGAIN: still connecting): the caller retries with a fresh leg number and keys.
  return false;
}

void Router::AdoptLegOpen(uint32_t slot, const proto::LegOpenMsg& m) {
  Relay& r = relays_[slot];
  int li = -1;
  for (size_t i = 0; i < links_.size(); ++i)
    if (links_[i].sealed && links_[i].state == LinkState::kUp && links_[i].sess.link_id == m.link_id)
      li = static_cast<int>(i);
  if (li < 0) return Drop(slot, "LEG_OPEN for no current link session (stale, forged or replayed)");
  Link& l = links_[li];
  if (LinkCut(static_cast<uint32_t>(li))) return Drop(slot, "LEG_OPEN refused: link cut by uvpn chaos");
  uint8_t kd[crypto::kKeySize], ka[crypto::kKeySize];
  crypto::LegKeys(l.sess.exporter, l.sess.initiator ? 1 : 0, m.leg_no, kd, ka);  // the other router dialled
  r.seal.on = true;
  r.seal.rx.SetKey(l.suite, kd);
  r.seal.tx.SetKey(l.suite, ka);
  sodium_memzero(kd, sizeof kd);
  sodium_memzero(ka, sizeof ka);
  uint8_t b[proto::kLegOpenSize], first[32];
  proto::Encode(m, b, sizeof b);
  if (!r.seal.rx.Open(b, proto::kLegOpenAd, m.sealed, sizeof m.sealed, first)) {
    char why[96];
    snprintf(why, sizeof why, "LEG_OPEN from site %s failed authentication", l.site.c_str());
    return Drop(slot, why);
  }
  // Only now, authenticated, does the number count (a forged LEG_OPEN cannot burn legitimate numbers).
  if (!l.legs_seen.Check(m.leg_no)) return Drop(slot, "LEG_OPEN replayed (leg number already used)");
  r.link = static_cast<uint32_t>(li);
  proto::MsgType type;
  size_t total = 0, used = 0;
  if (proto::PeekPrefix(first, sizeof first, &type, &total) != proto::Parse::kOk || total != sizeof first)
    return Drop(slot, "LEG_OPEN carries no valid first message");
  if (type == proto::MsgType::kConnHeader) {
    if (proto::Decode(first, sizeof first, &r.hdr, &used) != proto::Parse::kOk || r.hdr.hop != proto::Hop::kHomeToPeer)
      return Drop(slot, "LEG_OPEN carries a bad CONN_HEADER");
    return StartRelay(slot);
  }
  if (type == proto::MsgType::kResume) {
    proto::ResumeMsg rm;
    if (proto::Decode(first, sizeof first, &rm, &used) != proto::Parse::kOk) return Drop(slot, "bad sealed RESUME");
    return AdoptResume(slot, rm);
  }
  return Drop(slot, "LEG_OPEN carries an unexpected message");
}

bool Router::SealedSend(uint32_t slot, bool close_due, bool* progress, bool* sink_full) {
  Relay& r = relays_[slot];
  LegSeal& s = r.seal;
  int leg = r.leg1;
  Dir& out = r.dir[1 - leg];
  for (int round = 0; round < 16; ++round) {
    if (s.tx_pending()) {
      ssize_t n = send(r.fd[leg], s.txb + s.tx_off, s.tx_len - s.tx_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
          *sink_full = true;
          return true;
        }
        Suspend(slot, strerror(errno));
        return false;
      }
      s.tx_off += static_cast<uint32_t>(n);
      *progress = true;
      if (s.tx_pending()) {
        *sink_full = true;
        return true;
      }
      s.tx_off = s.tx_len = 0;
    }
    bool close_now = close_due && !s.close_queued && r.ring.unsent() == 0;
    if (r.ring.unsent() == 0 && !close_now) break;
    if (!s.txb && !(s.txb = GetSealBuf())) {
      Reset(slot, "out of memory for a record buffer");
      return false;
    }
    while (r.ring.unsent() > 0 && s.tx_len + crypto::kMaxRecord <= kSealBuf) {
      iovec sp[2];
      r.ring.UnsentSpans(sp);
      size_t chunk = std::min(sp[0].iov_len, crypto::kMaxRecordPlain);
      s.tx_len += static_cast<uint32_t>(
          crypto::SealRecord(s.tx, static_cast<const uint8_t*>(sp[0].iov_base), chunk, s.txb + s.tx_len));
      uint64_t from = r.ring.sent();
      r.ring.MarkSent(chunk);
      out.bytes += chunk;
      if (from < r.replay_end) recovery_.replayed_bytes += std::min<uint64_t>(chunk, r.replay_end - from);
    }
    if (close_due && !s.close_queued && r.ring.unsent() == 0 && s.tx_len + crypto::kMaxRecord <= kSealBuf) {
      s.tx_len += static_cast<uint32_t>(crypto::SealRecord(s.tx, nullptr, 0, s.txb + s.tx_len));
      s.close_queued = true;
    }
  }
  if (!s.tx_pending()) PutSealBuf(s.txb);
  return true;
}

bool Router::SealedRecv(uint32_t slot) {
  Relay& r = relays_[slot];
  LegSeal& s = r.seal;
  int leg = r.leg1;
  Dir& in = r.dir[leg];
  if (!in.pipe.valid()) {
    in.pipe = pipes_.Get();
    if (!in.pipe.valid()) {
      Reset(slot, "no pipe (out of file descriptors?)");
      return false;
    }
  }
  // Plaintext never exceeds the ciphertext it came from, so reading at most `room - rx_have` keeps the writev
  // below whole.
  size_t room = in.pipe.cap - in.in_pipe;
  if (room <= s.rx_have + crypto::kTagSize) return false;
  if (!s.rxb && !(s.rxb = GetSealBuf())) {
    Reset(slot, "out of memory for a record buffer");
    return false;
  }
  size_t want = std::min(kSealBuf - s.rx_have, room - s.rx_have);
  ssize_t n = recv(r.fd[leg], s.rxb + s.rx_have, want, 0);
  if (n == 0) {
    if (!s.rx_closed || s.rx_have != 0) {
      Suspend(slot, "leg 1 ended without its authenticated end of stream");
      return false;
    }
    in.eof = true;
    NoteRead(slot, 0, true);
    PutSealBuf(s.rxb);
    return false;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) Suspend(slot, strerror(errno));
    return false;
  }
  s.rx_have += static_cast<uint32_t>(n);
  iovec iov[kSealBuf / (crypto::kRecordHeader + crypto::kTagSize) + 1];
  int k = 0;
  size_t off = 0, plain = 0;
  while (s.rx_have - off >= crypto::kRecordHeader) {
    uint8_t* rec = s.rxb + off;
    size_t clen = crypto::RecordCipherLen(rec);
    if (clen == 0) {
      Suspend(slot, "malformed record on leg 1");
      return false;
    }
    if (s.rx_have - off < crypto::kRecordHeader + clen) break;
    uint8_t* ct = rec + crypto::kRecordHeader;
    if (s.rx_closed) {
      Suspend(slot, "data after the end-of-stream record on leg 1");
      return false;
    }
    if (!s.rx.Open(rec, crypto::kRecordHeader, ct, clen, ct)) {
      Suspend(slot, "record on leg 1 failed authentication");
      return false;
    }
    size_t m = clen - crypto::kTagSize;
    if (m == 0) {
      s.rx_closed = true;
    } else {
      iov[k++] = iovec{ct, m};
      plain += m;
    }
    off += crypto::kRecordHeader + clen;
  }
  if (plain > 0) {
    ssize_t w = writev(in.pipe.w, iov, k);
    if (w != static_cast<ssize_t>(plain)) {
      Reset(slot, "internal: short write into the relay pipe");
      return false;
    }
    in.in_pipe += static_cast<uint32_t>(plain);
    NoteRead(slot, plain, false);
    r.dir[1 - leg].streak = 0;
    if (in.streak < kBulkStreak) ++in.streak;
    if (in.streak >= kBulkStreak) bulk_seen_ = true;
  }
  if (off > 0) {
    memmove(s.rxb, s.rxb + off, s.rx_have - off);
    s.rx_have -= static_cast<uint32_t>(off);
  }
  if (s.rx_have == 0) PutSealBuf(s.rxb);
  return static_cast<size_t>(n) == want;
}

}  // namespace uvpn::router
