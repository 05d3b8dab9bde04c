package bridge

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/sender"
)

// discardSink is a real SMTP server on 127.0.0.1 that keeps only a digest
// of each message (dot-stuffing undone), so that it adds nothing of the
// message's size to the memory measured.
type discardSink struct {
	l    net.Listener
	done chan [sha256.Size]byte
}

func startDiscardSink(t *testing.T) *discardSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &discardSink{l: l, done: make(chan [sha256.Size]byte, 4)}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *discardSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "220 sink ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"):
			fmt.Fprintf(c, "250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
		case cmd == "DATA":
			fmt.Fprintf(c, "354 go ahead\r\n")
			h := sha256.New()
			// The header block is small: hashed without what the bridge
			// adds to it (unstamped), the body as it streams.
			var head []byte
			inHead := true
			for {
				l, err := r.ReadSlice('\n')
				if err == bufio.ErrBufferFull {
					h.Write(l)
					continue
				}
				if err != nil {
					return
				}
				if string(l) == ".\r\n" {
					break
				}
				l = bytes.TrimPrefix(l, []byte("."))
				if inHead {
					head = append(head, l...)
					if string(l) == "\r\n" {
						inHead = false
						h.Write(unstamped(head))
					}
					continue
				}
				h.Write(l)
			}
			fmt.Fprintf(c, "250 2.0.0 ok\r\n")
			var sum [sha256.Size]byte
			copy(sum[:], h.Sum(nil))
			s.done <- sum
		case cmd == "QUIT":
			fmt.Fprintf(c, "221 bye\r\n")
			return
		default:
			fmt.Fprintf(c, "250 ok\r\n")
		}
	}
}

// TestLargeMessageStreams relays a 40 MB Pickup file (dot-stuffed, with
// lines the stuffing touches) to a real SMTP server and checks that the
// bridge never holds it: the memory allocated over the whole relay
// (claim, Queue file, send) stays far below the message's size. Before
// the relay streamed, it allocated over five times the size (the file
// read whole at the claim, again at each attempt, and copied for
// unstuffing and stuffing).
func TestLargeMessageStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and relays 40 MB")
	}
	sink := startDiscardSink(t)
	d := testdir.New(t) // t.TempDir's cleanup fails under Wine (a held lock)
	l := testLayoutIn(d)
	head := "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\nFrom: a@x.test\r\nTo: b@y.test\r\nSubject: large\r\n\r\n"
	line := strings.Repeat("x", 76) + "\r\n"
	var file, want bytes.Buffer
	file.WriteString(head)
	want.WriteString(strings.TrimPrefix(head, "X-Sender: a@x.test\r\nX-Receiver: b@y.test\r\n"))
	for i := 0; file.Len() < 40<<20; i++ {
		if i%1000 == 0 {
			file.WriteString("..dot\r\n") // stuffed, as IIS's writers do
			want.WriteString(".dot\r\n")
			continue
		}
		file.WriteString(line)
		want.WriteString(line)
	}
	stage := filepath.Join(d, "large.eml")
	if err := os.WriteFile(stage, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	size := file.Len()
	wantSum := sha256.Sum256(want.Bytes())
	file, want = bytes.Buffer{}, bytes.Buffer{}

	cfg := baseConfig(nil)
	cfg.Pickup = compat.PickupOptions{DotStuffed: true, StripBcc: true}
	cfg.QuietPeriod = 50 * time.Millisecond
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: sink.l.Addr().(*net.TCPAddr).Port, Hostname: "bridge.test", TLS: sender.TLSNone,
		ConnectTimeout: 5 * time.Second, CommandTimeout: 30 * time.Second}
	h := startB(t, l, cfg)
	defer h.stop()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := os.Rename(stage, filepath.Join(l.Pickup, "large.eml")); err != nil {
		t.Fatal(err)
	}
	select {
	case sum := <-sink.done:
		if sum != wantSum {
			t.Fatal("the message the smart host got is not the one in the Pickup file")
		}
	case <-time.After(wait):
		t.Fatal("the message was not relayed")
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("relayed %d bytes; allocated %d bytes (%.3f of the size); heap in use %d -> %d", size, alloc, float64(alloc)/float64(size), before.HeapInuse, after.HeapInuse)
	// Everything allocated meanwhile counts, the test's and the sink's
	// too: a tenth of the size leaves room for them and none for a copy.
	if alloc > uint64(size/10) {
		t.Errorf("relaying a %d-byte message allocated %d bytes: it is held in memory, not streamed", size, alloc)
	}
}
