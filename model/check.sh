#!/usr/bin/env bash
# Model checks of the writethrough consistency protocol (spin + gcc).
#
#   ./check.sh            the quick suite (about 10 minutes, under 4 GB per run)
#   ./check.sh full       the quick suite plus the large runs (about 1 hour, up to 11 GB)
#   ./check.sh NAME...    only the named runs (names as in the table printed below)
#   ./check.sh tiered     only the quick runs of l1-tiered.pml (L1 as a protocol tier)
#   ./check.sh list       list the runs
#
# Each run builds a verifier in out/NAME/ and prints one line:
#   ok    NAME  what was shown
#   FAIL  NAME  what went wrong
# A run expected to find a violation ("caught") also leaves the readable
# counterexample in out/NAME/trail.txt. The exit status is non-zero if any
# run did not give its expected result.
#
# Environment: MEM (MB per run, default 12000; pan stops at that and then says
# "incomplete"), OUT (output folder, default ./out).

set -u
cd "$(dirname "$0")"
OUT=${OUT:-out}
MEM=${MEM:-12000}
failed=0

# run NAME MODEL MODE EXPECT "SPIN FLAGS"
#   MODE   dfs  exhaustive depth-first search (safety: assertions, invalid end states)
#          bfs  exhaustive breadth-first search (the counterexample it finds is a shortest one)
#          bit  bitstate search (bounded: a fraction of the states may be missed)
#          np   exhaustive search for non-progress cycles (P5: no infinite run)
#   EXPECT pass                 no violation, search complete
#          caught:PROPERTY      a violation of PROPERTY must be found
run() {
  local name=$1 model=$2 mode=$3 expect=$4 flags=$5
  local dir=$OUT/$name
  rm -rf "$dir"; mkdir -p "$dir"
  cp ./*.pml "$dir"/
  (
    cd "$dir" || exit 1
    # shellcheck disable=SC2086
    spin -a $flags "$model" > spin.log 2>&1 || { echo "spin -a failed"; cat spin.log; exit 1; }
    local cflags popts
    case $mode in
      dfs) cflags="-DSAFETY -DCOLLAPSE";       popts="-m3000000 -w27" ;;
      bfs) cflags="-DSAFETY -DBFS";            popts="-m3000000" ;;
      bit) cflags="-DSAFETY -DBITSTATE";       popts="-m3000000 -w34 -k3" ;;
      np)  cflags="-DNP -DCOLLAPSE";           popts="-m3000000 -w27 -l" ;;
    esac
    # shellcheck disable=SC2086
    gcc -O2 -w $cflags -DMEMLIM="$MEM" -o pan pan.c > gcc.log 2>&1 || { echo "gcc failed"; cat gcc.log; exit 1; }
    echo "spin -a $flags $model && gcc -O2 $cflags -DMEMLIM=$MEM -o pan pan.c && ./pan $popts" > command.txt
    # shellcheck disable=SC2086
    ( time ./pan $popts ) > pan.log 2>&1
    if ls ./*.trail > /dev/null 2>&1; then
      # shellcheck disable=SC2086
      spin -t -T $flags "$model" 2>&1 \
        | grep -vE '^\s*$|^spin: trail ends|processes created|terminates$|^#processes|^\s+[a-z0-9_]+(\[[0-9]+\])? = |^\s+queue [0-9]|^[0-9]+:\s+proc|dubious use' \
        > trail.txt
    fi
  )
  local log=$dir/pan.log
  local states depth secs errors viol prop hf
  states=$(awk '/states, stored/ {print $1; exit}' "$log" 2>/dev/null)
  depth=$(grep -oE 'depth reached [0-9]+' "$log" 2>/dev/null | grep -oE '[0-9]+$')
  secs=$(awk '/^real/ {print $2}' "$log" 2>/dev/null)
  errors=$(grep -oE 'errors: [0-9]+' "$log" 2>/dev/null | grep -oE '[0-9]+$')
  viol=$(grep -m1 -E '^pan:[0-9]+: ' "$log" 2>/dev/null | sed 's/^pan:[0-9]*: //; s/ (at depth.*//')
  hf=$(grep -oE 'hash factor: [0-9.e+]+' "$log" 2>/dev/null)
  prop=$(property_of "$viol")
  local stats="${states:-?} states, depth ${depth:-?}, ${secs:-?}"
  local kind=exhaustive
  [ "$mode" = bit ] && kind="bitstate, bounded, $hf"
  if [ -z "$errors" ]; then
    echo "FAIL  $name  no result (see $log)"; failed=1; return
  fi
  case $expect in
    pass)
      if [ "$errors" = 0 ] && ! grep -q 'Search not completed\|max search depth too small\|out of memory' "$log"; then
        echo "ok    $name  holds ($kind: $stats)"
      elif [ "$errors" = 0 ]; then
        echo "FAIL  $name  incomplete search, no violation found ($stats; raise MEM or use bitstate)"; failed=1
      else
        echo "FAIL  $name  $prop violated: $viol (trail: $dir/trail.txt)"; failed=1
      fi ;;
    caught:*)
      local want=${expect#caught:}
      if [ "$errors" != 0 ] && [ "$prop" = "$want" ]; then
        echo "ok    $name  caught: $prop violated, $(wc -l < "$dir/trail.txt") trail lines in $dir/trail.txt ($stats)"
      elif [ "$errors" != 0 ]; then
        echo "FAIL  $name  expected $want, found $prop: $viol (trail: $dir/trail.txt)"; failed=1
      else
        echo "FAIL  $name  expected $want to be violated, nothing found ($stats)"; failed=1
      fi ;;
  esac
}

property_of() {
  case $1 in
    *"rv>=ack_at_start"*)  echo "P1-fresh" ;;
    *"rv>=ret_at_start"*)  echo "P2-monotonic" ;;
    *"rv<=db_ver"*)        echo "P3-no-phantom" ;;
    *"l1_ver["*)           echo "L1-converge" ;;
    *"c_ver==db_ver"*)     echo "P4-converge" ;;
    *"rv>=ryw_at_start"*)  echo "L1-read-your-writes" ;;
    *"rv>=mr_at_start"*)   echo "L1-monotonic" ;;
    *"rv>=bus_at_start"*)  echo "L1-bus" ;;
    *"non-progress"*)      echo "P5-terminate" ;;
    *"invalid end state"*) echo "P5-deadlock" ;;
    "")                    echo "none" ;;
    *)                     echo "other($1)" ;;
  esac
}

# ---------------------------------------------------------------- the runs
# name | model | mode | expected | spin flags
QUICK='
final            protocol.pml dfs pass                   -DOUTBOX=1
final-ttl        protocol.pml dfs pass                   -DMARKLOSS=1
final-dbfail     protocol.pml dfs pass                   -DOUTBOX=1 -DDBFAIL=1
final-retries2   protocol.pml dfs pass                   -DOUTBOX=1 -DRETRIES=2
final-terminate  protocol.pml np  pass                   -DOUTBOX=1
final-no-relay   protocol.pml bfs caught:P4-converge     -DROPS=1
original         protocol.pml bfs caught:P2-monotonic    -DORIGINAL -DROPS=1
original-ttl     protocol.pml dfs pass                   -DORIGINAL -DMARKLOSS=1
fix1-off         protocol.pml bfs caught:P1-fresh        -DOUTBOX=1 -DROPS=1 -DFIX_REVOKE=0
fix2-writing-off protocol.pml bfs caught:P2-monotonic    -DOUTBOX=1 -DROPS=1 -DFIX_REPORT_WRITING=0
fix2-fill-off    protocol.pml bfs caught:P2-monotonic    -DOUTBOX=1 -DROPS=1 -DFIX_REPORT_FILL=0
fix2-wait-off    protocol.pml bfs caught:P2-monotonic    -DOUTBOX=1 -DFIX_REPORT_WAIT=0
broken-no-floor  protocol.pml bfs caught:P1-fresh        -DOUTBOX=1 -DROPS=1 -DNO_FLOOR
broken-first-out protocol.pml bfs caught:P4-converge     -DMARKLOSS=1 -DROPS=1 -DFIRST_OUT_INSTALLS
broken-first-out-original protocol.pml bfs caught:P2-monotonic -DORIGINAL -DMARKLOSS=1 -DROPS=1 -DFIRST_OUT_INSTALLS
broken-fill-no-lease protocol.pml bfs caught:P1-fresh    -DOUTBOX=1 -DROPS=1 -DFILL_NO_LEASE_CHECK
broken-no-failsafe protocol.pml bfs caught:P1-fresh      -DOUTBOX=1 -DROPS=1 -DNO_FAILSAFE
broken-no-leases protocol.pml bfs caught:P1-fresh        -DOUTBOX=1 -DROPS=1 -DNO_LEASES
broken-retry-forever protocol.pml np caught:P5-terminate -DOUTBOX=1 -DRETRY_FOREVER
broken-split-mark protocol.pml bfs caught:P1-fresh       -DOUTBOX=1 -DROPS=1 -DSPLIT_MARK
final-unknown    protocol.pml dfs pass                   -DMARKLOSS=1 -DUNKNOWN=1
final-unknown-relay protocol.pml dfs pass                -DOUTBOX=1 -DUNKNOWN=1
broken-unknown-drops-mark protocol.pml bfs caught:P4-converge -DMARKLOSS=1 -DROPS=1 -DUNKNOWN=1 -DUNKNOWN_DROPS_MARK
final-relay      protocol.pml dfs pass                   -DOUTBOX=2 -DROPS=1
final-relay-late protocol.pml dfs pass                   -DOUTBOX=2 -DRELAY_EARLY=0 -DROPS=1
final-relay-unknown protocol.pml dfs pass                -DOUTBOX=2 -DUNKNOWN=1 -DROPS=1
final-relay-tierfail protocol.pml dfs pass               -DOUTBOX=2 -DTIERFAIL=1 -DCRASHES=0 -DROPS=1
final-relay-terminate protocol.pml np pass               -DOUTBOX=2 -DROPS=1
l1-final-small   l1.pml       dfs pass                   -DROPS=1 -DNR=3
l1-original      l1.pml       bfs caught:L1-read-your-writes -DL1_ORIGINAL
l1-write-floor-off l1.pml     bfs caught:L1-read-your-writes -DFIX_L1_WRITE_FLOOR=0
l1-read-floor-off l1.pml      bfs caught:L1-monotonic    -DFIX_L1_READ_FLOOR=0
l1-epoch-off     l1.pml       bfs caught:L1-bus          -DFIX_L1_EPOCH=0
l1-broken-no-floor l1.pml     bfs caught:L1-read-your-writes -DNO_L1_FLOOR
l1-broken-no-bus-clear l1.pml bfs caught:L1-bus          -DNO_BUS_CLEAR
l1-not-linearizable l1.pml    bfs caught:P1-fresh        -DCHECK_LINEARIZABLE
l1-drop-no-converge l1.pml    bfs caught:L1-converge     -DNR=1 -DROPS=1 -DDROPS=1 -DCHECK_CONV
tiered-final     l1-tiered.pml dfs pass                  -DNR=1
tiered-final-3reads l1-tiered.pml dfs pass               -DNR=1 -DROPS=3
tiered-final-wait l1-tiered.pml dfs pass                 -DNR=2 -DREADERS_I0 -DROPS=1
tiered-final-single-flight l1-tiered.pml dfs pass        -DNR=2 -DREADERS_I0 -DROPS=1 -DSINGLE_FLIGHT
tiered-final-2r  l1-tiered.pml dfs pass                  -DROPS=1 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0
tiered-final-l2faults l1-tiered.pml dfs pass             -DNR=1 -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
tiered-final-dbfail l1-tiered.pml dfs pass               -DNR=1 -DDBFAIL=1
tiered-final-drops l1-tiered.pml dfs pass                -DNR=1 -DDROPS=1
tiered-final-unknown-relay l1-tiered.pml dfs pass        -DNR=1 -DMARKLOSS=1 -DUNKNOWN=1 -DOUTBOX=1
tiered-final-terminate l1-tiered.pml np pass             -DNR=1
tiered-no-l1     l1-tiered.pml dfs pass                  -DNO_L1 -DBUSLOSS=0 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0
tiered-no-l1-l2faults l1-tiered.pml dfs pass             -DNO_L1 -DROPS=1 -DBUSLOSS=0 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0 -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
tiered-final-report-always l1-tiered.pml dfs pass        -DNR=1 -DFIX_L1_BYPASS_REPORT=2
tiered-impl      l1-tiered.pml bfs caught:L1-monotonic   -DNR=1 -DTIERED_IMPL
tiered-impl-wait-bypass l1-tiered.pml bfs caught:L1-read-your-writes -DNW=1 -DNR=2 -DREADERS_I0 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0 -DFIX_L1_WAIT_BYPASS=0
tiered-impl-wait-bypass-sf l1-tiered.pml dfs caught:L1-bus -DNR=2 -DREADERS_I0 -DSINGLE_FLIGHT -DFIX_L1_WAIT_BYPASS=0 -DNO_CHECK_CONV
tiered-unknown-no-relay l1-tiered.pml bfs caught:L1-converge -DNR=1 -DROPS=1 -DMARKLOSS=1 -DUNKNOWN=1 -DBUSLOSS=0 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0
tiered-bus-drop-only l1-tiered.pml bfs caught:L1-bus     -DNR=1 -DBUS_DROP_ONLY
tiered-no-clear-on-loss l1-tiered.pml bfs caught:L1-bus  -DNR=1 -DNO_CLEAR_ON_LOSS
tiered-l1-no-lease l1-tiered.pml bfs caught:L1-monotonic -DNR=1 -DL1_NO_LEASE
tiered-l1-no-report l1-tiered.pml bfs caught:L1-monotonic -DNR=1 -DL1_NO_REPORT
tiered-skipped-no-invalidate l1-tiered.pml bfs caught:L1-read-your-writes -DNR=1 -DSKIPPED_NO_INVALIDATE
tiered-l1-no-failsafe l1-tiered.pml bfs caught:L1-monotonic -DNR=1 -DL1_NO_FAILSAFE
tiered-not-linearizable l1-tiered.pml bfs caught:P1-fresh -DNR=1 -DCHECK_LINEARIZABLE
tiered-drop-no-converge l1-tiered.pml bfs caught:L1-converge -DNR=1 -DDROPS=1 -DCHECK_CONV
tiered-head      l1-tiered.pml dfs pass                  -DNR=1 -DTIERED_HEAD
tiered-head-faults l1-tiered.pml dfs pass                -DNR=1 -DROPS=1 -DTIERED_HEAD -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
tiered-head-unknown-relay l1-tiered.pml dfs pass         -DNR=1 -DROPS=1 -DTIERED_HEAD -DMARKLOSS=1 -DUNKNOWN=1 -DOUTBOX=1
tiered-head-crash-no-relay l1-tiered.pml bfs caught:L1-converge -DNR=1 -DTIERED_HEAD -DMARKLOSS=1 -DCRASHES=1 -DBUSLOSS=0 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0
tiered-head-unknown-no-relay l1-tiered.pml bfs caught:L1-converge -DNR=1 -DROPS=1 -DTIERED_HEAD -DMARKLOSS=1 -DUNKNOWN=1 -DBUSLOSS=0 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0
tiered-remote-marks-crash l1-tiered.pml dfs pass         -DNR=1 -DTIERED_HEAD -DREMOTE_MARKS -DMARKLOSS=1 -DCRASHES=1 -DBUSLOSS=0 -DL1MARKLOSS=0
tiered-remote-marks-unknown l1-tiered.pml dfs pass       -DNR=1 -DTIERED_HEAD -DREMOTE_MARKS -DMARKLOSS=1 -DUNKNOWN=1 -DBUSLOSS=0 -DL1MARKLOSS=0
tiered-remote-marks-evicted l1-tiered.pml dfs caught:L1-converge -DNR=1 -DTIERED_HEAD -DREMOTE_MARKS -DMARKLOSS=1 -DCRASHES=1 -DBUSLOSS=0
tiered-remote-marks-busloss l1-tiered.pml dfs caught:L1-converge -DNR=1 -DTIERED_HEAD -DREMOTE_MARKS -DMARKLOSS=1 -DCRASHES=1 -DL1MARKLOSS=0
early-ack        protocol.pml bfs caught:P1-fresh        -DEARLY_ACK=1 -DOUTBOX=1 -DROPS=1
early-ack-nocrash protocol.pml bfs caught:P1-fresh       -DEARLY_ACK=1 -DCRASHES=0 -DROPS=1
early-ack-markloss-only protocol.pml bfs caught:P1-fresh -DEARLY_ACK=1 -DCRASHES=0 -DLEASELOSS=0 -DVALUELOSS=0 -DROPS=1
early-ack-ttl    protocol.pml dfs pass                   -DEARLY_ACK=1 -DMARKLOSS=1
early-ack-ttl-relay1 protocol.pml dfs pass               -DEARLY_ACK=1 -DMARKLOSS=1 -DOUTBOX=1
early-ack-nomarkloss protocol.pml dfs pass               -DEARLY_ACK=1 -DMARKLOSS=0 -DOUTBOX=1
early-ack-ttl-dbfail protocol.pml dfs pass               -DEARLY_ACK=1 -DMARKLOSS=1 -DOUTBOX=1 -DDBFAIL=1
early-ack-ttl-terminate protocol.pml np pass             -DEARLY_ACK=1 -DMARKLOSS=1 -DOUTBOX=1
early-ack-unknown protocol.pml dfs pass                  -DEARLY_ACK=1 -DMARKLOSS=1 -DUNKNOWN=1
early-ack-unknown-relay protocol.pml bfs caught:P1-fresh -DEARLY_ACK=1 -DOUTBOX=1 -DUNKNOWN=1 -DROPS=1
early-ack-relay  protocol.pml bfs caught:P1-fresh        -DEARLY_ACK=1 -DOUTBOX=2 -DROPS=1
early-ack-relay-ttl protocol.pml dfs pass                -DEARLY_ACK=1 -DOUTBOX=2 -DMARKLOSS=1 -DROPS=1
early-ack-relay-ttl-unknown protocol.pml dfs pass        -DEARLY_ACK=1 -DOUTBOX=2 -DMARKLOSS=1 -DUNKNOWN=1 -DROPS=1
early-ack-relay-tierfail protocol.pml bfs caught:P1-fresh -DEARLY_ACK=1 -DOUTBOX=2 -DTIERFAIL=1 -DCRASHES=0 -DROPS=1
early-ack-relay-ttl-tierfail protocol.pml dfs pass       -DEARLY_ACK=1 -DOUTBOX=2 -DMARKLOSS=1 -DTIERFAIL=1 -DCRASHES=0 -DROPS=1
tiered-early-ack l1-tiered.pml bfs caught:L1-read-your-writes -DNR=1 -DEARLY_ACK=1
tiered-early-ack-no-l1-markloss l1-tiered.pml bfs caught:L1-read-your-writes -DNR=1 -DEARLY_ACK=1 -DL1MARKLOSS=0
tiered-head-early-ack-no-l1-markloss l1-tiered.pml bfs caught:L1-read-your-writes -DNR=1 -DTIERED_HEAD -DEARLY_ACK=1 -DL1MARKLOSS=0
tiered-early-ack-no-l1-faults l1-tiered.pml dfs pass     -DNR=1 -DEARLY_ACK=1 -DL1MARKLOSS=0 -DBUSLOSS=0
tiered-head-early-ack l1-tiered.pml bfs caught:L1-read-your-writes -DNR=1 -DTIERED_HEAD -DEARLY_ACK=1
tiered-early-ack2 l1-tiered.pml dfs pass                 -DNR=1 -DEARLY_ACK=2
tiered-head-early-ack2 l1-tiered.pml dfs pass            -DNR=1 -DTIERED_HEAD -DEARLY_ACK=2
tiered-early-ack-l2faults l1-tiered.pml bfs caught:L1-read-your-writes -DNR=1 -DEARLY_ACK=1 -DL1MARKLOSS=0 -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
tiered-early-ack2-l2faults l1-tiered.pml bfs caught:L1-read-your-writes -DNR=1 -DEARLY_ACK=2 -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
tiered-early-ack2-ttl-faults l1-tiered.pml dfs pass      -DNR=1 -DEARLY_ACK=2 -DMARKLOSS=1 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
tiered-early-ack2-unknown-relay l1-tiered.pml dfs pass   -DNR=1 -DEARLY_ACK=2 -DMARKLOSS=1 -DUNKNOWN=1 -DOUTBOX=1
tiered-head-early-ack2-ttl-faults l1-tiered.pml dfs pass -DNR=1 -DROPS=1 -DTIERED_HEAD -DEARLY_ACK=2 -DMARKLOSS=1 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
tiered-early-ack2-dbfail l1-tiered.pml dfs pass          -DNR=1 -DEARLY_ACK=2 -DDBFAIL=1
tiered-early-ack2-terminate l1-tiered.pml np pass        -DNR=1 -DEARLY_ACK=2
tiered-early-ack2-2r l1-tiered.pml dfs pass              -DEARLY_ACK=2 -DROPS=1 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0
tiered-early-ack-2r l1-tiered.pml dfs pass               -DEARLY_ACK=1 -DROPS=1 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0
tiered-no-l1-early-ack l1-tiered.pml dfs pass            -DNO_L1 -DEARLY_ACK=1 -DBUSLOSS=0 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0
tiered-no-l1-early-ack-l2faults l1-tiered.pml bfs caught:P1-fresh -DNO_L1 -DEARLY_ACK=1 -DROPS=1 -DBUSLOSS=0 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0 -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
'
FULL='
final-3w         protocol.pml dfs pass                   -DOUTBOX=1 -DNW=3 -DROPS=1
final-3r         protocol.pml dfs pass                   -DOUTBOX=1 -DNR=3 -DROPS=1
final-3reads     protocol.pml dfs pass                   -DOUTBOX=1 -DROPS=3
final-2writes    protocol.pml dfs pass                   -DOUTBOX=1 -DWOPS=2
final-2crashes   protocol.pml dfs pass                   -DOUTBOX=1 -DCRASHES=2
final-3w-2reads  protocol.pml bit pass                   -DOUTBOX=1 -DNW=3
final-relay-2reads protocol.pml dfs pass                 -DOUTBOX=2
l1-relay         l1.pml       dfs pass                   -DOUTBOX=2 -DCRASHES=1 -DROPS=1
tiered-head-relay-tierfail l1-tiered.pml bit pass        -DNR=1 -DROPS=1 -DTIERED_HEAD -DMARKLOSS=1 -DTIERFAIL=1 -DOUTBOX=2
tiered-head-relay-unknown l1-tiered.pml dfs pass         -DNR=1 -DROPS=1 -DTIERED_HEAD -DMARKLOSS=1 -DUNKNOWN=1 -DOUTBOX=2
tiered-head-relay-faults l1-tiered.pml dfs pass          -DNR=1 -DROPS=1 -DTIERED_HEAD -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=2
tiered-relay     l1-tiered.pml dfs pass                  -DNR=1 -DROPS=1 -DOUTBOX=2 -DCRASHES=1
original-ttl-3w  protocol.pml dfs pass                   -DORIGINAL -DMARKLOSS=1 -DNW=3 -DROPS=1
l1-final         l1.pml       dfs pass                   
l1-final-l2faults l1.pml      bit pass                   -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
l1-final-3r      l1.pml       bit pass                   -DNR=3
l1-final-drops   l1.pml       bit pass                   -DDROPS=1
tiered-final-2writes l1-tiered.pml dfs pass              -DNR=1 -DWOPS=2
tiered-final-3w  l1-tiered.pml dfs pass                  -DNR=1 -DNW=3
tiered-final-2r-faults l1-tiered.pml dfs pass            -DROPS=1
tiered-final-2r-2reads l1-tiered.pml dfs pass            -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0
tiered-final-big l1-tiered.pml bit pass                  
tiered-final-3r  l1-tiered.pml bit pass                  -DNR=3
tiered-final-wait-2reads l1-tiered.pml bit pass          -DNR=2 -DREADERS_I0
tiered-final-single-flight-2reads l1-tiered.pml bit pass -DNR=2 -DREADERS_I0 -DSINGLE_FLIGHT
tiered-head-2r   l1-tiered.pml dfs pass                  -DROPS=1 -DL1VALUELOSS=0 -DL1LEASELOSS=0 -DL1MARKLOSS=0 -DTIERED_HEAD
tiered-head-single-flight l1-tiered.pml dfs pass         -DNR=2 -DREADERS_I0 -DROPS=1 -DTIERED_HEAD -DSINGLE_FLIGHT
tiered-head-faults-2reads l1-tiered.pml dfs pass         -DNR=1 -DTIERED_HEAD -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
tiered-head-unknown-relay-2reads l1-tiered.pml dfs pass  -DNR=1 -DTIERED_HEAD -DMARKLOSS=1 -DUNKNOWN=1 -DOUTBOX=1
tiered-final-l2faults-2r l1-tiered.pml bit pass          -DMARKLOSS=2 -DLEASELOSS=1 -DVALUELOSS=1 -DCRASHES=1 -DOUTBOX=1
tiered-early-ack2-relay l1-tiered.pml dfs pass           -DNR=1 -DROPS=1 -DOUTBOX=2 -DCRASHES=1 -DEARLY_ACK=2
'

runs() {
  case ${1:-quick} in
    quick) printf '%s' "$QUICK" ;;
    full)  printf '%s%s' "$QUICK" "$FULL" ;;
  esac | grep -vE '^\s*$'
}

command -v spin > /dev/null || { echo "spin not found (Debian: apt-get install -y spin)"; exit 2; }
command -v gcc > /dev/null  || { echo "gcc not found"; exit 2; }

case ${1:-quick} in
  list) runs full; exit 0 ;;
  quick|full) selection=$(runs "${1:-quick}") ;;
  tiered) selection=$(runs quick | grep -E '^tiered-') ;;
  *) selection=$(runs full | awk -v want=" $* " 'index(want, " " $1 " ")') ;;
esac
[ -n "$selection" ] || { echo "no such run: $*"; exit 2; }

while read -r name model mode expect flags; do
  run "$name" "$model" "$mode" "$expect" "$flags" < /dev/null
done <<< "$selection"
exit $failed
