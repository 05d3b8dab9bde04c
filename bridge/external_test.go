package bridge

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testtool"
	"github.com/mailbridge/mailbridge/sender"
)

type pyMessage struct {
	From string   `json:"from"`
	To   []string `json:"to"`
	Data string   `json:"data"`
}

// The .NET file and a header-only file relayed to Python's aiosmtpd.
func TestAiosmtpdSink(t *testing.T) {
	py := testtool.Aiosmtpd(t)

	out := t.TempDir()
	port := testtool.FreePort(t)
	testtool.StartReady(t, py, "testdata/aiosmtpd_sink.py", fmt.Sprint(port), out)

	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: port, Hostname: "bridge.test", ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second, InsecureSkipVerify: true}
	start(t, l, cfg)
	dotnet := fixture(t, "dotnet-framework-style-stuffed.eml")
	drop(t, l, "dotnet.eml", dotnet)
	drop(t, l, "header-only.txt", []byte("From: a@x.test\r\nTo: b@y.test\r\nSubject: header only\r\n"))
	// Text an application copied in with bare CRs, one of them before a
	// dot: sent as CRLF lines (RFC 5321 section 4.1.1.4), the dot
	// doubled, so that no host can take it for the end of the data.
	drop(t, l, "bare-cr.eml", []byte("From: c@x.test\r\nTo: d@y.test\r\nSubject: cr\r\n\r\nline\r.\rMAIL FROM:<e@x.test>\rend\r"))

	deadline := time.Now().Add(wait)
	var files []string
	for len(files) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("aiosmtpd received %d of 3 messages", len(files))
		}
		time.Sleep(20 * time.Millisecond)
		files, _ = filepath.Glob(filepath.Join(out, "*.json"))
	}
	waitEmpty(t, l)
	got := map[string]pyMessage{}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		var m pyMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		got[m.From+" "+strings.Join(m.To, ",")] = m
	}
	m, ok := got["app@corp.test one@dest.test,two@dest.test,hidden@dest.test"]
	if !ok {
		t.Fatalf("no .NET message among %v", got)
	}
	data, _ := base64.StdEncoding.DecodeString(m.Data)
	want := bytes.Replace(dotnet[bytes.Index(dotnet, []byte("MIME-Version")):], []byte("\r\n.."), []byte("\r\n."), -1)
	if !bytes.Equal(unstamped(data), want) {
		t.Fatalf("data %q\nwant %q", data, want)
	}
	if _, ok := got["a@x.test b@y.test"]; !ok {
		t.Fatalf("no header-only message among %v", got)
	}
	m, ok = got["c@x.test d@y.test"]
	if !ok {
		t.Fatalf("no bare-CR message among %v", got)
	}
	data, _ = base64.StdEncoding.DecodeString(m.Data)
	if want := "\r\n\r\nline\r\n.\r\nMAIL FROM:<e@x.test>\r\nend\r\n"; !strings.HasSuffix(string(data), want) {
		t.Fatalf("data %q\nwant it to end %q", data, want)
	}
	time.Sleep(200 * time.Millisecond)
	if files, _ = filepath.Glob(filepath.Join(out, "*.json")); len(files) != 3 {
		t.Fatalf("aiosmtpd received %d messages, want 3", len(files))
	}
}

// The real binary, killed with SIGKILL in the middle of a burst, then
// started again: every message arrives; duplicates only for messages whose
// acceptance the kill cut off (at most one per connection).
func TestSIGKILLDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL and the Go toolchain: the Linux suite runs this")
	}
	bin := filepath.Join(t.TempDir(), "mailbridge")
	build := exec.Command("go", "build", "-o", bin, "../cmd/mailbridge")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	dir := t.TempDir()
	conf := filepath.Join(dir, "mailbridge.toml")
	const connections = 4
	os.WriteFile(conf, []byte(fmt.Sprintf(`hostname = "bridge.test"
[mailroot]
root = "mailroot"
[inbound]
bind = "127.0.0.1"
port = %d
[outbound]
server = "127.0.0.1"
port = %d
retry = ["1s"]
connections = %d
[pickup]
rescan = "1s"
`, testtool.FreePort(t), sink.Port, connections)), 0o644)
	l := testLayout(t)
	root := filepath.Join(dir, "mailroot")
	l.Pickup, l.Queue, l.SortTemp = filepath.Join(root, "Pickup"), filepath.Join(root, "Queue"), filepath.Join(root, "SortTemp")
	os.MkdirAll(l.Pickup, 0o755)

	run := func(logName string) *exec.Cmd {
		logf, err := os.Create(filepath.Join(dir, logName))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		c := exec.Command(bin, "run", "--config", conf)
		c.Stdout, c.Stderr = logf, logf
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	const n = 1000
	for i := 0; i < n; i++ {
		data := fmt.Sprintf("From: a@x.test\r\nTo: b@y.test\r\nSubject: kill %d\r\n\r\nbody\r\n", i)
		os.WriteFile(filepath.Join(l.Pickup, fmt.Sprintf("k%04d.eml", i)), []byte(data), 0o644)
	}
	first := run("first.log")
	sink.WaitFor(t, wait, "some deliveries before the kill", count(n/5))
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	before := len(sink.Messages())
	t.Logf("killed after %d deliveries", before)

	second := run("second.log")
	sink.WaitFor(t, wait*2, "every message after the restart", func(ms []smtpsink.Message) bool {
		seen := map[string]bool{}
		for _, m := range ms {
			seen[string(m.Data)] = true
		}
		return len(seen) >= n
	})
	waitEmpty(t, l)
	second.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("second run exited: %v", err)
		}
	case <-ctx.Done():
		second.Process.Kill()
		t.Fatal("no clean stop after SIGTERM")
	}
	msgs := sink.Messages()
	seen := map[string]int{}
	for _, m := range msgs {
		seen[string(m.Data)]++
	}
	dups := len(msgs) - len(seen)
	t.Logf("%d messages, %d delivered twice (lost-reply window)", len(seen), dups)
	if len(seen) != n {
		t.Fatalf("%d distinct messages, want %d", len(seen), n)
	}
	if dups > connections {
		t.Fatalf("%d duplicates: more than one per connection in flight (%d)", dups, connections)
	}
	// And each duplicate is a message the sink accepted just before the
	// kill (or while the kill landed): one whose acceptance the bridge may
	// not have recorded. "Just before" is a few deliveries per
	// connection: on a loaded machine (the whole suite running, claims
	// being written) a worker may be descheduled between the 250 and the
	// removal of its Queue file while the others deliver (seen once:
	// the 8th last delivery before the kill, with 4 connections).
	firstAt := map[string]int{}
	for i, m := range msgs {
		if _, ok := firstAt[string(m.Data)]; !ok {
			firstAt[string(m.Data)] = i
		} else if at := firstAt[string(m.Data)]; at < before-4*connections {
			t.Fatalf("message %d of %d (kill after %d) was sent again", at, len(msgs), before)
		}
	}
}
