# bench/lib.sh: shell functions shared by the bench scripts (sourced).

# waitport PORT: wait up to 10 s until something listens on 127.0.0.1:PORT.
waitport() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: nothing listens on port $1" >&2
	exit 1
}

# start_builds NAME: the set-up of a same-run A/B. It makes OUT
# (bench/out/NAME-TIME), builds the working tree's mailbridge as
# $OUT/head and, with BASE=REV, that revision's as $OUT/base (builds lists
# them), and on exit kills the processes in pids and removes OUT and the
# base's worktree.
start_builds() {
	OUT=$(pwd)/bench/out/$1-$(date -u +%Y%m%dT%H%M%SZ)
	mkdir -p "$OUT"
	pids=()
	trap _cleanup_builds EXIT
	builds=(head)
	go build -o "$OUT/head" ./cmd/mailbridge
	if [ -n "${BASE:-}" ]; then
		git worktree add --detach "$OUT/base-src" "$BASE" >/dev/null 2>&1
		(cd "$OUT/base-src" && go build -o "$OUT/base" ./cmd/mailbridge)
		builds+=(base)
	fi
}

_cleanup_builds() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -d "$OUT/base-src" ] && git worktree remove --force "$OUT/base-src" >/dev/null 2>&1
	rm -rf "$OUT"
}

# need_tools PACKAGES TOOL...: stop unless every TOOL is installed, naming
# the Debian packages that bring them.
need_tools() {
	local pkgs=$1
	shift
	for tool in "$@"; do
		[ -x "$tool" ] || { echo "bench: $tool missing: apt-get install $pkgs" >&2; exit 1; }
	done
}

# start_sink PORT BACKLOG: postfix's smtp-sink on 127.0.0.1:PORT (as
# nobody when root), in pids, once it listens.
start_sink() {
	local args=(127.0.0.1:"$1" "$2")
	[ "$(id -u)" = 0 ] && args=(-u nobody "${args[@]}")
	/usr/sbin/smtp-sink "${args[@]}" &
	pids+=($!)
	waitport "$1"
}
