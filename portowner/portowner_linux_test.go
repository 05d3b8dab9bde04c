package portowner

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// A /proc/net/tcp and tcp6 as a little-endian kernel writes them (every
// machine this runs on: x86-64, arm64).
const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 00000000:09C4 00000000:0000 0A 00000000:00000000 00:00000000 00000000   108        0 4242 1 0000000000000000 100 0 0 10 0
   2: 0100007F:0019 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 555 1 0000000000000000 20 4 30 10 -1
   3: 1401A8C0:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
`

const procNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0019 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 888 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:09C4 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:0019 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1010 1 0000000000000000 100 0 0 10 0
`

func TestParseProcNet(t *testing.T) {
	got, err := parseProcNet(strings.NewReader(procNetTCP), 25)
	if err != nil {
		t.Fatal(err)
	}
	// The established connection (st 01) on line 2 is not a listener.
	want := []socket{
		{netip.MustParseAddrPort("127.0.0.1:25"), 0, 31337},
		{netip.MustParseAddrPort("192.168.1.20:25"), 0, 777},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	got, err = parseProcNet(strings.NewReader(procNetTCP), 2500)
	if err != nil || len(got) != 1 || got[0].uid != 108 || got[0].addr.String() != "0.0.0.0:2500" {
		t.Fatalf("port 2500: %+v, %v", got, err)
	}
	got, err = parseProcNet(strings.NewReader(procNetTCP6), 25)
	if err != nil {
		t.Fatal(err)
	}
	want = []socket{
		{netip.MustParseAddrPort("[::1]:25"), 0, 888},
		{netip.MustParseAddrPort("127.0.0.1:25"), 0, 1010}, // v4-mapped, shown as IPv4
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tcp6: got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"h\n 0: 0100007F 00000000:0000 0A a b c d 0 0 1\n",
		"h\n 0: 0100007G:0019 00000000:0000 0A a b c d 0 0 1\n",
		"h\n 0: 0100007F:0019 00000000:0000 0A a b c d x 0 1\n",
	} {
		if s, err := parseProcNet(strings.NewReader(bad), 25); err == nil {
			t.Errorf("parseProcNet(%q) = %+v, want an error", bad, s)
		}
	}
}

func FuzzParseProcNet(f *testing.F) {
	f.Add(procNetTCP, 25)
	f.Add(procNetTCP6, 2500)
	f.Fuzz(func(t *testing.T, s string, port int) {
		parseProcNet(strings.NewReader(s), port)
	})
}
