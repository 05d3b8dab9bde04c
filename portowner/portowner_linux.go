//go:build linux

package portowner

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// tcpListen is TCP_LISTEN in the st column of /proc/net/tcp.
const tcpListen = "0A"

func listeners(port int) ([]Owner, error) {
	var socks []socket
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		s, err := readProcNet(f, port)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // IPv6 disabled
				continue
			}
			return nil, err
		}
		socks = append(socks, s...)
	}
	if len(socks) == 0 {
		return nil, nil
	}
	want := map[uint64]bool{}
	for _, s := range socks {
		want[s.inode] = true
	}
	pids := socketPIDs("/proc", want)
	out := make([]Owner, 0, len(socks))
	for _, s := range socks {
		o := Owner{Addr: s.addr, UID: s.uid, PID: pids[s.inode]}
		if u, err := user.LookupId(strconv.Itoa(s.uid)); err == nil {
			o.User = u.Username
		}
		if o.PID != 0 {
			dir := filepath.Join("/proc", strconv.Itoa(o.PID))
			if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
				o.Name = strings.TrimSpace(string(b))
			}
			if p, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
				o.Path = p
			}
		}
		out = append(out, o)
	}
	return out, nil
}

type socket struct {
	addr  netip.AddrPort
	uid   int
	inode uint64
}

func readProcNet(name string, port int) ([]socket, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := parseProcNet(f, port)
	if err != nil {
		return nil, fmt.Errorf("portowner: %s: %w", name, err)
	}
	return s, nil
}

// parseProcNet reads the LISTEN sockets on port from the text of
// /proc/net/tcp or /proc/net/tcp6:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//	0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23456 ...
//
// Addresses are the kernel's 32-bit words in host byte order, in hex; the
// port is plain hex.
func parseProcNet(r io.Reader, port int) ([]socket, error) {
	var out []socket
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		addr, err := parseHexAddrPort(f[1])
		if err != nil {
			return nil, err
		}
		if int(addr.Port()) != port {
			continue
		}
		uid, err := strconv.Atoi(f[7])
		if err != nil {
			return nil, fmt.Errorf("uid %q: %w", f[7], err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("inode %q: %w", f[9], err)
		}
		out = append(out, socket{addr: addr, uid: uid, inode: inode})
	}
	return out, sc.Err()
}

func parseHexAddrPort(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q is not ADDR:PORT", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port in %q: %w", s, err)
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q is not 8 or 32 hex digits", s)
	}
	// Each 32-bit word was printed as a number in host byte order.
	for i := 0; i < len(raw); i += 4 {
		w := binary.BigEndian.Uint32(raw[i:])
		binary.NativeEndian.PutUint32(raw[i:], w)
	}
	a, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// socketPIDs maps socket inodes to the first process found holding them,
// by reading the links in /proc/PID/fd. Processes this user may not
// inspect are skipped.
func socketPIDs(proc string, want map[uint64]bool) map[uint64]int {
	out := map[uint64]int{}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return out
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(proc, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			inode, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if err != nil || !want[inode] {
				continue
			}
			if _, seen := out[inode]; !seen {
				out[inode] = pid
			}
			if len(out) == len(want) {
				return out
			}
		}
	}
	return out
}
