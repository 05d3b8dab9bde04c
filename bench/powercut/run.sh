#!/usr/bin/env bash
# bench/powercut/run.sh: the power-cut test of Drop's durability, the
# figures behind README's "Keep the mail root on a journaled file system".
#
# A Debian kernel boots under QEMU (TCG: no KVM needed) from an initramfs
# holding busybox, this tree's mailbridge and bench/powercut/client. The
# guest's disk, a fresh 1 GiB ext4 image, sits behind QEMU's blklogwrites
# driver, which logs every write and FLUSH the guest sends (virtio-blk with
# a volatile write cache, so the guest must flush). The client sends
# messages to mailbridge on the guest's loopback (no host port) and appends
# each acknowledged token to an fsynced file on the same disk. On the host,
# bench/powercut/replay rebuilds the disk at many crash points, repairs
# each state with e2fsck -fy, reads it with debugfs and checks that every
# acknowledged message is in Drop, whole and once.
#
#   1. harness check: the client's naive writer (rename into Drop, no
#      fsync) on ext4 with a journal must be caught at some crash point,
#      or the harness is blind and the run fails;
#   2. mailbridge on ext4 with a journal: must have no violating point;
#   3. mailbridge on ext4 without a journal: violations are expected (a
#      folder block split half written loses older names, whatever the
#      writer flushes) and reported, not a failure.
#
# Exit status 0 when 1 and 2 hold. Run as root from the repository root
# (apt-get, a tmpfs for the images); needs Go. Everything it builds and
# downloads goes to a temporary folder that it removes; the results stay
# in bench/out/powercut-TIME/ (per run: console.log, results.tsv,
# violations.txt, notes.txt, summary.txt).
#
# Usage: bench/powercut/run.sh   (env: MSGS=2000 SESSIONS=8 NAIVE_MSGS=400
# FLUSHPOINTS=200 EPOCHS=70 WORKERS=nproc SEED=1 KERNEL_PKG=the current
# linux-image-*-cloud-amd64). The defaults take about 15 minutes on two
# cores; the README's figures came from MSGS=3000 FLUSHPOINTS=500
# EPOCHS=200 (about 75 minutes).
set -euo pipefail
[ -f go.mod ] && [ -d bench/powercut ] || { echo "powercut: run from the repository root" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "powercut: run as root (apt-get, tmpfs mount)" >&2; exit 1; }

MSGS=${MSGS:-2000}
SESSIONS=${SESSIONS:-8}
NAIVE_MSGS=${NAIVE_MSGS:-400}
FLUSHPOINTS=${FLUSHPOINTS:-200}
EPOCHS=${EPOCHS:-70}
WORKERS=${WORKERS:-$(nproc)}
SEED=${SEED:-1}
[ -d /usr/local/go/bin ] && PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "powercut: needs Go" >&2; exit 1; }

start=$(date +%s)
OUT=$(pwd)/bench/out/powercut-$(date -u +%Y%m%dT%H%M%SZ)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/powercut.XXXXXX")
cleanup() {
	if mountpoint -q "$WORK"; then umount "$WORK"; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
# The images and the log are rewritten hundreds of times: in RAM, not on
# the disk. A tmpfs only takes the memory its files hold.
mount -t tmpfs -o size=75% powercut "$WORK"
mkdir -p "$OUT"

echo "== tools"
pkgs=(qemu-system-x86 e2fsprogs cpio xz-utils)
apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 ||
	{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null; }
if [ -z "${KERNEL_PKG:-}" ]; then
	# The cloud flavour: small, ext4 built in, virtio as modules.
	KERNEL_PKG=$(apt-cache depends linux-image-cloud-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
fi
[ -n "$KERNEL_PKG" ] || { echo "powercut: no linux-image-cloud-amd64 in apt; set KERNEL_PKG" >&2; exit 1; }
mkdir -p "$WORK/dl" "$WORK/deb"
(cd "$WORK/dl" && apt-get download -q "$KERNEL_PKG" busybox-static >/dev/null 2>&1) ||
	{ echo "powercut: apt-get download $KERNEL_PKG busybox-static failed" >&2; exit 1; }
for f in "$WORK"/dl/*.deb; do dpkg-deb -x "$f" "$WORK/deb"; done
VMLINUZ=$(find "$WORK/deb/boot" -name 'vmlinuz-*' | head -1)

echo "== build ($KERNEL_PKG, busybox-static $(dpkg-deb -f "$WORK"/dl/busybox-static_*.deb Version))"
R=$WORK/initramfs
mkdir -p "$R"/{bin,proc,sys,dev,mnt,tmp,etc,lib/modules}
cp "$(find "$WORK/deb" -type f -path '*bin/busybox' | head -1)" "$R/bin/busybox"
for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
	ko=$(find "$WORK/deb/lib/modules" -name "$m.ko*" | head -1)
	# busybox's insmod takes plain modules only; a kernel may have a
	# driver built in, which then has no file (init skips it).
	case $ko in
	'') ;;
	*.xz) xz -dc "$ko" >"$R/lib/modules/$m.ko" ;;
	*) cp "$ko" "$R/lib/modules/$m.ko" ;;
	esac
done
CGO_ENABLED=0 go build -o "$R/bin/mailbridge" ./cmd/mailbridge
CGO_ENABLED=0 go build -o "$R/bin/client" ./bench/powercut/client
go build -o "$WORK/replay" ./bench/powercut/replay
cp bench/powercut/guest/init "$R/init"
chmod 755 "$R/init"
cp bench/powercut/guest/mailbridge.toml "$R/etc/mailbridge.toml"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$WORK/initramfs.cpio.gz")
REV=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo +dirty)

# guest NAME VARIANT MODE N: a fresh image, the guest's run, its log.
guest() {
	local name=$1 variant=$2 mode=$3 n=$4
	local d=$WORK/runs/$name
	mkdir -p "$d" "$OUT/$name"
	truncate -s 1G "$d/disk.img"
	case $variant in
	journal) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$d/disk.img" ;;
	nojournal) mkfs.ext4 -q -F -O ^has_journal -E lazy_itable_init=0,nodiscard "$d/disk.img" ;;
	esac
	dumpe2fs -h "$d/disk.img" 2>/dev/null | grep -E 'features|Block size' >"$OUT/$name/fsinfo.txt"
	cp --sparse=always "$d/disk.img" "$d/base.img"
	: >"$d/disk.log"
	local t0=$SECONDS
	# -nic none: the guest's loopback is all the network it needs.
	timeout 3600 qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 2 -m 1536 \
		-nographic -no-reboot -nic none -monitor none -serial stdio \
		-kernel "$VMLINUZ" -initrd "$WORK/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 quiet rdinit=/init pc.mode=$mode pc.n=$n pc.sessions=$SESSIONS" \
		-blockdev "driver=blklogwrites,node-name=lw,log-sector-size=512,file.driver=file,file.filename=$d/disk.img,log.driver=file,log.filename=$d/disk.log" \
		-device virtio-blk-pci,drive=lw,write-cache=on >"$OUT/$name/console.log" 2>&1 </dev/null || true
	# sed: the serial console's escape codes precede the first line.
	{ grep -a 'PC: \|client: DONE' "$OUT/$name/console.log" || true; } | tr -d '\r' | sed 's/^.*PC: /PC: /; s/^/  /'
	echo "  guest: $((SECONDS - t0)) s"
	if ! grep -aq '^PC: client rc=0' "$OUT/$name/console.log" || ! grep -aq '^PC: END' "$OUT/$name/console.log"; then
		echo "powercut: guest run $name failed; see $OUT/$name/console.log" >&2
		exit 1
	fi
	acked[$name]=$(grep -a 'client: DONE' "$OUT/$name/console.log" | sed 's/.*acked=\([0-9]*\).*/\1/')
}

# replay NAME: check the crash points of a guest run; sets points[NAME]
# and bad[NAME].
replay() {
	local name=$1 t0=$SECONDS
	"$WORK/replay" -dir "$WORK/runs/$name" -out "$OUT/$name" -work "$WORK" \
		-flushpoints "$FLUSHPOINTS" -epochs "$EPOCHS" -workers "$WORKERS" -seed "$SEED" | tee "$OUT/$name/replay.log" | sed 's/^/  /'
	echo "  replay: $((SECONDS - t0)) s"
	local s
	s=$(cat "$OUT/$name/summary.txt")
	points[$name]=$(sed 's/.* points=\([0-9]*\).*/\1/' <<<"$s")
	bad[$name]=$(sed 's/.* violating=\([0-9]*\).*/\1/' <<<"$s")
	rm -rf "${WORK:?}/runs/$name" # free the tmpfs for the next run
}

declare -A acked points bad
summary() {
	{
		echo "== summary: mailbridge $REV, $KERNEL_PKG, MSGS=$MSGS SESSIONS=$SESSIONS NAIVE_MSGS=$NAIVE_MSGS FLUSHPOINTS=$FLUSHPOINTS EPOCHS=$EPOCHS SEED=$SEED, $(($(date +%s) - start)) s"
		printf '%-22s %-11s %12s %12s %10s\n' "file system" writer acknowledged "crash points" violating
		for r in naive-journal journal nojournal; do
			[ -n "${points[$r]:-}" ] || continue
			case $r in
			naive-journal) fs="ext4, journal" w=naive ;;
			journal) fs="ext4, journal" w=mailbridge ;;
			nojournal) fs="ext4, no journal" w=mailbridge ;;
			esac
			printf '%-22s %-11s %12s %12s %10s\n' "$fs" "$w" "${acked[$r]}" "${points[$r]}" "${bad[$r]}"
		done
		echo "$1"
		echo "results: $OUT"
	} | tee "$OUT/summary.txt"
}

echo "== harness check: naive writer, ext4 with a journal"
guest naive-journal journal naive "$NAIVE_MSGS"
replay naive-journal
if [ "${bad[naive-journal]}" = 0 ]; then
	summary "FAIL: the naive writer was not caught: the harness cannot see a lost message"
	exit 1
fi
echo "== mailbridge, ext4 with a journal"
guest journal journal smtp "$MSGS"
replay journal
echo "== mailbridge, ext4 without a journal"
guest nojournal nojournal smtp "$MSGS"
replay nojournal
if [ "${bad[journal]}" != 0 ]; then
	summary "FAIL: mailbridge lost or damaged acknowledged messages on ext4 with a journal (see journal/violations.txt)"
	exit 1
fi
summary "PASS: naive writer caught; no violation with a journal (violations without one are expected, see nojournal/violations.txt)"
