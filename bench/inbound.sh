#!/usr/bin/env bash
# bench/inbound.sh: mailbridge's inbound speed and memory, measured in one
# run against postfix's smtp-sink as the loopback ceiling.
#
#   1. rate: smtp-source, 20 sessions, 10 KB messages, a new connection per
#      message, alternately against smtp-sink, mailbridge and, as a durable
#      reference, postfix itself receiving into its hold queue (ROUNDS
#      times);
#   2. latency: bench/smtpload (same load; smtp-source cannot report
#      latency) against both;
#   3. memory: a fresh mailbridge receives one 25 MB message (an 18.7 MB
#      attachment, base64); peak RSS above idle from /proc/PID/status
#      (VmHWM after the message, with the peak reset to idle before it
#      through /proc/PID/clear_refs).
#
# Needs postfix (smtp-source, smtp-sink) and Go; run as root so that
# smtp-sink can drop to nobody. Results go to stdout and bench/out/.
# Usage: bench/inbound.sh   (env: MSGS=20000 ROUNDS=3 LATMSGS=5000
# POSTFIX_REF=1)
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
PF_PORT=${PF_PORT:-25254}
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_tools postfix /usr/sbin/smtp-source /usr/sbin/smtp-sink

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
PFDIR=""
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "$PFDIR" ] && postfix -c "$PFDIR/conf" stop >/dev/null 2>&1
	wait 2>/dev/null || true
}
trap cleanup EXIT

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

start_sink "$SINK_PORT" 1000
# A durable reference in the same run: postfix itself (as root, where its
# daemons are installed; POSTFIX_REF=0 skips it), receiving into its hold
# queue: one fsync per message before the 250, no delivery afterwards.
if [ "${POSTFIX_REF:-1}" = 1 ] && [ "$(id -u)" = 0 ] && [ -x /usr/lib/postfix/sbin/master ] && [ -f /etc/postfix/master.cf ]; then
	PFDIR=$OUT/postfix
	mkdir -p "$PFDIR/conf" "$PFDIR/data"
	chown postfix "$PFDIR/data"
	sed "s/^smtp[[:space:]]\+inet[[:space:]].*smtpd\$/127.0.0.1:$PF_PORT inet n - n - - smtpd/" /etc/postfix/master.cf >"$PFDIR/conf/master.cf"
	cat >"$PFDIR/conf/main.cf" <<EOC
queue_directory = $PFDIR/queue
data_directory = $PFDIR/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
compatibility_level = 3.6
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.example.com
mydestination =
relay_domains = bench.test
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_end_of_data_restrictions = check_client_access static:HOLD
default_process_limit = 100
EOC
	if /etc/postfix/post-install config_directory="$PFDIR/conf" meta_directory=/etc/postfix create-missing >/dev/null 2>&1 &&
		postfix -c "$PFDIR/conf" start >/dev/null 2>&1; then
		waitport "$PF_PORT"
	else
		echo "# postfix would not start here: no durable reference in this run" >&2
		PFDIR=""
	fi
fi

"$OUT/mailbridge" run --config "$(config rate "$MB_PORT")" 2>"$OUT/rate.log" &
MB_PID=$!
pids+=($MB_PID)
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
printf '%-6s %12s %12s %8s %12s %8s\n' round smtp-sink mailbridge ratio postfix ratio
sinks=() mbs=() pfs=()
ratio() { awk "BEGIN{printf \"%.2f\", $1/$2}"; }
for r in $(seq "$ROUNDS"); do
	s=$(rate "$SINK_PORT")
	m=$(rate "$MB_PORT")
	p=0
	[ -n "$PFDIR" ] && p=$(rate "$PF_PORT")
	sinks+=("$s") mbs+=("$m") pfs+=("$p")
	printf '%-6s %10s/s %10s/s %8s %10s/s %8s\n' "$r" "$s" "$m" "$(ratio "$m" "$s")" "$p" "$(ratio "$p" "$s")"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
ms=$(median "${sinks[@]}")
mm=$(median "${mbs[@]}")
mp=$(median "${pfs[@]}")
printf '%-6s %10s/s %10s/s %8s %10s/s %8s\n' median "$ms" "$mm" "$(ratio "$mm" "$ms")" "$mp" "$(ratio "$mp" "$ms")"
[ -n "$PFDIR" ] && echo "# postfix: receiving into its hold queue, one fsync per message (its own queue file; the folder is not synced)"

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
[ -n "$PFDIR" ] && postfix -c "$PFDIR/conf" stop >/dev/null 2>&1
rm -rf "$OUT/rate-root" "$OUT/mem-root" "$OUT/probe" "$PFDIR"
PFDIR=""
