#!/usr/bin/env bash
# bench/mixed.sh: inbound mail received while Pickup drains, the load of a
# server that both receives (Drop) and relays (Pickup, Queue) at once.
#
# Each round renames NP files of 10 KB into Pickup at once, then sends NI
# messages of 10 KB over 20 sessions with smtp-source, and measures:
#   - inbound: messages per second for smtp-source's whole run;
#   - drain: Pickup files per second, from the rename until Pickup and
#     Queue are empty (the smart host is postfix's smtp-sink);
# and, for scale, smtp-source against smtp-sink alone.
#
# With BASE=REV, the same rounds run alternately against a build of that
# git revision, side by side: a same-run A/B of a change.
#
# Needs postfix (smtp-source, smtp-sink), python3 and Go; run as root so
# that smtp-sink can drop to nobody. Results go to stdout; files to
# bench/out/ (removed at the end, after the measurements).
# Usage: bench/mixed.sh   (env: REPS=5 NP=3000 NI=8000 BASE= SETTLE=20)
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
NP=${NP:-3000}
NI=${NI:-8000}
SETTLE=${SETTLE:-20}
SIZE=10240
SINK_PORT=${SINK_PORT:-25261}
PORT0=${PORT0:-25262}
# shellcheck source=bench/lib.sh
. bench/lib.sh
need_tools "postfix python3" /usr/sbin/smtp-source /usr/sbin/smtp-sink /usr/bin/python3
start_builds mixed
start_sink "$SINK_PORT" 1000

declare -A port
p=$PORT0
for b in "${builds[@]}"; do
	port[$b]=$p
	cat >"$OUT/$b.toml" <<EOC
hostname = "bench.example.com"
[mailroot]
root = "$OUT/$b-root"
[inbound]
bind = "127.0.0.1"
port = $p
max_connections = 1000
[outbound]
server = "127.0.0.1"
port = $SINK_PORT
tls = "none"
[pickup]
quiet_period = "100ms"
[log]
level = "warn"
EOC
	"$OUT/$b" run --config "$OUT/$b.toml" 2>"$OUT/$b.log" &
	pids+=($!)
	waitport "$p"
	mkdir -p "$OUT/$b-root/stage"
	p=$((p + 1))
done

python3 -c "
import sys
body = 'From: load@bench.test\r\nTo: relay@bench.test\r\nSubject: mixed\r\n\r\n' + ('x' * 70 + '\r\n') * 140
open(sys.argv[1], 'w', newline='').write(body)
" "$OUT/pickup.eml"

# rate N T0 T1: N per second between T0 and T1.
rate() { echo "$1 $2 $3" | awk '{printf "%.0f", $1/($3-$2)}'; }
source_to() { /usr/sbin/smtp-source -s 20 -m "$NI" -l "$SIZE" -f load@bench.test -t drop@bench.test 127.0.0.1:"$1"; }

sleep "$SETTLE"
echo "# mixed load, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(go version | cut -d' ' -f3); builds: head $(git describe --always --dirty)${BASE:+, base $BASE}"
echo "# each round: $NP Pickup files of 10 KB renamed in at once, then smtp-source -s 20 -m $NI -l $SIZE"
declare -A in dr
sinks=()
for r in $(seq "$REPS"); do
	t0=$(date +%s.%N)
	source_to "$SINK_PORT"
	sinks+=("$(rate "$NI" "$t0" "$(date +%s.%N)")")
	order=("${builds[@]}")
	# Alternate the order: a build's drain deletes files, which slows the
	# file system for whatever runs next.
	[ $((r % 2)) = 0 ] && [ "${#builds[@]}" = 2 ] && order=("${builds[1]}" "${builds[0]}")
	for b in "${order[@]}"; do
		root=$OUT/$b-root
		python3 -c "
import shutil, sys
for i in range(int(sys.argv[2])):
    shutil.copyfile(sys.argv[1], '%s/r%s-%d.eml' % (sys.argv[3], sys.argv[4], i))
" "$OUT/pickup.eml" "$NP" "$root/stage" "$r"
		sync
		sleep 2
		t0=$(date +%s.%N)
		python3 -c "
import os, sys
for f in os.listdir(sys.argv[1]):
    os.rename(os.path.join(sys.argv[1], f), os.path.join(sys.argv[2], f))
" "$root/stage" "$root/Pickup"
		source_to "${port[$b]}"
		t1=$(date +%s.%N)
		while [ -n "$(ls "$root/Pickup")" ] || ls "$root/Queue" | grep -q '\.eml$'; do sleep 0.05; done
		t2=$(date +%s.%N)
		in[$b]="${in[$b]:-} $(rate "$NI" "$t0" "$t1")"
		dr[$b]="${dr[$b]:-} $(rate "$NP" "$t0" "$t2")"
	done
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo
echo "| | inbound, msg/s (rounds) | Pickup drained, files/s (rounds) |"
echo "|---|---|---|"
echo "| smtp-sink alone | $(median "${sinks[@]}") (${sinks[*]}) | |"
for b in "${builds[@]}"; do
	# shellcheck disable=SC2086
	echo "| mailbridge $b | $(median ${in[$b]}) (${in[$b]# }) | $(median ${dr[$b]}) (${dr[$b]# }) |"
done
for b in "${builds[@]}"; do
	n=$(find "$OUT/$b-root/Drop" -name '*.eml' | wc -l)
	bad=$(find "$OUT/$b-root/Badmail" -type f | wc -l)
	echo "# $b: Drop holds $n files ($((REPS * NI)) sent), Badmail $bad"
	[ "$n" = $((REPS * NI)) ] && [ "$bad" = 0 ] || { echo "bench: $b lost or doubled messages" >&2; exit 1; }
done
