#!/usr/bin/env bash
# bench/inbound.sh: mailbridge's inbound speed and memory, measured in one
# run against postfix's smtp-sink as the loopback ceiling.
#
#   1. rate: smtp-source, 20 sessions, 10 KB messages, a new connection per
#      message, alternately against smtp-sink and mailbridge (ROUNDS times);
#   2. latency: bench/smtpload (same load; smtp-source cannot report
#      latency) against both;
#   3. memory: a fresh mailbridge receives one 25 MB message (an 18.7 MB
#      attachment, base64); peak RSS above idle from /proc/PID/status
#      (VmHWM after the message, with the peak reset to idle before it
#      through /proc/PID/clear_refs).
#
# Needs postfix (smtp-source, smtp-sink) and Go; run as root so that
# smtp-sink can drop to nobody. Results go to stdout and bench/out/.
# Usage: bench/inbound.sh   (env: MSGS=20000 ROUNDS=3 LATMSGS=5000)
set -euo pipefail
cd "$(dirname "$0")/.."

MSGS=${MSGS:-20000}
ROUNDS=${ROUNDS:-3}
LATMSGS=${LATMSGS:-5000}
SESSIONS=20
SIZE=10240
SINK_PORT=${SINK_PORT:-25251}
MB_PORT=${MB_PORT:-25252}
MEM_PORT=${MEM_PORT:-25253}
for tool in /usr/sbin/smtp-source /usr/sbin/smtp-sink; do
	[ -x "$tool" ] || { echo "bench: $tool missing: apt-get install postfix" >&2; exit 1; }
done

# The disk here is mounted with discard: for several seconds after many
# files are deleted (a test run, an earlier benchmark), creating and
# fsyncing files is several times slower. Nothing is deleted before the
# measurements, and the run starts after a quiet period.
SETTLE=${SETTLE:-20}
OUT=bench/out/inbound-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
go build -o "$OUT/mailbridge" ./cmd/mailbridge
go build -o "$OUT/smtpload" ./bench/smtpload
go build -o "$OUT/fsprobe" ./bench/fsprobe

sleep "$SETTLE"

# On ext4 without a journal (this machine's root file system), creating a
# file costs 25 times more for minutes after many files were deleted
# nearby (bench/fsprobe explains why). Wait until it costs what it
# normally does: PROBE_MAX microseconds of CPU per file.
PROBE_MAX=${PROBE_MAX:-60}
probe=0
for try in $(seq 15); do
	probe=$("$OUT/fsprobe" "$OUT/probe")
	[ "$probe" -le "$PROBE_MAX" ] && break
	echo "# creating a file costs ${probe} us here (settled: about 20); waiting for the file system to settle ($try/15)" >&2
	sleep 60
done
[ "$probe" -le "$PROBE_MAX" ] || { echo "bench: the file system did not settle (${probe} us per file); results would measure it, not mailbridge" >&2; exit 1; }

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

waitport() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: nothing listens on port $1" >&2
	exit 1
}

config() { # config NAME PORT: a configuration with its own mail root
	cat >"$OUT/$1.toml" <<EOC
hostname = "bench.example.com"
[mailroot]
root = "$OUT/$1-root"
[inbound]
bind = "127.0.0.1"
port = $2
max_connections = 1000
[log]
level = "warn"
EOC
	echo "$OUT/$1.toml"
}

sink_args=(127.0.0.1:"$SINK_PORT" 1000)
[ "$(id -u)" = 0 ] && sink_args=(-u nobody "${sink_args[@]}")
/usr/sbin/smtp-sink "${sink_args[@]}" &
pids+=($!)
"$OUT/mailbridge" run --config "$(config rate "$MB_PORT")" 2>"$OUT/rate.log" &
MB_PID=$!
pids+=($MB_PID)
waitport "$SINK_PORT"
waitport "$MB_PORT"

# rate PORT: messages per second for smtp-source's whole run.
rate() {
	local t0 t1
	t0=$(date +%s.%N)
	/usr/sbin/smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" -f load@bench.test -t drop@bench.test 127.0.0.1:"$1"
	t1=$(date +%s.%N)
	echo "$MSGS $t0 $t1" | awk '{printf "%.0f", $1/($3-$2)}'
}

echo "# inbound benchmark (after ${SETTLE}s quiet), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(go version | cut -d' ' -f3)"
echo "# file system: $(stat -f -c %T "$OUT"), creating a file costs ${probe} us of CPU before the run (bench/fsprobe)"
echo "# smtp-source -s $SESSIONS -m $MSGS -l $SIZE -f load@bench.test -t drop@bench.test 127.0.0.1:PORT"
printf '%-6s %12s %12s %8s\n' round smtp-sink mailbridge ratio
sinks=() mbs=()
for r in $(seq "$ROUNDS"); do
	s=$(rate "$SINK_PORT")
	m=$(rate "$MB_PORT")
	sinks+=("$s") mbs+=("$m")
	printf '%-6s %10s/s %10s/s %8s\n' "$r" "$s" "$m" "$(awk "BEGIN{printf \"%.2f\", $m/$s}")"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
ms=$(median "${sinks[@]}")
mm=$(median "${mbs[@]}")
printf '%-6s %10s/s %10s/s %8s\n' median "$ms" "$mm" "$(awk "BEGIN{printf \"%.2f\", $mm/$ms}")"

echo "# creating a file costs $("$OUT/fsprobe" "$OUT/probe") us of CPU after the rounds"
drop=$(find "$OUT/rate-root/Drop" -name '*.eml' | wc -l)
want=$((ROUNDS * MSGS))
echo "# Drop holds $drop files; $want were sent"
[ "$drop" = "$want" ] || { echo "bench: mailbridge lost or doubled messages" >&2; exit 1; }

echo
echo "# latency: bench/smtpload -s $SESSIONS -m $LATMSGS -l $SIZE -addr 127.0.0.1:PORT (connect to 250 after data)"
echo "smtp-sink:  $("$OUT/smtpload" -addr 127.0.0.1:"$SINK_PORT" -s "$SESSIONS" -m "$LATMSGS" -l "$SIZE")"
echo "mailbridge: $("$OUT/smtpload" -addr 127.0.0.1:"$MB_PORT" -s "$SESSIONS" -m "$LATMSGS" -l "$SIZE")"
kill "$MB_PID"

echo
echo "# memory: one 25 MB message (18.7 MB attachment, base64) to a fresh mailbridge"
"$OUT/mailbridge" run --config "$(config mem "$MEM_PORT")" 2>"$OUT/mem.log" &
MEM_PID=$!
pids+=($MEM_PID)
waitport "$MEM_PORT"
# Warm up: one ordinary message, so that idle includes a session's buffers.
"$OUT/smtpload" -addr 127.0.0.1:"$MEM_PORT" -s 1 -m 5 -l "$SIZE" >/dev/null
sleep 1
kb() { awk -v k="$1:" '$1==k {print $2}' "/proc/$MEM_PID/status"; }
idle=$(kb VmRSS)
startpeak=$(kb VmHWM)
echo 5 >"/proc/$MEM_PID/clear_refs" # reset VmHWM to the current RSS
echo "send:   $("$OUT/smtpload" -addr 127.0.0.1:"$MEM_PORT" -attach 19600000)"
peak=$(kb VmHWM)
echo "peak RSS from start to idle (before the reset) ${startpeak} kB"
echo "idle RSS ${idle} kB, peak RSS during the message ${peak} kB, above idle $((peak - idle)) kB ($(awk "BEGIN{printf \"%.1f\", ($peak-$idle)/1024}") MB)"
ls -l "$OUT"/mem-root/Drop/*.eml | awk '{print "# stored", $5, "bytes"}' | tail -1

# The Drop trees are big; remove them now that nothing else is measured
# (the next run waits for the file system to settle after this).
rm -rf "$OUT/rate-root" "$OUT/mem-root" "$OUT/probe"
