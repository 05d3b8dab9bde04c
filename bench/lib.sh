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
