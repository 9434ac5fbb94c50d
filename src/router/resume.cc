// Outage tolerance of cross-site relays (docs/outage.md, docs/protocol.md section 10).
//
// Theory of operation: a resumable relay sends into leg 1 through a ReplayRing (node socket -> ring -> leg 1,
// copying) and reads from leg 1 by splice as any relay, counting r_bytes. The peer router reports its r_bytes in
// ACKs on the router link (every kAckEvery bytes, at EOF, and at every tick with progress), which frees ring
// space. When leg 1 fails or the link goes down the relay is SUSPENDED: leg 1 is closed, the node side stays
// open; bytes from the node go to the ring and, when it is full, to a spill file (quota permitting). When the
// link is up the home router dials a new leg 1 and sends RESUME with its r_bytes; the peer router answers
// RESUME_OK with its own; each side rewinds its ring to the other's counter and sends from there. A relay ends
// only when both directions ended and everything it sent (EOF included) was acknowledged (Finished).
//
// Invariants (docs/outage.md): bytes >= ring.acked() are held (ring, then spill) until acknowledged; a new leg
// starts at the receiver's r_bytes; the ring never exceeds Options::replay_window, all rings together never
// exceed Options::replay_memory beyond kRingMin each, spill files never exceed Options::spill_quota.
#include <netinet/in.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "common/log.h"
#include "router/router_impl.h"
#include "sysio/net.h"

namespace uvpn::router {
namespace {

constexpr uint64_t kAckEvery = 16 * 1024;  // ACK at least this often (bytes read from leg 1)
constexpr int64_t kOrphanMs = 10000;       // peer: a suspended relay no RESUME reclaims after the link is up
constexpr int64_t kResumeTimeoutMs = 3000;  // home: RESUME sent, no RESUME_OK (a peer answers at once)
constexpr int kFirstResumeBackoffMs = 50;
// A peer router that is reachable (its link is up) but fails this many RESUMEs in a row cannot or will not
// resume: the relay is reset rather than held until the outage deadline (a broken or hostile peer).
constexpr uint8_t kMaxFailedResumes = 5;
// A relay that ended both ways here waits this long for the peer's final ACK while the link is up.
constexpr int64_t kFinalAckMs = 5000;

unsigned long long U(uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

int Router::LinkOfSiteIndex(int site_index) const {
  if (site_index < 0 || site_index >= static_cast<int>(opt_.table.sites.size()) || site_index == self_index_)
    return -1;
  return site_index < self_index_ ? site_index : site_index - 1;
}

uint32_t Router::RelayBySlotId(uint64_t id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return kMaxSlots;
  uint32_t slot = it->second;
  if (!relays_.InUse(slot) || relays_[slot].id != id || !relays_[slot].resumable) return kMaxSlots;
  return slot;
}

void Router::SetupResume(uint32_t slot) {
  Relay& r = relays_[slot];
  if (RelayBySlotId(r.id) != kMaxSlots) {
    // Two live relays with one id: only a confused or hostile peer does this; never mix their streams.
    r.resumable = false;
    r.quiet_reset = true;
    return Reset(slot, "duplicate relay id");
  }
  by_id_[r.id] = slot;
}

bool Router::Finished(const Relay& r) const {
  int leg = r.leg1, node = 1 - leg;
  return r.dir[leg].eof && r.dir[leg].shut && r.dir[node].eof && r.dir[node].shut && r.ring.unsent() == 0 &&
         r.ring.acked() == r.ring.end() && r.peer_eof_seen && r.eof_acked && (!r.spill || r.spill->pending() == 0);
}

// ---- the sending direction: node -> ring (-> spill) -> leg 1

bool Router::PumpRing(uint32_t slot) {
  Relay& r = relays_[slot];
  uint32_t gen = relays_.Gen(slot);
  int leg = r.leg1, node = 1 - leg;
  Dir& out = r.dir[node];
  if (!r.ring.valid() && !r.ring.Init(kRingMin)) {
    Reset(slot, "out of memory for the replay ring");
    return false;
  }
  // A short read means the socket is drained and a short write that it is full: no second attempt in this call
  // (epoll says when there is more), so the steady state costs one readv and one sendmsg per wakeup.
  bool src_dry = false, sink_full = false;
  for (int round = 0; round < 4; ++round) {
    bool progress = false;
    bool up = r.state == RState::kEstablished && r.fd[leg] >= 0;
    bool suspended = r.state == RState::kSuspended || r.state == RState::kResuming;
    iovec sp[2];
    // 1. Spilled bytes come back first (stream order: ring, spill, socket).
    if (r.spill && r.spill->pending() > 0 && r.ring.free_space() > 0) {
      int k = r.ring.FreeSpans(sp);
      auto n = r.spill->ReadInto(sp, k);
      if (!n) {
        Reset(slot, n.error().message().c_str());
        return false;
      }
      r.ring.Commit(*n);
      spill_bytes_ -= *n;
      if (r.spill->pending() == 0) r.spill.reset();  // forwarded: the file goes
      progress = *n > 0;
    }
    bool spill_empty = !r.spill || r.spill->pending() == 0;
    // 2. The node socket: into the ring (growing it while leg 1 keeps up), or into the spill while suspended.
    if (!out.eof && spill_empty && r.ring.free_space() == 0 && up && r.ring.capacity() < opt_.replay_window &&
        ring_extra_ + r.ring.capacity() <= opt_.replay_memory) {
      size_t before = r.ring.capacity();
      if (r.ring.Grow(opt_.replay_window)) ring_extra_ += r.ring.capacity() - before;
    }
    if (!out.eof && spill_empty && r.ring.free_space() > 0) {
      if (!src_dry) {
        int k = r.ring.FreeSpans(sp);
        size_t want = r.ring.free_space();
        ssize_t n = readv(r.fd[node], sp, k);
        if (n < 0 || static_cast<size_t>(n) < want) src_dry = true;
        if (n > 0) {
          if (static_cast<size_t>(n) < kQuickAckBelow) QuickAck(r.fd[node]);  // (a node socket: see relay.cc)
          r.ring.Commit(static_cast<size_t>(n));
          r.dir[leg].streak = 0;
          if (out.streak < kBulkStreak) ++out.streak;
          if (out.streak >= kBulkStreak) bulk_seen_ = true;
          progress = true;
        } else if (n == 0) {
          out.eof = true;
          progress = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          Reset(slot, strerror(errno));
          return false;
        }
      }
    } else if (!out.eof && suspended && r.ring.free_space() == 0 && spill_bytes_ < opt_.spill_quota) {
      if (!r.spill) {
        r.spill = std::make_unique<SpillFile>();
        char name[48];
        snprintf(name, sizeof name, "%016llx.%s", U(r.id), leg == 1 ? "fwd" : "rev");
        if (Status st = r.spill->Open(opt_.spill_dir, name); !st.ok()) {
          LOG_WARN("relay %016llx: no spill file (%s): pushing back on the application", U(r.id),
                   st.message().c_str());
          r.spill.reset();
        }
      }
      if (r.spill && r.spill->is_open()) {
        size_t want = std::min<uint64_t>(scratch_.size(), opt_.spill_quota - spill_bytes_);
        ssize_t n = recv(r.fd[node], scratch_.data(), want, MSG_DONTWAIT);
        if (n > 0) {
          // Bytes read are ours to keep: if the disk refuses them the stream cannot stay exact, so reset.
          if (Status st = r.spill->Append(scratch_.data(), static_cast<size_t>(n)); !st.ok()) {
            Reset(slot, ("spill: " + st.message()).c_str());
            return false;
          }
          spill_bytes_ += static_cast<uint64_t>(n);
          recovery_.spilled_total += static_cast<uint64_t>(n);
          progress = true;
        } else if (n == 0) {
          out.eof = true;
          progress = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          Reset(slot, strerror(errno));
          return false;
        }
      }
    }
    // 3. The ring into leg 1 (sealed: as records, seal.cc).
    spill_empty = !r.spill || r.spill->pending() == 0;
    if (up && r.seal.on && !sink_full) {
      if (!SealedSend(slot, out.eof && !out.shut && spill_empty, &progress, &sink_full)) return relays_.Live(slot, gen);
    } else if (up && r.ring.unsent() > 0 && !sink_full) {
      int k = r.ring.UnsentSpans(sp);
      msghdr mh{};
      mh.msg_iov = sp;
      mh.msg_iovlen = static_cast<size_t>(k);
      size_t want = r.ring.unsent();
      ssize_t n = sendmsg(r.fd[leg], &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 || static_cast<size_t>(n) < want) sink_full = true;
      if (n > 0) {
        uint64_t from = r.ring.sent();
        r.ring.MarkSent(static_cast<size_t>(n));
        out.bytes += static_cast<uint64_t>(n);
        if (from < r.replay_end) recovery_.replayed_bytes += std::min<uint64_t>(n, r.replay_end - from);
        progress = true;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        Suspend(slot, strerror(errno));
        return relays_.Live(slot, gen);
      }
    }
    // 4. EOF: once everything before it is in leg 1 (again after a resume); sealed, after the end-of-stream record.
    bool sealed_done = !r.seal.on || (r.seal.close_queued && !r.seal.tx_pending());
    if (up && out.eof && !out.shut && r.ring.unsent() == 0 && spill_empty && sealed_done) {
      shutdown(r.fd[leg], SHUT_WR);
      out.shut = true;
      progress = true;
    }
    if (!progress) break;
  }
  return true;
}

// ---- the receiving direction: counting and acknowledging

void Router::NoteRead(uint32_t slot, size_t n, bool eof) {
  Relay& r = relays_[slot];
  r.r_bytes += n;
  if (eof) r.dir[r.leg1].eof = true;
  // Only flow control is urgent (the sender's ring is filling). Small progress and the EOF are reported by the
  // next tick's batch: a short connection then costs no extra link message and no extra wakeup of either router
  // (it ends up to one tick later, holding its descriptors meanwhile).
  bool due = r.r_bytes - r.r_acked >= kAckEvery;
  if (due && !r.ack_dirty) {
    r.ack_dirty = true;
    ack_dirty_.emplace_back(slot, relays_.Gen(slot));
  }
}

void Router::SendAck(uint32_t slot, uint8_t flags) {
  Relay& r = relays_[slot];
  if (links_[r.link].state != LinkState::kUp) return;  // the RESUME will carry the counter
  bool eof = r.dir[r.leg1].eof;
  proto::AckMsg a{static_cast<uint8_t>(flags | (eof ? proto::kFlagEofSeen : 0)), r.id, r.r_bytes, r.leg_no};
  uint8_t b[proto::kAckSize];
  LinkQueue(r.link, b, proto::Encode(a, b, sizeof b));
  r.r_acked = r.r_bytes;
  if (eof) r.eof_acked = true;
}

void Router::FlushAcks(bool all) {
  if (all) {
    for (uint32_t i = 0; i < relays_.end(); ++i) {
      if (!relays_.InUse(i)) continue;
      Relay& r = relays_[i];
      if (!r.resumable || r.state < RState::kEstablished) continue;
      if ((r.r_bytes > r.r_acked || (r.dir[r.leg1].eof && !r.eof_acked)) && !r.ack_dirty) {
        r.ack_dirty = true;
        ack_dirty_.emplace_back(i, relays_.Gen(i));
      }
    }
  }
  // Swap out first: finishing a relay below may not append to the vector being walked.
  std::vector<std::pair<uint32_t, uint32_t>> due;
  due.swap(ack_dirty_);
  for (auto [slot, gen] : due) {
    if (!relays_.Live(slot, gen)) continue;
    Relay& r = relays_[slot];
    r.ack_dirty = false;
    bool was = r.eof_acked;
    SendAck(slot, 0);
    if (!was && r.eof_acked && r.dir[0].shut && r.dir[1].shut) MaybeFinish(slot);
  }
  due.clear();
  if (ack_dirty_.empty()) ack_dirty_.swap(due);  // keep the capacity: no allocation per batch
  for (uint32_t li = 0; li < links_.size(); ++li)
    if (links_[li].fd >= 0 && links_[li].out_off < links_[li].out.size()) LinkFlush(li);
}

void Router::OnAck(uint32_t li, const proto::AckMsg& m) {
  uint32_t slot = RelayBySlotId(m.relay_id);
  if (slot == kMaxSlots || relays_[slot].link != li) return;  // ended meanwhile, or not ours
  Relay& r = relays_[slot];
  uint32_t gen = relays_.Gen(slot);
  if (r.ring.Ack(m.r_bytes) == ReplayRing::AckResult::kBad) {
    LOG_WARN("relay %016llx: ACK for %llu bytes but only %llu were sent: reset", U(r.id), U(m.r_bytes),
             U(r.ring.sent()));
    return Reset(slot, "ACK beyond the bytes sent");
  }
  if ((m.flags & proto::kFlagEofSeen) && r.dir[1 - r.leg1].shut) r.peer_eof_seen = true;
  // LEG_LOST names the leg it lost: a report about an older leg (the peer sent it before our RESUME of a newer
  // one reached it) must not tear down the current leg, or the two routers could replace legs forever.
  if ((m.flags & proto::kFlagLegLost) && r.role == Role::kHomeRemote && r.state == RState::kEstablished &&
      m.leg == r.leg_no) {
    Suspend(slot, "the peer router lost leg 1");
    if (!relays_.Live(slot, gen)) return;
  }
  if (!PumpRing(slot) || !relays_.Live(slot, gen)) return;
  if (r.dir[0].shut && r.dir[1].shut) return MaybeFinish(slot);
  UpdateInterest(slot);
}

void Router::OnRelayReset(uint32_t li, const proto::RelayResetMsg& m) {
  uint32_t slot = RelayBySlotId(m.relay_id);
  if (slot == kMaxSlots || relays_[slot].link != li) return;
  relays_[slot].quiet_reset = true;
  Reset(slot, "reset by the peer router");
}

// ---- losing and regaining leg 1

void Router::Suspend(uint32_t slot, const char* why) {
  Relay& r = relays_[slot];
  if (!r.resumable || r.state < RState::kEstablished) return Reset(slot, why);
  // Sealed relays are ringed even with --no-resume (seal.cc); without resume a lost leg ends them.
  if (!opt_.resume) return Reset(slot, why);
  if (r.state == RState::kResuming) return ResumeFailed(slot, why);
  if (r.state == RState::kSuspended) return;
  int leg = r.leg1;
  LOG_INFO("relay %016llx suspended: %s (sent %llu, acked %llu, read %llu)", U(r.id), why, U(r.ring.sent()),
           U(r.ring.acked()), U(r.r_bytes));
  DelFromEpoll(slot, leg);
  CloseRst(r.fd[leg]);
  r.fd[leg] = -1;
  if (r.seal.on) ReleaseSeal(r.seal);  // partial records and unsent ones: the resume replays from the ring
  r.state = RState::kSuspended;
  if (r.suspended_ms == 0) r.suspended_ms = now_ms_;
  ++r.suspensions;
  ++recovery_.suspensions;
  r.dir[1 - leg].shut = false;  // the EOF goes again on the next leg 1
  r.resume_backoff_ms = kFirstResumeBackoffMs;
  bool link_up = links_[r.link].state == LinkState::kUp && !LinkCut(r.link);
  if (r.role == Role::kHomeRemote) {
    r.resume_due_ms = now_ms_;  // started by the next tick if the link is up (OnLinkUp otherwise)
  } else {
    r.resume_due_ms = link_up ? now_ms_ + kOrphanMs : 0;
    if (link_up) {
      SendAck(slot, proto::kFlagLegLost);  // the home router may not have noticed: ask for a RESUME
      LinkFlush(r.link);
    }
  }
  UpdateInterest(slot);
}

void Router::StartResume(uint32_t slot) {
  Relay& r = relays_[slot];
  int leg = r.leg1;
  bool in_progress = false;
  auto c = ConnectFrom(self_->peer.ip, links_[r.link].endpoint, &in_progress);
  if (!c) return ResumeFailed(slot, c.error().message().c_str());
  r.fd[leg] = c->Release();
  ++r.leg_no;
  r.state = RState::kResuming;
  r.resume_sent = false;
  r.have = 0;
  r.deadline_ms = now_ms_ + kResumeTimeoutMs;
  OnResumeEvent(slot, 0);  // the handshake has often completed inside connect(): try to write RESUME now
}

void Router::OnResumeEvent(uint32_t slot, uint32_t events) {
  Relay& r = relays_[slot];
  int leg = r.leg1;
  if (!r.resume_sent) {
    if (int err = sysio::SocketError(r.fd[leg]); err != 0) return ResumeFailed(slot, strerror(err));
    if (events & (EPOLLERR | EPOLLHUP)) return ResumeFailed(slot, "hang-up while connecting");
    proto::ResumeMsg m{static_cast<uint8_t>(r.dir[leg].eof ? proto::kFlagEofSeen : 0), r.id, r.r_bytes, r.leg_no};
    uint8_t b[proto::kResumeSize];
    proto::Encode(m, b, sizeof b);
    if (sealed()) {
      int err = 0;
      if (SendLegOpen(slot, b, &err)) {
        r.resume_sent = true;
        return SetEvents(slot, leg, EPOLLIN);
      }
      if (err == EAGAIN || err == EWOULDBLOCK) return SetEvents(slot, leg, EPOLLOUT);
      return ResumeFailed(slot, strerror(err));
    }
    ssize_t w = send(r.fd[leg], b, sizeof b, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return SetEvents(slot, leg, EPOLLOUT);
    if (w != static_cast<ssize_t>(sizeof b)) return ResumeFailed(slot, w < 0 ? strerror(errno) : "short write");
    r.resume_sent = true;
    return SetEvents(slot, leg, EPOLLIN);
  }
  if (r.seal.on) {
    const char* why = "";
    int got = ReadSealedSmall(slot, leg, proto::kResumeOkSize, &why);
    if (got == 0) return;
    if (got < 0) return ResumeFailed(slot, why);
    r.have = proto::kResumeOkSize;
  } else {
    ssize_t n = recv(r.fd[leg], r.buf + r.have, proto::kResumeOkSize - r.have, 0);
    if (n == 0) return ResumeFailed(slot, "peer router closed the new leg 1");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      return ResumeFailed(slot, strerror(errno));
    }
    r.have = static_cast<uint8_t>(r.have + n);
  }
  if (r.have >= proto::kPrefixSize) {
    // Anything but a RESUME_OK (a STATUS, garbage) is a peer that does not speak this protocol: retrying
    // cannot help.
    proto::MsgType type;
    size_t total = 0;
    if (proto::PeekPrefix(r.buf, r.have, &type, &total) != proto::Parse::kOk || type != proto::MsgType::kResumeOk) {
      r.quiet_reset = true;
      return Reset(slot, "the peer router answered RESUME with something else than RESUME_OK");
    }
  }
  if (r.have < proto::kResumeOkSize) return;
  proto::ResumeOkMsg m;
  size_t used;
  if (proto::Decode(r.buf, r.have, &m, &used) != proto::Parse::kOk || m.relay_id != r.id || m.leg != r.leg_no)
    return Reset(slot, "bad RESUME_OK from the peer router");
  r.have = 0;
  if (m.code != proto::WireCode::kOk) {
    r.quiet_reset = true;
    int node = 1 - leg;
    if (r.dir[leg].eof && r.dir[leg].shut && r.dir[node].eof && r.ring.acked() == r.ring.end()) {
      // The peer forgot a relay it had finished: everything of ours was acknowledged. Nothing is lost.
      LOG_DEBUG("relay %016llx: finished while suspended", U(r.id));
      return FreeRelay(slot, proto::RelayState::kClosed, proto::WireCode::kOk);
    }
    return Reset(slot, "the peer router no longer knows the relay");
  }
  uint64_t sent_before = r.ring.sent();
  if (!r.ring.Rewind(m.r_bytes)) {
    LOG_WARN("relay %016llx: RESUME_OK counter %llu outside [%llu, %llu]", U(r.id), U(m.r_bytes),
             U(r.ring.acked()), U(sent_before));
    return Reset(slot, "RESUME_OK counter out of range");
  }
  r.replay_end = sent_before;
  if ((m.flags & proto::kFlagEofSeen) && r.dir[1 - leg].eof && r.ring.unsent() == 0) r.peer_eof_seen = true;
  LOG_INFO("relay %016llx resumed after %lld ms: replaying %llu bytes", U(r.id),
           static_cast<long long>(now_ms_ - r.suspended_ms), U(sent_before - m.r_bytes));
  r.state = RState::kEstablished;
  r.suspended_ms = 0;
  r.resume_due_ms = 0;
  r.deadline_ms = 0;
  r.failed_resumes = 0;
  r.r_acked = r.r_bytes;  // RESUME carried it
  ++recovery_.resumes;
  uint32_t gen = relays_.Gen(slot);
  if (!PumpRing(slot) || !relays_.Live(slot, gen)) return;
  if (r.dir[0].shut && r.dir[1].shut) return MaybeFinish(slot);
  UpdateInterest(slot);
}

void Router::ResumeFailed(uint32_t slot, const char* why) {
  Relay& r = relays_[slot];
  int leg = r.leg1;
  LOG_INFO("relay %016llx: resume failed: %s (retry in %d ms)", U(r.id), why, r.resume_backoff_ms);
  ++recovery_.resume_failures;
  if (links_[r.link].state == LinkState::kUp && !LinkCut(r.link) && ++r.failed_resumes >= kMaxFailedResumes) {
    LOG_WARN("relay %016llx: %u RESUMEs failed while the peer router is reachable: reset", U(r.id),
             static_cast<unsigned>(r.failed_resumes));
    return Reset(slot, "the peer router does not resume");
  }
  DelFromEpoll(slot, leg);
  // RST, never FIN: the peer may already have adopted this connection as leg 1, and a FIN on leg 1 means the
  // application's end of stream (docs/outage.md, "Losing and regaining leg 1").
  CloseRst(r.fd[leg]);
  r.fd[leg] = -1;
  if (r.seal.on) ReleaseSeal(r.seal);
  r.state = RState::kSuspended;
  r.resume_sent = false;
  r.have = 0;
  r.resume_due_ms = now_ms_ + r.resume_backoff_ms;
  r.resume_backoff_ms = std::min(r.resume_backoff_ms * 2, opt_.redial_max_ms);
  UpdateInterest(slot);
}

void Router::AdoptResume(uint32_t tmp, const proto::ResumeMsg& m) {
  Relay& t = relays_[tmp];
  int fd = t.fd[0];
  uint32_t slot = RelayBySlotId(m.relay_id);
  if (slot != kMaxSlots && LinkCut(relays_[slot].link)) {
    // `uvpn chaos cut`: behave like the network, not like a router that forgot the relay (that answer would
    // make the home router reset it). The home router retries when the link is back.
    LOG_DEBUG("relay %016llx: RESUME during a chaos cut: connection reset", U(m.relay_id));
    CloseRst(fd);
    t.fd[0] = -1;
    t.in_epoll[0] = false;
    return FreeRelay(tmp, proto::RelayState::kFailed, proto::WireCode::kConnReset);
  }
  bool ok = slot != kMaxSlots && relays_[slot].role == Role::kPeer &&
            (!t.seal.on || relays_[slot].link == t.link);  // sealed: only the relay's own site may resume it
  crypto::Cipher* txc = t.seal.on ? &t.seal.tx : nullptr;  // moves to the relay with the connection
  auto answer = [&](proto::WireCode code, uint64_t r_bytes, uint8_t flags) {
    proto::ResumeOkMsg a{flags, m.relay_id, r_bytes, code, m.leg};
    uint8_t b[proto::kResumeOkSize];
    proto::Encode(a, b, sizeof b);
    if (txc) return SendSealedSmall(fd, *txc, b, sizeof b);
    return send(fd, b, sizeof b, MSG_NOSIGNAL | MSG_DONTWAIT) == static_cast<ssize_t>(sizeof b);
  };
  if (!ok) {
    LOG_INFO("%s: RESUME for relay %016llx, which is not a resumable relay here: refused",
             FormatEndpoint(t.peer).c_str(), U(m.relay_id));
    answer(proto::WireCode::kConnReset, 0, 0);
    return FreeRelay(tmp, proto::RelayState::kFailed, proto::WireCode::kConnReset);
  }
  Relay& r = relays_[slot];
  int leg = r.leg1;
  if (m.leg <= r.leg_no || m.r_bytes < r.ring.acked()) {
    // A RESUME of a connection the home router has already given up on, read after a newer one (or after
    // ACKs newer than it): refuse this connection only; the relay and its current leg are untouched.
    LOG_DEBUG("relay %016llx: stale RESUME (leg %u, current %u) ignored", U(r.id), m.leg, r.leg_no);
    CloseRst(fd);
    t.fd[0] = -1;
    t.in_epoll[0] = false;
    return FreeRelay(tmp, proto::RelayState::kFailed, proto::WireCode::kConnReset);
  }
  uint64_t sent_before = r.ring.sent();
  if (!r.ring.Rewind(m.r_bytes)) {
    LOG_WARN("relay %016llx: RESUME counter %llu outside [%llu, %llu]", U(r.id), U(m.r_bytes), U(r.ring.acked()),
             U(sent_before));
    answer(proto::WireCode::kProto, 0, 0);
    FreeRelay(tmp, proto::RelayState::kFailed, proto::WireCode::kProto);
    return Reset(slot, "RESUME counter out of range");
  }
  // Take the connection over from the temporary slot (its epoll registration moves with it), and its keys.
  if (r.seal.on) ReleaseSeal(r.seal);
  r.seal.on = t.seal.on;
  r.seal.tx = t.seal.tx;
  r.seal.rx = t.seal.rx;
  t.seal.tx.Clear();
  t.seal.rx.Clear();
  t.seal.on = false;
  if (txc) txc = &r.seal.tx;
  HandOver(tmp);  // (the fd, kept in `fd`, moves to the relay below)
  if (r.fd[leg] >= 0) {
    DelFromEpoll(slot, leg);
    CloseRst(r.fd[leg]);  // an old leg 1 we had not noticed was dead: its unread bytes are replayed
  }
  r.fd[leg] = fd;
  loop_.Mod(fd, EPOLLIN, Pack(leg ? Kind::kRelay1 : Kind::kRelay0, slot, relays_.Gen(slot)));
  r.in_epoll[leg] = true;
  r.ev[leg] = EPOLLIN;
  r.replay_end = sent_before;
  r.leg_no = m.leg;
  r.dir[1 - leg].shut = false;
  if ((m.flags & proto::kFlagEofSeen) && r.dir[1 - leg].eof && r.ring.unsent() == 0) r.peer_eof_seen = true;
  bool eof = r.dir[leg].eof;
  if (!answer(proto::WireCode::kOk, r.r_bytes, eof ? proto::kFlagEofSeen : 0)) {
    r.state = RState::kEstablished;
    return Suspend(slot, "writing RESUME_OK failed");
  }
  r.r_acked = r.r_bytes;
  if (eof) r.eof_acked = true;
  LOG_INFO("relay %016llx resumed by the home router after %lld ms: replaying %llu bytes", U(r.id),
           static_cast<long long>(r.suspended_ms ? now_ms_ - r.suspended_ms : 0), U(sent_before - m.r_bytes));
  r.state = RState::kEstablished;
  r.suspended_ms = 0;
  r.resume_due_ms = 0;
  ++recovery_.resumes;
  uint32_t gen = relays_.Gen(slot);
  if (!PumpRing(slot) || !relays_.Live(slot, gen)) return;
  if (r.dir[0].shut && r.dir[1].shut) return MaybeFinish(slot);
  UpdateInterest(slot);
}

// ---- timers and link events

void Router::ResumeTick() {
  if (by_id_.empty()) return;
  int64_t deadline = static_cast<int64_t>(opt_.outage_deadline_s) * 1000;
  for (uint32_t i = 0; i < relays_.end(); ++i) {
    if (!relays_.InUse(i)) continue;
    Relay& r = relays_[i];
    if (!r.resumable) continue;
    if (r.state == RState::kEstablished && r.done_ms != 0 && now_ms_ - r.done_ms > kFinalAckMs &&
        links_[r.link].state == LinkState::kUp) {
      // Ended both ways here; the peer, reachable, never sent its final ACK (a broken or hostile peer).
      r.quiet_reset = true;
      if (r.ring.acked() == r.ring.end()) {
        LOG_DEBUG("relay %016llx: no final ACK (EOF) from the peer router: closed", U(r.id));
        FreeRelay(i, proto::RelayState::kClosed, proto::WireCode::kOk);
      } else {
        LOG_WARN("relay %016llx: %llu bytes never acknowledged by the reachable peer router: reset", U(r.id),
                 U(r.ring.end() - r.ring.acked()));
        Reset(i, "no final ACK");
      }
      continue;
    }
    if (r.state != RState::kSuspended && r.state != RState::kResuming) continue;
    if (now_ms_ - r.suspended_ms > deadline) {
      ++recovery_.deadline_resets;
      LOG_WARN("relay %016llx: link down for more than %d s: reset", U(r.id), opt_.outage_deadline_s);
      Reset(i, "outage deadline");
      continue;
    }
    bool link_up = links_[r.link].state == LinkState::kUp && !LinkCut(r.link);
    if (r.role == Role::kHomeRemote) {
      if (r.state == RState::kResuming && now_ms_ > r.deadline_ms) {
        ResumeFailed(i, "no RESUME_OK in time");
      } else if (r.state == RState::kSuspended && link_up && r.resume_due_ms != 0 && now_ms_ >= r.resume_due_ms) {
        StartResume(i);
      }
    } else if (r.resume_due_ms != 0 && now_ms_ >= r.resume_due_ms) {
      int leg = r.leg1, node = 1 - leg;
      r.quiet_reset = true;
      if (r.dir[leg].eof && r.dir[leg].shut && r.dir[node].eof && r.ring.acked() == r.ring.end()) {
        FreeRelay(i, proto::RelayState::kClosed, proto::WireCode::kOk);  // finished; only the last ACK was lost
      } else {
        ++recovery_.orphan_resets;
        LOG_WARN("relay %016llx: no RESUME from the home router %lld ms after the link came back: reset", U(r.id),
                 static_cast<long long>(kOrphanMs));
        Reset(i, "no RESUME from the home router after the link came back");
      }
    }
  }
}

void Router::OnLinkUp(uint32_t li) {
  for (uint32_t i = 0; i < relays_.end(); ++i) {
    if (!relays_.InUse(i)) continue;
    Relay& r = relays_[i];
    if (!r.resumable || r.link != li || r.state != RState::kSuspended) continue;
    if (r.role == Role::kHomeRemote) {
      r.resume_backoff_ms = kFirstResumeBackoffMs;
      r.failed_resumes = 0;
      StartResume(i);
    } else {
      r.resume_due_ms = now_ms_ + kOrphanMs;
      SendAck(i, proto::kFlagLegLost);
    }
  }
  if (links_[li].fd >= 0) LinkFlush(li);
}

void Router::OnLinkDown(uint32_t li) {
  for (uint32_t i = 0; i < relays_.end(); ++i) {
    if (!relays_.InUse(i)) continue;
    Relay& r = relays_[i];
    if (!r.resumable || r.link != li) continue;
    if (r.state == RState::kEstablished || r.state == RState::kResuming) {
      Suspend(i, "router link down");
    } else if (r.state == RState::kSuspended && r.role == Role::kPeer) {
      r.resume_due_ms = 0;  // no orphan clock while the link is down
    }
  }
}

std::string Router::Chaos(const std::string& verb, const std::string& site, int64_t ms) {
  int li = -1;
  for (size_t i = 0; i < links_.size(); ++i)
    if (links_[i].site == site) li = static_cast<int>(i);
  if (li < 0) return "error: no link to site '" + site + "'\n";
  Link& l = links_[li];
  if (verb == "restore") {
    if (l.cut_until_ms == 0) return "ok: link " + site + " was not cut\n";
    LOG_INFO("link %s: chaos cut lifted", site.c_str());
    l.cut_until_ms = 0;
    l.backoff_ms = 50;
    l.next_dial_ms = now_ms_;
    return "ok\n";
  }
  if (verb != "cut" && verb != "reset") return "error: unknown chaos action '" + verb + "'\n";
  if (verb == "cut") {
    l.cut_until_ms = ms > 0 ? now_ms_ + ms : INT64_MAX;
    LOG_WARN("link %s: cut by uvpn chaos %s", site.c_str(), ms > 0 ? "for a while" : "until restored");
  } else {
    LOG_WARN("link %s: reset by uvpn chaos", site.c_str());
  }
  LinkDown(static_cast<uint32_t>(li), verb == "cut" ? "cut by uvpn chaos" : "reset by uvpn chaos");
  // Every connection to that site dies as in a real outage: resumable relays are suspended, others reset,
  // connections being set up fail.
  for (uint32_t i = 0; i < relays_.end(); ++i) {
    if (!relays_.InUse(i)) continue;
    Relay& r = relays_[i];
    bool cross = r.role == Role::kHomeRemote || r.role == Role::kPeer;
    if (!cross || r.link != static_cast<uint32_t>(li)) continue;
    if (r.state == RState::kConnecting || r.state == RState::kAwaitStatus) {
      Fail(i, proto::WireCode::kHostUnreach, "link cut by uvpn chaos");
    } else if (r.state == RState::kEstablished || r.state == RState::kResuming) {
      if (r.resumable) {
        Suspend(i, "uvpn chaos");
      } else {
        Reset(i, "uvpn chaos");
      }
    }
  }
  if (verb == "reset") l.next_dial_ms = now_ms_;
  return "ok\n";
}

}  // namespace uvpn::router
