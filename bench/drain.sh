#!/usr/bin/env bash
# Outbound drain benchmark: how fast mailbridge empties Pickup into a smart
# host, and how long one file takes from its writer's close to the smart
# host's 250.
#
#   bench/drain.sh            N=10000 files of SIZE=10240 bytes
#   N=2000 bench/drain.sh     a quicker run
#
# The smart host is postfix's smtp-sink on 127.0.0.1 (run as root with
# -u nobody; apt-get install postfix, see tooling notes). Rows, all from the
# same run:
#   1. smtp-source -> smtp-sink directly (the ceiling of this machine),
#   2. mailbridge draining N files renamed into Pickup at once, for
#      CONNECTIONS in $CONNS (default "4 8"),
#   3. time to first delivery of a single file, over REPS files.
# Everything is written under bench/out/ (git-ignored) and removed at the
# end, after the measurements (deleting big trees slows fsync for a while
# on discard mounts).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-10000}
SIZE=${SIZE:-10240}
CONNS=${CONNS:-"4 8"}
REPS=${REPS:-20}
PY=/usr/bin/python3
for tool in /usr/sbin/smtp-sink /usr/sbin/smtp-source "$PY"; do
	[ -x "$tool" ] || { echo "drain.sh: $tool is missing (apt-get install postfix python3)" >&2; exit 2; }
done

OUT=$(pwd)/bench/out/drain-$$
mkdir -p "$OUT"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$OUT"
}
trap cleanup EXIT

freeport() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$OUT/mailbridge" ./cmd/mailbridge

SINKPORT=$(freeport)
/usr/sbin/smtp-sink -u nobody -c "127.0.0.1:$SINKPORT" 1000 >"$OUT/sink.out" 2>&1 &
PIDS+=($!)
sleep 0.5

# Helper: reads smtp-sink's running counter ("... mesg=N\r") and times
# file drops against it.
cat >"$OUT/drop.py" <<'EOF'
import os, re, sys, time, statistics

def counter(path):
    with open(path, "rb") as f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - 128))
        m = re.findall(rb"mesg=(\d+)", f.read())
        return int(m[-1]) if m else 0

def body(i, size):
    head = ("From: bench@corp.test\r\nTo: sink@dest.test\r\nSubject: drain %d\r\n"
            "Message-ID: <drain%d@corp.test>\r\n\r\n" % (i, i)).encode()
    line = b"x" * 76 + b"\r\n"
    n = max(0, size - len(head))
    return head + (line * (n // len(line) + 1))[:n]

def wait_count(sink, target, timeout=600):
    end = time.monotonic() + timeout
    while counter(sink) < target:
        if time.monotonic() > end:
            sys.exit("timeout waiting for the sink: %d of %d" % (counter(sink), target))
        time.sleep(0.0005)
    return time.monotonic()

mode, sink = sys.argv[1], sys.argv[2]
if mode == "drain":
    pickup, stage, n, size = sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
    os.makedirs(stage, exist_ok=True)
    for i in range(n):
        with open(os.path.join(stage, "m%06d.eml" % i), "wb") as f:
            f.write(body(i, size))
    os.sync()
    time.sleep(1)
    c0 = counter(sink)
    t0 = time.monotonic()
    for i in range(n):
        name = "m%06d.eml" % i
        os.rename(os.path.join(stage, name), os.path.join(pickup, name))
    t_placed = time.monotonic()
    t1 = wait_count(sink, c0 + n)
    print("%.2f %.0f %.2f" % (t1 - t0, n / (t1 - t0), t_placed - t0))
elif mode == "latency":
    pickup, reps = sys.argv[3], int(sys.argv[4])
    lat = []
    for i in range(reps):
        c0 = counter(sink)
        with open(os.path.join(pickup, "single-%d.eml" % i), "wb") as f:
            f.write(body(900000 + i, 10240))
        t0 = time.monotonic()  # the writer's close
        t1 = wait_count(sink, c0 + 1, 60)
        lat.append((t1 - t0) * 1000)
        time.sleep(0.2)
    lat.sort()
    print("%.1f %.1f %.1f %.1f" % (statistics.median(lat), lat[int(len(lat) * 0.9) - 1], lat[0], lat[-1]))
EOF

echo "# smtp-sink on 127.0.0.1:$SINKPORT; N=$N files of $SIZE bytes; $(nproc) cores"

# Row 1: the ceiling, smtp-source straight into smtp-sink.
first=${CONNS%% *}
start=$(date +%s.%N)
/usr/sbin/smtp-source -s "$first" -m "$N" -l "$SIZE" -f bench@corp.test -t sink@dest.test "127.0.0.1:$SINKPORT"
end=$(date +%s.%N)
base=$("$PY" -c "print('%.2f %.0f' % ($end-$start, $N/($end-$start)))")
echo "smtp-source -> smtp-sink, $first sessions: ${base% *} s, ${base#* } msg/s"
ROWS="| smtp-source -> smtp-sink directly ($first sessions; ceiling) | $N x $SIZE B | ${base% *} s | ${base#* } msg/s |"

run_bridge() { # connections, name
	local conns=$1 dir="$OUT/$2"
	mkdir -p "$dir/mailroot/Pickup"
	cat >"$dir/mailbridge.toml" <<EOT
hostname = "bench.test"
[mailroot]
root = "mailroot"
[inbound]
bind = "127.0.0.1"
port = $(freeport)
[outbound]
server = "127.0.0.1"
port = $SINKPORT
connections = $conns
[pickup]
rescan = "60s"
[log]
file = "mailbridge.log"
EOT
	"$OUT/mailbridge" run --config "$dir/mailbridge.toml" 2>>"$dir/stderr.log" &
	PIDS+=($!)
	BRIDGE_PID=$!
	sleep 1
}

SETTLE=${SETTLE:-20}
for conns in $CONNS; do
	run_bridge "$conns" "c$conns"
	if [ "$conns" = "$first" ]; then
		# Latency first, on a quiet disk (before any drain deleted files).
		read -r med p90 lo hi < <("$PY" "$OUT/drop.py" latency "$OUT/sink.out" "$OUT/c$conns/mailroot/Pickup" "$REPS")
		echo "time to first delivery (writer's close -> sink's 250), $REPS files: median $med ms, p90 $p90 ms, min $lo ms, max $hi ms"
		LAT="| single file, writer's close -> smtp-sink's 250 ($REPS files one by one, connections = $conns) | $med ms | $p90 ms | $lo - $hi ms |"
	else
		# The previous drain deleted N Queue files: on a disk mounted with
		# discard, fsync is slow for a while after that.
		sync
		sleep "$SETTLE"
	fi
	read -r secs rate placed < <("$PY" "$OUT/drop.py" drain "$OUT/sink.out" "$OUT/c$conns/mailroot/Pickup" "$OUT/c$conns/stage" "$N" "$SIZE")
	left=$(find "$OUT/c$conns/mailroot/Pickup" "$OUT/c$conns/mailroot/Queue" -type f | wc -l)
	echo "mailbridge, connections=$conns: $N files drained in $secs s ($rate msg/s; renaming them into Pickup took $placed s; files left: $left)"
	ROWS="$ROWS
| mailbridge: $N files renamed into Pickup at once, until smtp-sink has them all (connections = $conns) | $N x $SIZE B | $secs s | $rate msg/s |"
	kill "$BRIDGE_PID"
	wait "$BRIDGE_PID" 2>/dev/null || true
done

cat <<EOF

| what | messages | time | rate |
|---|---|---|---|
$ROWS

| time to first delivery | median | p90 | range |
|---|---|---|---|
$LAT
EOF
