/* resume.pml -- Promela model of the outage-recovery handshake of one relay (docs/outage.md, protocol.md s.10).
 *
 * Theory of operation. Two routers, H (home, end 0) and P (peer, end 1), relay N bytes each way (direction d is
 * sent by end d). A byte is represented by its stream offset, so "the receiver reads offset v with v == r" is
 * exactly "no loss, no duplication, in order". Each sender keeps a replay ring [acked, sent, fill) of RING bytes
 * (no spill file here: resume_sim_test.cc covers it). Leg-1 connections are numbered (0 is the original one,
 * H dials 1, 2, ... with a RESUME first); leg[e] carries what end e writes, tagged with the connection number.
 * A cut marks connections broken: later writes vanish, and a reader of a broken connection may stop reading it
 * at any message (what it read is the prefix that reached its kernel), and notices the break at any time.
 * The router link carries ACKs (r, EOF_SEEN, LEG_LOST); a link cut drops those in flight. On RESUME P closes its
 * old leg, rewinds to H's r and answers RESUME_OK with its own r; H rewinds on RESUME_OK. EOF is re-sent on a new
 * leg; a second EOF is ignored. A relay ends when both directions ended and its EOF is acknowledged.
 *
 * Checked: assertions at every read (no loss/duplication/order, EOF only at N, RESUME/RESUME_OK/ACK counters in
 * bounds) and the invariants after every action (acked <= r(peer) <= sent <= fill, fill - acked <= RING);
 * liveness: `ltl live` says every run reaches the end of the relay once the (at most C) cuts are spent.
 * A reset of the relay after an unknown-relay answer is accepted only if both directions were delivered.
 *
 * Finding (run_spin.sh check 3): safety holds, liveness does not. LEG_LOST (an ACK flag) does not say which leg
 * P lost. A LEG_LOST about leg n that reaches H after H resumed on leg n+1 makes H suspend leg n+1; P then sees
 * leg n+1 closed, sends LEG_LOST, which can reach H after it resumed on leg n+2, and so on: the relay is resumed
 * forever with no further fault. With -DLEGID (LEG_LOST names the lost leg; H ignores it unless it is its
 * current leg) the liveness property holds.
 *
 * Run: tests/model/run_spin.sh (spin -a, gcc pan.c, ./pan -a for the safety and liveness checks).
 */

#ifndef N
#define N 2        /* bytes per direction */
#endif
#ifndef RING
#define RING 1     /* replay ring capacity */
#endif
#ifndef C
#define C 2        /* cuts (each: legs, link, or both) */
#endif
#ifndef MAXG
#define MAXG 6     /* leg-1 connections, the original one included */
#endif
#ifndef LEGCAP
#define LEGCAP 8   /* messages in flight per leg direction, all connections together */
#endif
#define NONE 255
/* LEG_LOST as specified carries no leg identity: H suspends whatever leg it has. With -DLEGID the model tags it
 * with P's lost leg and H ignores it unless it is H's current leg (the proposed fix). */
#ifdef LEGID
#define LEGLOST_FOR_H(g) ((g) == legof[H])
#else
#define LEGLOST_FOR_H(g) true
#endif
#define UNKNOWN 254  /* RESUME_OK code 5 */
#define H 0
#define P 1

mtype = { DATA, EOF, RESUME, RESUMEOK };

typedef Conn { bit broken; bit closed[2]; bit dropped[2] };  /* dropped[e]: end e stopped reading it (cut point) */
Conn conns[MAXG];

chan leg[2] = [LEGCAP] of { byte, mtype, byte, bit };  /* conn, kind, offset or counter, EOF_SEEN */
chan ack[2] = [2] of { byte, bit, bit, byte };    /* from end e: r of direction 1-e, EOF_SEEN, LEG_LOST, leg */

byte acked[2], sent[2], fill[2];        /* direction d, at its sender (end d) */
bit eofsent[2], eofacked[2];
byte r[2], ackedr[2];                   /* direction d, at its receiver (end 1-d) */
bit eofseen[2], ackedeof[2];
byte legof[2];                          /* current leg of end e, NONE if none */
bit ready[2], susp[2], freed[2];
byte ngen = 1;
byte cuts = 0;
bit linkup = 1;
bit linkseen[2];
bit benign = 0;                         /* relay reset after it had delivered everything (last ACK lost) */

#define done (benign || (freed[0] && freed[1]))
#define delivered (r[0] == N && eofseen[0] && r[1] == N && eofseen[1])

inline check() {
  assert(acked[0] <= r[0] && r[0] <= sent[0] && sent[0] <= fill[0] && fill[0] - acked[0] <= RING);
  assert(acked[1] <= r[1] && r[1] <= sent[1] && sent[1] <= fill[1] && fill[1] - acked[1] <= RING)
}

/* end e writes one message on its current leg; it vanishes if the leg is broken or the peer closed it */
inline write(we, wk, wv, wf) {
  if
  :: !conns[legof[(we)]].broken && !conns[legof[(we)]].closed[1 - (we)] ->
     assert(nfull(leg[(we)]));  /* a model limit (LEGCAP), not a protocol property */
     leg[(we)]!legof[(we)], wk, wv, wf
  :: else -> skip
  fi
}

inline closeleg(ce) {
  conns[legof[(ce)]].closed[(ce)] = 1;
  legof[(ce)] = NONE;
  ready[(ce)] = 0
}

inline suspend(se) {
  if
  :: legof[(se)] != NONE -> closeleg(se)
  :: else -> skip
  fi;
  susp[(se)] = 1
}

inline tryfree(te) {
  if
  :: !freed[(te)] && acked[(te)] == N && eofacked[(te)] && eofseen[1 - (te)] && ackedeof[1 - (te)] ->
     freed[(te)] = 1;
     if
     :: legof[(te)] != NONE -> closeleg(te)
     :: else -> skip
     fi
  :: else -> skip
  fi
}

inline rewind(rd, rv) {
  assert(acked[(rd)] <= (rv) && (rv) <= sent[(rd)]);  /* a violation would reset the relay: must not happen */
  acked[(rd)] = (rv);
  sent[(rd)] = (rv);
  eofsent[(rd)] = 0                          /* the EOF is sent again on the new leg */
}

/* end e reads one message of leg[1 - e] */
inline receive(re) {
  leg[1 - (re)]?c, k, v, f;
  if
  :: conns[c].closed[(re)] || conns[c].dropped[(re)] -> skip
  :: conns[c].broken -> conns[c].dropped[(re)] = 1  /* the cut point: this and later messages never arrived */
  :: else ->
     if
     :: k == DATA ->
        assert(c == legof[(re)] && ready[(re)]);
        assert(!eofseen[1 - (re)]);
        assert(v == r[1 - (re)]);                 /* no loss, no duplication, in order */
        r[1 - (re)]++
     :: k == EOF ->
        if
        :: !eofseen[1 - (re)] -> assert(r[1 - (re)] == N); eofseen[1 - (re)] = 1; tryfree(re)
        :: else -> skip                       /* a second EOF is ignored */
        fi
     :: k == RESUME ->                        /* at P */
        assert(re == P);
        if
        :: freed[P] ->                        /* unknown relay: answer code 5 (the close is not modelled: */
           legof[P] = c;                       /* H reads the answer before it could notice the close) */
           write(P, RESUMEOK, UNKNOWN, 0);
           legof[P] = NONE
        :: else ->
           rewind(P, v);
           if :: f -> eofacked[P] = 1 :: else -> skip fi;
           if :: legof[P] != NONE -> closeleg(P) :: else -> skip fi;
           legof[P] = c;
           ready[P] = 1;
           susp[P] = 0;
           write(P, RESUMEOK, r[H], eofseen[H]);
           tryfree(P)
        fi
     :: k == RESUMEOK ->                      /* at H */
        assert(re == H && c == legof[H] && !ready[H]);
        if
        :: v == UNKNOWN -> assert(delivered); benign = 1
        :: else ->
           rewind(H, v);
           if :: f -> eofacked[H] = 1 :: else -> skip fi;
           ready[H] = 1;
           susp[H] = 0;
           tryfree(H)
        fi
     fi
  fi
}

/* The actions of end E. Each starts with its guard, so that an action whose guard is false is not taken. */
inline produce(E) {  /* the application writes into the ring (push-back when full) */
  atomic { !freed[(E)] && fill[(E)] < N && fill[(E)] - acked[(E)] < RING -> fill[(E)]++; check() }
}
inline senddata(E) {
  atomic { legof[(E)] != NONE && ready[(E)] && sent[(E)] < fill[(E)] && nfull(leg[(E)]) ->
    write(E, DATA, sent[(E)], 0); sent[(E)]++; check() }
}
inline sendeof(E) {
  atomic { legof[(E)] != NONE && ready[(E)] && sent[(E)] == N && !eofsent[(E)] && nfull(leg[(E)]) ->
    write(E, EOF, 0, 0); eofsent[(E)] = 1; check() }
}
inline readleg(E) {
  atomic { nempty(leg[1 - (E)]) -> receive(E); check() }
}
inline sendack(E) {  /* ACK what was read, on the router link */
  atomic { linkup && linkseen[(E)] && !freed[(E)] && nfull(ack[(E)]) &&
    (r[1 - (E)] != ackedr[1 - (E)] || eofseen[1 - (E)] != ackedeof[1 - (E)]) ->
    ack[(E)]!r[1 - (E)], eofseen[1 - (E)], 0, 0; ackedr[1 - (E)] = r[1 - (E)]; ackedeof[1 - (E)] = eofseen[1 - (E)]; tryfree(E);
    check() }
}
inline deliverack(E) {  /* the link delivers an ACK from (E) */
  atomic { linkup && nempty(ack[(E)]) -> ack[(E)]?v, f, l, c;
    if
    :: freed[1 - (E)] -> skip                  /* unknown relay: ignored */
    :: else ->
       assert(v <= sent[1 - (E)]);             /* kBad would reset the relay */
       if :: v > acked[1 - (E)] -> acked[1 - (E)] = v :: else -> skip fi;
       if :: f -> eofacked[1 - (E)] = 1 :: else -> skip fi;
       if :: l && (E) == P && !susp[H] && LEGLOST_FOR_H(c) -> suspend(H) :: else -> skip fi;
       tryfree(1 - (E))
    fi;
    check() }
}
inline noticeleg(E) {  /* a dead leg (broken, or closed by the peer): suspend; P reports LEG_LOST */
  atomic { !freed[(E)] && legof[(E)] != NONE && (conns[legof[(E)]].broken || conns[legof[(E)]].closed[1 - (E)]) ->
    c = legof[(E)];
    suspend(E);
    if
    :: (E) == P && linkup && linkseen[P] && nfull(ack[P]) -> ack[P]!r[H], eofseen[H], 1, c
    :: !(E == P && linkup && linkseen[P]) || full(ack[P]) -> skip
    fi;
    c = 0 }
}
inline noticelink(E) {
  atomic { !linkup && linkseen[(E)] -> linkseen[(E)] = 0; if :: !freed[(E)] -> suspend(E) :: else -> skip fi }
}

active proctype relay() {
  byte c, v, k0;
  mtype k;
  bit f, l;
  legof[0] = 0;
  legof[1] = 0;
  ready[0] = 1;
  ready[1] = 1;
  linkseen[0] = 1;
  linkseen[1] = 1;
  do
  :: produce(0)
  :: produce(1)
  :: senddata(0)
  :: senddata(1)
  :: sendeof(0)
  :: sendeof(1)
  :: readleg(0)
  :: readleg(1)
  :: sendack(0)
  :: sendack(1)
  :: deliverack(0)
  :: deliverack(1)
  :: noticeleg(0)
  :: noticeleg(1)
  :: noticelink(0)
  :: noticelink(1)
  /* the link comes back (HELLO both ways) once both ends saw it down */
  :: atomic { !linkup && !linkseen[0] && !linkseen[1] -> linkup = 1; linkseen[0] = 1; linkseen[1] = 1 }
  /* H dials a new leg 1 and sends RESUME */
  :: atomic { susp[H] && !freed[H] && legof[H] == NONE && linkup && linkseen[H] && ngen < MAXG ->
       legof[H] = ngen; ngen++; ready[H] = 0; write(H, RESUME, r[P], eofseen[P]) }
  /* P's timer: a suspended relay no RESUME reclaims is reset (only once H ended it) */
  :: atomic { freed[H] && !freed[P] && susp[P] && linkup -> assert(delivered); benign = 1 }
  /* a cut: 1 the legs, 2 the link, 3 both (uvpn chaos cut) */
  :: atomic { cuts < C && !done -> cuts++;
       if :: k0 = 1 :: k0 = 2 :: k0 = 3 fi;
       if
       :: k0 != 2 ->
          c = 0;
          do :: c < ngen -> conns[c].broken = 1; c++ :: else -> break od
       :: else -> skip
       fi;
       if
       :: k0 != 1 && linkup ->
          linkup = 0;
          do :: nempty(ack[0]) -> ack[0]?_, _, _, _ :: nempty(ack[1]) -> ack[1]?_, _, _, _ :: empty(ack[0]) && empty(ack[1]) -> break od
       :: else -> skip
       fi;
       c = 0; k0 = 0 }
  :: done -> break
  od;
  assert(benign || delivered)
}
ltl live { <> done }
