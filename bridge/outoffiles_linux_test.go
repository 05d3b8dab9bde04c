package bridge

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/sender"
	"golang.org/x/sys/unix"
)

// A process out of file descriptors (its open-files limit reached under
// load) is short of something of its own: a message waits seconds, its
// waits are not attempts, and the log says what to raise, not that the
// smart host cannot be reached. Found from outside: with ulimit -n 256, a
// message used three attempts in 130 ms and then waited an hour.
func TestOutOfFilesIsNotAnAttempt(t *testing.T) {
	addr := closedPort(t)
	cfg := baseConfig(nil)
	cfg.Retry = []time.Duration{300 * time.Millisecond}
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: addr.Port, Hostname: "bridge.test", ConnectTimeout: time.Second, CommandTimeout: 5 * time.Second, InsecureSkipVerify: true}
	l := testLayout(t)
	h := start(t, l, cfg, func(b *Bridge) { b.filesRetry = 100 * time.Millisecond })
	drop(t, l, "a.eml", []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nwhile out of files\r\n"))
	h.waitLog("result=deferred") // connection refused: an attempt

	// Out of descriptors: the soft limit lowered near what is open, and
	// the rest taken.
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	lim := saved
	lim.Cur = uint64(len(open) + 64)
	if lim.Cur > saved.Cur {
		t.Skipf("the open-files limit (%d) is too low to lower", saved.Cur)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	release := func() {
		for _, f := range held {
			f.Close()
		}
		held = nil
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
			t.Error(err)
		}
	}
	defer release()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		held = append(held, f)
	}
	h.waitLog("out of file descriptors: messages wait")
	deferred := strings.Count(h.logs.String(), "result=deferred")
	time.Sleep(time.Second) // ten waits of 100 ms
	if n := strings.Count(h.logs.String(), "result=deferred"); n != deferred {
		t.Errorf("%d deferrals while out of descriptors: counted as attempts", n-deferred)
	}
	if n := strings.Count(h.logs.String(), "level=ERROR msg=\"out of file descriptors"); n != 1 {
		t.Errorf("said %d times, want once a minute", n)
	}
	release()

	// Back: the next wait ends in the delivery, one attempt after the
	// last refused one.
	sink := smtpsink.StartAt(t, addr.String(), smtpsink.Hooks{})
	sink.WaitFor(t, wait, "the message", count(1))
	h.waitLog("result=sent")
	m := regexp.MustCompile(`result=sent attempt=(\d+)`).FindStringSubmatch(h.logs.String())
	if m == nil || m[1] != strconv.Itoa(deferred+1) {
		t.Errorf("delivered as attempt %v, want %d:\n%s", m, deferred+1, h.logs.String())
	}
}
