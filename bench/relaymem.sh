#!/usr/bin/env bash
# bench/relaymem.sh: peak memory while one large Pickup file is relayed.
#
# mailbridge starts (log level info, a fresh mail root, smart host
# postfix's smtp-sink on 127.0.0.1), gets 2 s to settle, then its peak RSS
# is reset to the current RSS (echo 5 > /proc/PID/clear_refs); one Pickup
# file of MB megabytes (dot-stuffed, 78-byte lines, one "..dot" line in a
# thousand) is renamed in, and once the delivery is logged, VmHWM minus
# the RSS before is the peak above idle.
#
# With BASE=REV, a build of that git revision is measured the same way in
# the same run: a same-run A/B of a change.
#
# Needs postfix (smtp-sink), python3 and Go; Linux (/proc). Results go to
# stdout; files to bench/out/ (removed at the end).
# Usage: bench/relaymem.sh   (env: MB=60 BASE=)
set -euo pipefail
cd "$(dirname "$0")/.."

MB=${MB:-60}
SINK_PORT=${SINK_PORT:-25271}
PORT=${PORT:-25272}
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_tools "postfix python3" /usr/sbin/smtp-sink /usr/bin/python3
start_builds relaymem
start_sink "$SINK_PORT" 100

python3 - "$OUT/big.eml" "$MB" <<'PY'
import sys
line = b"x" * 76 + b"\r\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"X-Sender: s@bench.test\r\nX-Receiver: r@bench.test\r\nFrom: s@bench.test\r\nTo: r@bench.test\r\nSubject: big\r\n\r\n")
    for i in range(int(sys.argv[2]) * 1024 * 1024 // len(line)):
        f.write(line if i % 1000 else b"..dot line\r\n")
PY

kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f MB", k / 1024}'; }

echo "# relay memory, $(date -u '+%Y-%m-%d %H:%M UTC'), one ${MB} MB Pickup file; builds: head $(git describe --always --dirty)${BASE:+, base $BASE}"
echo "| build | RSS idle | peak RSS above idle | RSS after |"
echo "|---|---|---|---|"
for b in "${builds[@]}"; do
	d=$OUT/$b-root
	mkdir -p "$d"
	cat >"$OUT/$b.toml" <<EOC
hostname = "bench.example.com"
[mailroot]
root = "$d"
[inbound]
bind = "127.0.0.1"
port = $PORT
[outbound]
server = "127.0.0.1"
port = $SINK_PORT
tls = "none"
[pickup]
quiet_period = "0s"
EOC
	"$OUT/$b" run --config "$OUT/$b.toml" >"$OUT/$b.log" 2>&1 &
	pid=$!
	pids+=($pid)
	waitport "$PORT"
	sleep 2
	echo 5 >"/proc/$pid/clear_refs"
	idle=$(kb VmRSS "$pid")
	cp "$OUT/big.eml" "$d/big.tmp"
	mv "$d/big.tmp" "$d/Pickup/big.eml"
	for _ in $(seq 600); do
		grep -q 'msg=delivery' "$OUT/$b.log" && break
		sleep 0.1
	done
	grep -q 'msg=delivery.*result=sent' "$OUT/$b.log" || { echo "bench: $b did not deliver the message" >&2; cat "$OUT/$b.log" >&2; exit 1; }
	sleep 1
	peak=$(kb VmHWM "$pid")
	after=$(kb VmRSS "$pid")
	echo "| $b | $(mb "$idle") | **$(mb $((peak - idle)))** | $(mb "$after") |"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
done
