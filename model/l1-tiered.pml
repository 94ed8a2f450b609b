/*
 * l1-tiered.pml: L1 as a full protocol tier, the design the implementation
 * chose (packages/core/src/cache.ts with memory-store.ts), for one key.
 *
 * Each of the NI = 2 app instances has an in-process L1 tier that runs the
 * SAME protocol as L2 (l2.pml): fill leases, write marks (in-flight set and
 * version floor), values; its backing store is "L2 + database", reached
 * through the verified L2 read path (l2_read). The invalidation bus applies
 * invalidate(v) to the other instances' L1.
 *
 * Placement: writer w runs on instance w % 2, reader r on instance r % 2
 * (with NR = 1: instance 0 has a reader and a writer, instance 1 a writer
 * whose messages reach instance 0), or every reader on instance 0 with
 * -DREADERS_I0. By default readers of one instance do not share loads, so
 * that L1's MISS_WAIT path is exercised beyond what the implementation's
 * single flight allows; -DSINGLE_FLIGHT models the flights map (a read joins
 * the load in flight), to show that a counterexample is one of the
 * implementation.
 *
 * A read on instance i (cache.ts: get, #slowRead, #readFrom, #continue):
 *   it starts with L1_i.get, one step (or, while the bus is down, it skips L1_i);
 *   HIT            return it;
 *   LEASE(token)   read through L2 (l2_read: L2 hit, or lease/fill from the DB,
 *                  or a DB read on WRITING/WAIT with L2.invalidate(v)), then
 *                  L1_i.fill(token, value, v): a fill whose lease is gone acts
 *                  as L1_i.invalidate(v);
 *   WRITING        read through L2, then L1_i.invalidate(v) ("report");
 *   WAIT           retry L1_i.get at most RETRIES times, then as WRITING.
 *                  The implementation's retries do not look at the bypass
 *                  (fix: FIX_L1_WAIT_BYPASS).
 * The L1 step runs even if the bus went down meanwhile (#fill and #report do
 * not look at the bypass), and the read returns with it. A read that skipped
 * L1 tells L1 nothing in the implementation (fix: FIX_L1_BYPASS_REPORT).
 *
 * A write on instance i (#writeOne, #beginAll, #commitAll): L1_i.beginWrite
 * (skipped while the bus is down: "not begun"), L2.beginWrite, DB commit -> v,
 * L2.commitWrite, then the L1 step: L1_i.commitWrite if begun, else (if the
 * bus is up again) L1_i.invalidate(v), else nothing; then publish v to the
 * other instances (no self-delivery) and acknowledge. With -DEARLY_ACK=1 a
 * write whose L1 beginWrite ran is acknowledged with its DB commit (before
 * both commitWrite steps and the publish); -DEARLY_ACK=2 runs its L1
 * commitWrite right after the DB commit, acknowledges with it, then L2's
 * commitWrite and the publish. A crash may come after the early ack. A refused DB write
 * (DBFAIL) aborts on L1_i (if begun) and on L2. A crash (before or after the
 * commit) ends the writer; with OUTBOX the relay applies L2.invalidate(v) and
 * publishes v to both instances. With UNKNOWN a DB call may time out with an
 * unknown outcome (#writeFailed): L1_i and L2 drop the key and revoke the
 * lease but keep the writer's token, the writer publishes 0 (receivers drop
 * the key: invalidate without a version) and returns an error; the transaction
 * may still commit later (then, with OUTBOX, the relay as above) or roll back.
 *
 * Bus (#onBusMessage, #onBusState): applying message v on instance j is
 * L1_j.invalidate(v). A noticed loss of j's subscription (at most BUSLOSS)
 * loses j's queue, clears L1_j entirely (values, leases, marks) and bypasses
 * it until j reconnects. At most DROPS messages vanish unnoticed.
 * L1 faults (LRU eviction, TTL): the L1 value, lease and mark may vanish at
 * any time (L1VALUELOSS, L1LEASELOSS, L1MARKLOSS).
 *
 * Fixes found with this model (on by default; -DTIERED_IMPL = the implementation
 * as it is): FIX_L1_BYPASS_REPORT, FIX_L1_WAIT_BYPASS (below).
 *
 * Broken variants (each must be caught):
 *   BUS_DROP_ONLY          the bus handler only drops a present L1 value: no
 *                          floor raise, no lease revoke (guard 'bus-floor' off)
 *   NO_CLEAR_ON_LOSS       a lost subscription neither clears nor bypasses L1
 *   L1_NO_LEASE            L1 fill installs without a current lease
 *   L1_NO_REPORT           no L1_i.invalidate(v) after a WRITING/WAIT read
 *   SKIPPED_NO_INVALIDATE  a write whose L1 step was skipped (bus down at
 *                          beginWrite) does nothing to L1 when it commits
 *                          after the reconnect (instead of invalidate(v))
 *   L1_NO_FAILSAFE         L1 commitWrite with a missing token installs as
 *                          if the token were there
 *
 * Guarantees of a read on instance i, checked with assert (as in l1.pml):
 *   L1-RYW  rv >= every write acknowledged on instance i before it started
 *   L1-MR   rv >= every read that completed on instance i before it started
 *   L1-BUS  rv >= every version whose message instance i applied before it
 *           started, and >= every write acknowledged before i's last reconnect
 *   P3      no phantom                    (rv <= db_ver && rval == db_val[rv])
 *   L1-CONV (DROPS == 0, or CHECK_CONV; not with NO_CHECK_CONV) once every
 *           process has finished and every message is delivered, each L1 holds
 *           nothing or the DB's latest
 *   P1, P2  across instances, with NO_L1 (reads skip L1: only the L2 path) or
 *           CHECK_LINEARIZABLE (with L1: not guaranteed, must be caught)
 */
#ifndef ROPS
#define ROPS 2
#endif
#ifndef CRASHES
#define CRASHES 0
#endif
/* L2 faults are covered by protocol.pml; off here by default (as in l1.pml). */
#ifndef MARKLOSS
#define MARKLOSS 0
#endif
#ifndef LEASELOSS
#define LEASELOSS 0
#endif
#ifndef VALUELOSS
#define VALUELOSS 0
#endif
#include "l2.pml"

#define NI 2
#define INST_W(w) ((w) % NI)
#ifdef READERS_I0
#define INST_R(r) 0             /* every reader on instance 0: L1 leases contend (MISS_WAIT) */
#else
#define INST_R(r) ((r) % NI)
#endif
#ifndef DROPS
#define DROPS 0         /* messages that vanish unnoticed            */
#endif
#ifndef BUSLOSS
#define BUSLOSS 1       /* noticed losses of a subscription, in all  */
#endif
#ifndef L1VALUELOSS
#define L1VALUELOSS 1   /* an L1 value may vanish at any time (SIEVE eviction, TTL) */
#endif
#ifndef L1LEASELOSS
#define L1LEASELOSS 1   /* an L1 lease may vanish at any time (LRU, TTL) */
#endif
#ifndef L1MARKLOSS
#define L1MARKLOSS 1    /* an L1 mark (in-flight set + floor) may vanish at any time (LRU, TTL) */
#endif
/* The instances whose L1 and subscription are subject to faults (bit j: instance
 * j). By default only instances with a reader: the faults of an instance that
 * no read uses change only what nobody reads. */
#ifndef FAULTY
#if NR >= 2 && !defined(READERS_I0)
#define FAULTY 3
#else
#define FAULTY 1
#endif
#endif
#define FAULTY_ON(j) ((FAULTY & (1 << (j))) != 0)
/* REMOTE_MARKS (proposed fix, implies PUBLISH_BEGIN): the begin message carries
 * the writer's token and receivers add it to their L1 in-flight set
 * (beginWrite); the commit message carries token and version and receivers
 * remove the token and invalidate(v). L1's set then holds every writer of the
 * key, as L2's does. */
/* TIERED_HEAD: the implementation as changed meanwhile (both fixes below, plus
 * PUBLISH_BEGIN: a write publishes 0 once it has begun, and SETTLED_FILL: an L1
 * lease holder whose L2 part met a write in flight (MISS_WRITING, or MISS_WAIT
 * after the retries) reports to L1 instead of filling it). */
#ifdef TIERED_HEAD
#define PUBLISH_BEGIN
#define SETTLED_FILL
#endif
/* Fixes to the implementation found with this model (on by default; TIERED_IMPL
 * turns both off: the implementation as it was). */
#ifdef TIERED_IMPL
#ifndef FIX_L1_BYPASS_REPORT
#define FIX_L1_BYPASS_REPORT 0
#endif
#ifndef FIX_L1_WAIT_BYPASS
#define FIX_L1_WAIT_BYPASS 0
#endif
#endif
#ifndef FIX_L1_BYPASS_REPORT
#define FIX_L1_BYPASS_REPORT 1  /* a read that skipped L1 (bus down when it started)
                                   reports its version to L1 before it returns, if
                                   L1 is in use again: L1_i.invalidate(v).
                                   2 = the same, also while L1 is still bypassed.
                                   0 = the implementation (L1-MR fails) */
#endif
#ifndef FIX_L1_WAIT_BYPASS
#define FIX_L1_WAIT_BYPASS 1    /* a MISS_WAIT retry re-checks the bypass (and skips
                                   L1 if the bus went down meanwhile) instead of
                                   calling L1 get: 0 = the implementation (a retry
                                   can take a lease in the cleared, bypassed L1 and
                                   fill it: L1-BUS, L1-RYW, L1-CONV fail) */
#endif
#if OUTBOX == 2
#define BUSCAP (4 * MAXV + RELAY_AGAIN)  /* a write publishes at most 0 (PUBLISH_BEGIN), 0 (unknown outcome) and v; the relay v */
#else
#define BUSCAP (3 * MAXV)     /* a write publishes at most 0 (PUBLISH_BEGIN), 0 (unknown outcome) and v */
#endif

/* ---------------- L1 and bus state, per instance ---------------- */
bool l1_has[NI];
byte l1_ver[NI];
byte l1_val[NI];
byte l1_lease[NI];              /* current L1 lease token, 0 = none           */
byte l1_inflight[NI];           /* L1 mark: in-flight writers of this instance */
byte l1_floor[NI];              /* L1 mark: version floor                     */
bool connected[NI];
chan bus[NI] = [BUSCAP] of { byte };
byte busloss, drops;

/* ---------------- monitors ---------------- */
byte own_acked[NI];             /* highest version acknowledged by a write on this instance */
byte inst_returned[NI];         /* highest version returned by a completed read on this instance */
byte delivered[NI];             /* highest version applied from the bus here, or acknowledged before the last reconnect */
byte acked, returned;           /* across instances (NO_L1, CHECK_LINEARIZABLE) */

#if defined(NO_L1) || defined(CHECK_LINEARIZABLE)
#define CHECK_P12
#endif

/* SINGLE_FLIGHT: the implementation's flights map (cache.ts #flights, #slowRead),
 * per instance: inmap[i] = r + 1 when reader r's load is the key's flight in the
 * map. A read whose L1 get is not a hit and not a lease (or that skips a
 * bypassed L1) joins the flight in the map if there is one; the model then
 * drops that read (it touches no tier: this only removes checks, so every
 * violation found with SINGLE_FLIGHT is one of the implementation). The map
 * entry goes with: a write's start and its DB commit (#writeOne), a bus
 * message, a lost subscription, and the end of its own load. */
#ifdef SINGLE_FLIGHT
byte inmap[NI];
#define FLIGHT_DROP(i)   inmap[i] = 0
#define FLIGHT_END(i)    if :: inmap[i] == r + 1 -> inmap[i] = 0 :: else -> skip fi
#else
#define FLIGHT_DROP(i)   skip
#define FLIGHT_END(i)    skip
#endif

#ifdef NO_CLEAR_ON_LOSS
#define BYPASSED(i)   false             /* broken: L1 kept and used while the bus is down */
#else
#define BYPASSED(i)   (!connected[i])
#endif

/* ---------------- L1 steps: l2.pml's scripts on instance i's arrays ---------------- */
inline l1_drop(i)            { l1_has[i] = 0; l1_ver[i] = 0; l1_val[i] = 0 }
inline l1_put(i, val, v)     { l1_has[i] = 1; l1_ver[i] = v; l1_val[i] = val }

/* MemoryStore.getSync */
inline l1_get(i, tok, res, val, v) {
  if
  :: l1_has[i] -> res = HIT; v = l1_ver[i]; val = l1_val[i]
  :: else ->
     if
     :: l1_inflight[i] != 0 -> res = WRITING
     :: else ->
        if
        :: l1_lease[i] != 0 -> res = WAIT
        :: else -> l1_lease[i] = tok; res = LEASE
        fi
     fi
  fi
}

/* MemoryStore.invalidateSync(key, v) (#invalidateVersion) */
inline l1_invalidate(i, v) {
  if :: v > l1_floor[i] -> l1_floor[i] = v :: else -> skip fi;
  l1_lease[i] = 0;
  if :: l1_has[i] && l1_ver[i] < v -> l1_drop(i) :: else -> skip fi
}

/* #fillInstall: no writer in flight, v >= floor, newer than the cached value */
#define L1_FILL_OK(i, v) (l1_inflight[i] == 0 && (v) >= l1_floor[i] && (!l1_has[i] || (v) > l1_ver[i]))
/* #commitInstall: no writer left, v == floor, newer than the cached value */
#define L1_COMMIT_OK(i, v) (l1_inflight[i] == 0 && (v) == l1_floor[i] && (!l1_has[i] || (v) > l1_ver[i]))

/* MemoryStore.fillSync */
inline l1_fill(i, tok, val, v) {
  if
  :: l1_lease[i] == tok ->
     l1_lease[i] = 0;
     if :: L1_FILL_OK(i, v) -> l1_put(i, val, v) :: else -> skip fi
  :: else ->
#ifdef L1_NO_LEASE
     if :: L1_FILL_OK(i, v) -> l1_put(i, val, v) :: else -> skip fi
#else
     l1_invalidate(i, v)
#endif
  fi
}

/* MemoryStore.beginWriteSync */
inline l1_begin_write(i, w) {
  l1_drop(i);
  l1_lease[i] = 0;
  l1_inflight[i] = l1_inflight[i] | BIT(w)
}

/* MemoryStore.commitWriteSync */
inline l1_commit_write(i, w, val, v) {
  if :: v > l1_floor[i] -> l1_floor[i] = v :: else -> skip fi;
  l1_lease[i] = 0;
  if
  :: (l1_inflight[i] & BIT(w)) != 0 ->
     l1_inflight[i] = l1_inflight[i] & ~BIT(w);
     if :: L1_COMMIT_OK(i, v) -> l1_put(i, val, v) :: else -> skip fi
  :: else ->
#ifdef L1_NO_FAILSAFE
     if :: L1_COMMIT_OK(i, v) -> l1_put(i, val, v) :: else -> skip fi
#else
     l1_drop(i)
#endif
  fi
}

/* MemoryStore.abortWriteSync */
inline l1_abort_write(i, w) { l1_inflight[i] = l1_inflight[i] & ~BIT(w) }

/* Bus messages, one byte: a version v (0: drop, no version), or with
 * REMOTE_MARKS a writer's begin (its token) or commit (token and version). */
#define MSG_BEGIN(w)     (64 + (w) * 16)
#define MSG_COMMIT(w, v) (128 + (w) * 16 + (v))
#define MSG_KIND(m)      ((m) / 64)
#define MSG_W(m)         (((m) % 64) / 16)
#define MSG_V(m)         ((m) % 16)
#ifdef REMOTE_MARKS
#define PUBLISH_BEGIN
#define BEGIN_MSG(w)     MSG_BEGIN(w)
#define COMMIT_MSG(w, v) MSG_COMMIT(w, v)
#else
#define BEGIN_MSG(w)     0
#define COMMIT_MSG(w, v) (v)
#endif

/* MemoryStore.clearSync (#onBusState('disconnected')) */
inline l1_clear(i) { l1_drop(i); l1_lease[i] = 0; l1_inflight[i] = 0; l1_floor[i] = 0 }

/* #onBusMessage: apply message v on instance j */
inline l1_bus_apply(j, v) {
  if
  :: MSG_KIND(v) == 1 ->                        /* REMOTE_MARKS: beginWrite(remote token) */
     l1_begin_write(j, MSG_W(v))
  :: MSG_KIND(v) == 2 ->                        /* REMOTE_MARKS: the remote token leaves, invalidate(v) */
     l1_inflight[j] = l1_inflight[j] & ~BIT(MSG_W(v));
     l1_invalidate(j, MSG_V(v))
  :: v == 0 -> l1_drop(j); l1_lease[j] = 0     /* invalidate(key): a write began, or an unknown outcome */
  :: MSG_KIND(v) == 0 && v != 0 ->
#ifdef BUS_DROP_ONLY
  if :: l1_has[j] -> l1_drop(j) :: else -> skip fi     /* 'bus-floor' guard off */
#else
  l1_invalidate(j, v)
#endif
  fi
}

inline print_l1_one(i) {
  printf("I%d ", i);
  if :: l1_has[i] -> printf("v%d", l1_ver[i]) :: else -> printf("-") fi;
  if :: l1_lease[i] != 0 -> printf(" lease %d", l1_lease[i]) :: else -> skip fi;
  printf(" {");
  if :: l1_inflight[i] & 1 -> printf(" W0") :: else -> skip fi;
  if :: l1_inflight[i] & 2 -> printf(" W1") :: else -> skip fi;
  if :: l1_inflight[i] & 4 -> printf(" W2") :: else -> skip fi;
  printf(" } floor %d", l1_floor[i]);
  if :: connected[i] -> skip :: else -> printf(" BUS DOWN") fi
}
inline print_l1() {
  printf("          L1: "); print_l1_one(0); printf(" | "); print_l1_one(1); printf("\n")
}

/* ---------------- hooks of l2_read ---------------- */
inline read_begin() { skip }    /* the read started at its L1 step */

/* The read returns (rval, rv): the checks, then the monitors. */
inline read_complete() {
  printf("R%d      returns v%d on I%d    [when it started, on I%d: own ack v%d, read v%d, applied v%d]\n",
         r, rv, i, i, ryw_at_start, mr_at_start, bus_at_start);
  assert(rv >= ryw_at_start);                    /* L1-RYW  */
  assert(rv >= mr_at_start);                     /* L1-MR   */
  assert(rv >= bus_at_start);                    /* L1-BUS  */
  assert(rv <= db_ver && rval == db_val[rv]);    /* P3      */
#ifdef CHECK_P12
  assert(rv >= ack_at_start);                    /* P1 across instances */
  assert(rv >= ret_at_start);                    /* P2 across instances */
  if :: rv > returned -> returned = rv :: else -> skip fi;
  ack_at_start = 0; ret_at_start = 0;
#endif
  if :: rv > inst_returned[i] -> inst_returned[i] = rv :: else -> skip fi;
  FLIGHT_END(i);
  rv = 0; rval = 0; res1 = 0; tok1 = 0; skip1 = 0;
  ryw_at_start = 0; mr_at_start = 0; bus_at_start = 0
}

/* The L2 part returned: a read that skipped L1 returns now (the
 * implementation), or reports to L1 first in a separate step (below, with
 * FIX_L1_BYPASS_REPORT); a read that used L1 does its L1 step first. */
inline read_done() {
#ifdef SETTLED_FILL
  unsettled = (res == WRITING || res == WAIT);   /* L2 had a write in flight */
#endif
#if FIX_L1_BYPASS_REPORT && !defined(NO_L1)
  skip
#else
  if :: skip1 -> read_complete() :: else -> skip fi
#endif
}

inline write_begin() { skip }
inline write_committed() { skip }

/* The write is acknowledged (the caller's promise): across instances and on
 * its own instance (L1-RYW). */
inline write_ack() {
  if :: v > acked -> acked = v :: else -> skip fi;
  if :: v > own_acked[i] -> own_acked[i] = v :: else -> skip fi;
  printf("W%d      write acknowledged\n", w)
}
/* EARLY_ACK: acknowledged before the commitWrite steps, only if every tier's
 * beginWrite ran (begun1: L1 was not bypassed; L2's always runs here) */
#define ACKED_EARLY (EARLY_ACK != 0 && begun1)

inline relay(v) {
#if OUTBOX == 1
  atomic {
    l2_invalidate(v);
    if :: connected[0] -> bus[0]!v :: else -> skip fi;
    if :: connected[1] -> bus[1]!v :: else -> skip fi;
    printf("RELAY   outbox: L2 invalidate(v%d), publish v%d\n", v, v); print_state()
  }
#elif OUTBOX == 2
  atomic { outbox_unsettled(v) }   /* the Relay process applies it later */
#else
  skip
#endif
}

#if OUTBOX == 2
/* The relay's cache.invalidate(key, v) after its L2 step: the relay runs on an
 * instance of its own (its L1 step is invalidateSync there, then #publish), so
 * v reaches both instances through the bus (plain version message: receivers
 * apply L1_j.invalidate(v)). */
inline relay_publish(v) {
  atomic {
    if :: connected[0] -> bus[0]!v :: else -> skip fi;
    if :: connected[1] -> bus[1]!v :: else -> skip fi;
    printf("RELAY   publish v%d\n", v)
  }
}

/* The outbox relay (l2.pml relay_pass), concurrent with everything else. */
active proctype Relay() {
  byte v, rows, again;
end:
  do
  :: relay_pass(v, rows, again)
  od
}
#endif

/* the read joins the load in flight: it returns that load's result and touches
 * no tier; the model drops it (see SINGLE_FLIGHT) */
inline JOIN_FLIGHT() {
  printf("R%d      joins R%d's load in flight on I%d (dropped from the model)\n", r, inmap[i] - 1, i);
  rv = 0; rval = 0; res1 = 0; tok1 = 0; skip1 = 0; tries1 = 0;
  ryw_at_start = 0; mr_at_start = 0; bus_at_start = 0;
#ifdef CHECK_P12
  ack_at_start = 0; ret_at_start = 0;
#endif
  break
}

proctype Reader(byte r) {
  byte i, k, tries, tok, rv, rval, tries1, tok1;
  byte ryw_at_start, mr_at_start, bus_at_start;
#ifdef CHECK_P12
  byte ack_at_start, ret_at_start;
#endif
  bool skip1;
#ifdef SETTLED_FILL
  bool unsettled;
#endif
  mtype res, res1;
  i = INST_R(r);
  do
  :: k < ROPS ->
     /* the read starts: L1_i.get (retried while another read of this instance holds the L1 lease) */
     do
     :: atomic {
          if
          :: tries1 == 0 ->
             ryw_at_start = own_acked[i]; mr_at_start = inst_returned[i]; bus_at_start = delivered[i];
#ifdef CHECK_P12
             ack_at_start = acked; ret_at_start = returned;
#endif
             skip
          :: else -> skip
          fi;
          if
          :: tries1 == 0 ->                          /* only when the read starts (get): */
#ifdef NO_L1
             skip1 = 1
#else
             skip1 = BYPASSED(i)
#endif
#if FIX_L1_WAIT_BYPASS
          :: else -> skip1 = BYPASSED(i)             /* [fix] a retry re-checks the bypass */
#else
          :: else -> skip                            /* #continue's MISS_WAIT retries call L1 get
                                                        without looking at the bypass */
#endif
          fi;
#ifdef SINGLE_FLIGHT
          if                                         /* #slowRead: join the flight in the map? */
          :: tries1 == 0 && skip1 && inmap[i] != 0 -> JOIN_FLIGHT()
          :: tries1 == 0 && skip1 && inmap[i] == 0 -> inmap[i] = r + 1
          :: else -> skip
          fi;
#endif
          if
          :: skip1 -> printf("R%d      L1 bypassed on I%d\n", r, i); tries1 = 0; break
          :: else ->
             tok1 = TOKEN(r, k);
             l1_get(i, tok1, res1, rval, rv);
#ifdef SINGLE_FLIGHT
             if
             :: tries1 == 0 && res1 == LEASE -> inmap[i] = r + 1
             :: tries1 == 0 && (res1 == WRITING || res1 == WAIT) && inmap[i] != 0 -> JOIN_FLIGHT()
             :: tries1 == 0 && (res1 == WRITING || res1 == WAIT) && inmap[i] == 0 -> inmap[i] = r + 1
             :: else -> skip
             fi;
#endif
             if
             :: res1 == HIT     -> printf("R%d      L1 get -> HIT v%d on I%d\n", r, rv, i)
             :: res1 == LEASE   -> printf("R%d      L1 get -> MISS_WITH_LEASE (token %d) on I%d\n", r, tok1, i)
             :: res1 == WRITING -> printf("R%d      L1 get -> MISS_WRITING on I%d\n", r, i)
             :: res1 == WAIT    -> printf("R%d      L1 get -> MISS_WAIT on I%d\n", r, i)
             fi;
             print_l1();
             if
             :: res1 == HIT -> tries1 = 0; read_complete(); break
             :: res1 == WAIT && tries1 < RETRIES -> tries1++
             :: else -> tries1 = 0; break
             fi
          fi
        }
     od;
     if
#if FIX_L1_BYPASS_REPORT && !defined(NO_L1)
     :: skip1 ->                                     /* [fix] report to L1 if it is in use again */
        l2_read(r, k);
        atomic {
          if
          :: !BYPASSED(i) || FIX_L1_BYPASS_REPORT == 2 ->
             l1_invalidate(i, rv);
             printf("R%d      L1 invalidate(v%d) on I%d (the read skipped L1)\n", r, rv, i); print_l1()
          :: else -> skip
          fi;
          read_complete()
        }
#else
     :: skip1 -> l2_read(r, k)                      /* completes in its last step */
#endif
     :: res1 == LEASE || res1 == WRITING || res1 == WAIT ->
        l2_read(r, k);
        atomic {
          if
#ifdef SETTLED_FILL
          :: res1 == LEASE && unsettled ->          /* 'settled-fill': report, do not fill */
             l1_invalidate(i, rv); unsettled = 0;
             printf("R%d      L1 invalidate(v%d) on I%d (L2 had a write in flight: no fill)\n", r, rv, i)
          :: res1 == LEASE && !unsettled ->
#else
          :: res1 == LEASE ->
#endif
             l1_fill(i, tok1, rval, rv);
             printf("R%d      L1 fill(token %d, v%d) on I%d\n", r, tok1, rv, i)
          :: else ->
#ifdef SETTLED_FILL
             unsettled = 0;
#endif
#ifndef L1_NO_REPORT
             l1_invalidate(i, rv);
             printf("R%d      L1 invalidate(v%d) on I%d\n", r, rv, i)
#else
             printf("R%d      (no L1 report)\n", r)
#endif
          fi;
          print_l1();
          read_complete()
        }
     :: else -> skip                                 /* L1 hit: done */
     fi;
     k++
  :: else -> break
  od;
  done++
}

/* One write on instance i: L1 begin, L2 begin, DB, L2 commit, L1 commit, publish, ack. */
proctype Writer(byte w) {
  byte i, k, v, j;
  bool begun1;
#if TIERFAIL
  bool failed2;
#endif
  i = INST_W(w);
  do
  :: k < WOPS ->
     atomic {
       FLIGHT_DROP(i);                                /* #writeOne: #flights.delete(key) */
       begun1 = !BYPASSED(i);
       if
       :: begun1 -> l1_begin_write(i, w); printf("W%d      L1 beginWrite on I%d\n", w, i)
       :: else -> printf("W%d      L1 bypassed on I%d: not begun\n", w, i)
       fi;
       print_l1()
     };
     atomic {
       l2_begin_write(w); pending = pending | BIT(w);
       printf("W%d      L2 beginWrite\n", w); print_state()
     };
#ifdef PUBLISH_BEGIN
     atomic {                                         /* 'publish-begin': announce the write */
       for (j : 0 .. NI - 1) {
         if
         :: j != i && connected[j] -> bus[j]!BEGIN_MSG(w)
         :: else -> skip
         fi
       };
       j = 0;
       printf("W%d      publish: a write began\n", w)
     };
#endif
     if
     :: crashes < CRASHES ->                          /* crash before the commit */
        atomic { crashes++; pending = pending & ~BIT(w); printf("W%d      CRASH before the DB commit\n", w) };
        goto crashed
#if DBFAIL
     :: atomic {                                      /* the DB refused the write: abortWrite on L1, then L2 */
          pending = pending & ~BIT(w);
          if :: begun1 -> l1_abort_write(i, w) :: else -> skip fi;
          printf("W%d      DB write failed; L1 abortWrite\n", w); print_l1()
        };
        atomic { l2_abort_write(w); printf("W%d      L2 abortWrite\n", w); print_state() };
        goto next
#endif
#if UNKNOWN
     :: atomic {                                      /* timeout, outcome unknown (#writeFailed): every tier */
          if                                          /* drops the key and keeps this writer's token */
          :: !BYPASSED(i) -> l1_drop(i); l1_lease[i] = 0; printf("W%d      DB timeout, outcome unknown: L1 invalidate on I%d\n", w, i)
          :: else -> printf("W%d      DB timeout, outcome unknown: L1 bypassed on I%d\n", w, i)
          fi;
          print_l1()
        };
        atomic {
          l2_unknown_outcome(w);
          for (j : 0 .. NI - 1) {
            if
            :: j != i && connected[j] -> bus[j]!0      /* publish(key, 0): drop, no version */
            :: else -> skip
            fi
          };
          j = 0;
          printf("W%d      L2 invalidate, publish 0, error to the caller\n", w); print_state()
        };
        if                                            /* the transaction may still commit */
        :: atomic {
             db_commit(WVAL(w), v); pending = pending & ~BIT(w);
             printf("W%d      (its transaction commits late) -> v%d\n", w, v)
           };
           relay(v)
        :: atomic { pending = pending & ~BIT(w); printf("W%d      (its transaction rolls back)\n", w) }
        fi;
        goto next
#endif
     :: atomic {
          db_commit(WVAL(w), v); pending = pending & ~BIT(w);
          FLIGHT_DROP(i);                             /* #flights.delete(key) after the commit */
          printf("W%d      DB commit -> v%d\n", w, v);
#if EARLY_ACK == 1
          if :: begun1 -> write_ack() :: else -> skip fi;   /* EARLY_ACK: acknowledged now */
#endif
          skip
        }
     fi;
#if EARLY_ACK == 2
     if                                               /* EARLY_ACK 2: L1 commitWrite first, ack with it */
     :: begun1 ->
        if
        :: crashes < CRASHES ->                       /* crash after the commit, before the L1 step */
           crashes++;
           printf("W%d      CRASH after the DB commit\n", w);
           relay(v);
           goto crashed
        :: atomic {
             l1_commit_write(i, w, WVAL(w), v);
             printf("W%d      L1 commitWrite(v%d) on I%d (before L2's)\n", w, v, i);
             write_ack(); print_l1()
           }
        fi
     :: else -> skip
     fi;
#endif
     if
     :: crashes < CRASHES ->                          /* crash after the commit (ACKED_EARLY: after the ack) */
        crashes++;
        printf("W%d      CRASH after the DB commit\n", w);
        relay(v);
        goto crashed
     :: atomic {
          l2_commit_write(w, WVAL(w), v);
          printf("W%d      L2 commitWrite(v%d)\n", w, v); print_state()
        }
#if TIERFAIL
     :: atomic {                                      /* L2 unreachable: commitWrite did not run */
          tierfails < TIERFAIL -> tierfails++; failed2 = 1;
          printf("W%d      L2 commitWrite(v%d) failed (not run)\n", w, v); print_state()
        }
     :: atomic {                                      /* it ran, the reply was lost */
          tierfails < TIERFAIL -> tierfails++; failed2 = 1;
          l2_commit_write(w, WVAL(w), v);
          printf("W%d      L2 commitWrite(v%d) ran, reply lost\n", w, v); print_state()
        }
#endif
     fi;
#if TIERFAIL
     if
     :: failed2 ->                                    /* #commitAll goes on with L1, then throws (policy
                                                         'fail'): no publish, no ack, not settled */
        atomic {
          if
#if EARLY_ACK == 2
          :: begun1 -> skip                           /* its L1 step ran before L2's */
#else
          :: begun1 -> l1_commit_write(i, w, WVAL(w), v); printf("W%d      L1 commitWrite(v%d) on I%d\n", w, v, i)
#endif
          :: !begun1 && BYPASSED(i) -> skip
          :: else -> l1_invalidate(i, v); printf("W%d      L1 not begun: invalidate(v%d) on I%d\n", w, v, i)
          fi;
          outbox_unsettled(v);
          printf("W%d      error to the caller (L2 failed): no publish, not settled\n", w); print_l1()
        };
        goto next
     :: else -> skip
     fi;
#endif
     atomic {                                         /* L1 step, publish, acknowledge */
       if
#if EARLY_ACK == 2
       :: begun1 -> skip                              /* its L1 step ran before L2's */
#else
       :: begun1 ->
          l1_commit_write(i, w, WVAL(w), v);
          printf("W%d      L1 commitWrite(v%d) on I%d\n", w, v, i)
#endif
       :: !begun1 && BYPASSED(i) ->
          printf("W%d      L1 still bypassed on I%d: nothing\n", w, i)
       :: else ->
#ifdef SKIPPED_NO_INVALIDATE
          printf("W%d      L1 not begun: nothing (broken)\n", w)
#else
          l1_invalidate(i, v);
          printf("W%d      L1 not begun: invalidate(v%d) on I%d\n", w, v, i)
#endif
       fi;
       for (j : 0 .. NI - 1) {
         if
         :: j != i && connected[j] -> bus[j]!COMMIT_MSG(w, v)   /* queues never fill: BUSCAP >= every write */
         :: else -> skip
         fi
       };
       j = 0;
       if :: !ACKED_EARLY -> write_ack() :: else -> skip fi;
       outbox_settle(v);                              /* every tier held it: #settle */
       printf("W%d      publish v%d\n", w, v); print_l1()
     };
next: v = 0; begun1 = 0;
#if TIERFAIL
     failed2 = 0;
#endif
     k++
  :: else -> break
  od;
crashed:
  done++
}

/* ---------------- environment ---------------- */
#if L1VALUELOSS
#define L1_VALUE_LOSS(j) :: atomic { FAULTY_ON(j) && l1_has[j] -> l1_drop(j); printf("EXPIRE  L1 value on I%d gone\n", j); print_l1() }
#else
#define L1_VALUE_LOSS(j)
#endif
#if L1LEASELOSS
#define L1_LEASE_LOSS(j) :: atomic { FAULTY_ON(j) && l1_lease[j] != 0 -> l1_lease[j] = 0; printf("EXPIRE  L1 lease on I%d gone\n", j); print_l1() }
#else
#define L1_LEASE_LOSS(j)
#endif
#if L1MARKLOSS
#define L1_MARK_LOSS(j) :: atomic { FAULTY_ON(j) && (l1_inflight[j] != 0 || l1_floor[j] != 0) -> l1_inflight[j] = 0; l1_floor[j] = 0; \
       printf("EXPIRE  L1 mark on I%d gone\n", j); print_l1() }
#else
#define L1_MARK_LOSS(j)
#endif

#ifdef NO_CLEAR_ON_LOSS
#define LOSS_CLEAR(j) skip
#else
#define LOSS_CLEAR(j) l1_clear(j)
#endif

#define BUS_OPTIONS(j) \
  :: atomic { nempty(bus[j]) -> bus[j]?m; \
       if :: MSG_KIND(m) == 0 && m != 0 -> printf("BUS     I%d applies v%d\n", j, m) \
          :: m == 0 -> printf("BUS     I%d applies 0: drop the value, revoke the lease\n", j) \
          :: MSG_KIND(m) == 1 -> printf("BUS     I%d applies W%d's begin: L1 beginWrite(W%d)\n", j, MSG_W(m), MSG_W(m)) \
          :: MSG_KIND(m) == 2 -> printf("BUS     I%d applies W%d's commit v%d: W%d leaves, invalidate(v%d)\n", j, MSG_W(m), MSG_V(m), MSG_W(m), MSG_V(m)) \
       fi; \
       FLIGHT_DROP(j); l1_bus_apply(j, m); \
       if :: MSG_KIND(m) != 1 && MSG_V(m) > delivered[j] -> delivered[j] = MSG_V(m) :: else -> skip fi; \
       m = 0; print_l1() } \
  :: atomic { drops < DROPS && nempty(bus[j]) -> bus[j]?m; drops++; \
       printf("BUS     message v%d to I%d lost unnoticed\n", m, j); m = 0 } \
  :: atomic { FAULTY_ON(j) && connected[j] && busloss < BUSLOSS -> busloss++; \
       connected[j] = 0; \
       do :: nempty(bus[j]) -> bus[j]?m :: empty(bus[j]) -> break od; m = 0; \
       LOSS_CLEAR(j); FLIGHT_DROP(j); \
       printf("BUS     I%d subscription lost: queue lost, L1 cleared and bypassed\n", j); print_l1() } \
  :: atomic { !connected[j] -> connected[j] = 1; \
       if :: acked > delivered[j] -> delivered[j] = acked :: else -> skip fi; \
       printf("BUS     I%d reconnected\n", j); print_l1() } \
  L1_VALUE_LOSS(j) L1_LEASE_LOSS(j) L1_MARK_LOSS(j)

active proctype Faults() {
  byte m;
end:
  do
  L2_FAULTS
  BUS_OPTIONS(0)
  BUS_OPTIONS(1)
  :: done == NW + NR && RELAY_IDLE && empty(bus[0]) && empty(bus[1]) -> break
  od;
  printf("END     every process has finished, every message is delivered\n"); print_state(); print_l1();
  assert(!c_has || (c_ver == db_ver && c_val == db_val[db_ver]));   /* P4 for L2 */
#if (DROPS == 0 || defined(CHECK_CONV)) && !defined(NO_CHECK_CONV)
  assert(!l1_has[0] || (l1_ver[0] == db_ver && l1_val[0] == db_val[db_ver]));   /* L1-CONV */
  assert(!l1_has[1] || (l1_ver[1] == db_ver && l1_val[1] == db_val[db_ver]))    /* L1-CONV */
#endif
}

init {
  byte n;
  atomic {
    db_val[0] = TOMB;
    connected[0] = 1; connected[1] = 1;
    for (n : 0 .. NW - 1) { run Writer(n) }
    for (n : 0 .. NR - 1) { run Reader(n) }
  }
}
