package bridge

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/sender"
)

// A smart host that refuses our user name or password (535) gets one
// failed login a retry interval, not one per queued message at once: as
// many failures in a second lock the account out (Active Directory,
// Microsoft 365). The other messages are deferred untried, and all go
// once the password is right. Found from outside with postfix: 30 failed
// logins within a second for 30 messages.
//
// With several connections, one logs in at a time until a login is known
// to work: at a start with mail queued, every connection logged in at once
// (found from outside: 3 failed logins for 3 connections), and a service
// restarted a few times while the cause was looked for reached a lockout
// threshold of 10.
func TestWrongPasswordTriedOnceAnInterval(t *testing.T) {
	for _, conns := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) { testWrongPassword(t, conns) })
	}
}

func testWrongPassword(t *testing.T, conns int) {
	var attempts atomic.Int32
	var good atomic.Bool
	sink := smtpsink.Start(t, smtpsink.Hooks{Auth: func(user, pass string) error {
		attempts.Add(1)
		if good.Load() && pass == "right" {
			return nil
		}
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	}})
	l := testLayout(t)
	cfg := baseConfig(sink)
	cfg.Connections = conns
	cfg.Retry = []time.Duration{3 * time.Second}
	cfg.Sender.TLS = sender.TLSNone
	cfg.Sender.Username, cfg.Sender.Password = "app", "right"
	h := start(t, l, cfg)
	for i := 0; i < 6; i++ {
		drop(t, l, fmt.Sprintf("m%d.eml", i), []byte(fmt.Sprintf("From: app@corp.test\r\nTo: r%d@y.test\r\nSubject: auth\r\n\r\nbody\r\n", i)))
	}
	deadline := time.Now().Add(wait)
	for strings.Count(h.logs.String(), "not tried: the smart host refused the user name or the password") < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("the other messages were not held:\n%s", h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// One attempt; a second only if holding the five took a whole retry
	// interval on a slow machine.
	if n := attempts.Load(); n > 2 {
		t.Fatalf("%d failed logins for 6 messages within a retry interval", n)
	}
	if !strings.Contains(h.logs.String(), "refused mailbridge's user name or password: messages are held") {
		t.Fatalf("log:\n%s", h.logs.String())
	}
	// A held message's reason gives the advice once, not the 535's
	// note too (found from outside).
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, "not tried: ") && strings.Count(line, "check [outbound] username") != 1 {
			t.Fatalf("the advice is given %d times: %s", strings.Count(line, "check [outbound] username"), line)
		}
	}
	good.Store(true) // the administrator fixed the password
	sink.WaitFor(t, wait, "the six messages", count(6))
	waitEmpty(t, l)
	if !strings.Contains(h.logs.String(), "accepts mailbridge's user name and password again") {
		t.Fatalf("log:\n%s", h.logs.String())
	}
}

// A message refused at the end of its data (a content filter) is said to
// be refused for all its recipients with the one reply, not as "refused 3
// of 3 recipients". Found from outside with postfix's header_checks.
func TestRefusedAtEndOfDataWording(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Data: func(string, []string, []byte) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Message content rejected"}
	}})
	l := testLayout(t)
	start(t, l, baseConfig(sink))
	drop(t, l, "three.eml", []byte("From: app@corp.test\r\nTo: a@y.test, b@y.test, c@y.test\r\nSubject: filtered\r\n\r\nbody\r\n"))
	// The message's .BDR (the report, refused alike, has one of its own).
	want := `refused the message for all 3 recipients, replying "550 5.7.1 Message content rejected"`
	for deadline := time.Now().Add(wait); ; time.Sleep(50 * time.Millisecond) {
		bdrs, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BDR"))
		for _, p := range bdrs {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no .BDR says %q", want)
		}
	}
}

// The one-login-at-a-time rule lasts only until a first attempt ends: a
// smart host that accepts connections and never answers (so no login is
// ever tried) is not waited out once per connection, one after the
// other. After the first attempt's timeout, the others go together.
func TestSilentSmartHostNotWaitedOutInTurn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var open, most atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := open.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			go func() { // silent until the client gives up
				c.Read(make([]byte, 1))
				open.Add(-1)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Connections = 4
	cfg.Retry = []time.Duration{time.Hour}
	port := ln.Addr().(*net.TCPAddr).Port
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: port, Hostname: "bridge.test", ConnectTimeout: time.Second, CommandTimeout: 500 * time.Millisecond,
		TLS: sender.TLSNone, Username: "app", Password: "pw"}
	h := start(t, l, cfg)
	for i := 0; i < 4; i++ {
		drop(t, l, fmt.Sprintf("m%d.eml", i), []byte(fmt.Sprintf("From: app@corp.test\r\nTo: r%d@y.test\r\n\r\nbody\r\n", i)))
	}
	h.waitLogCount("result=deferred", 4)
	// One attempt opens up to two connections (its second after the
	// greeting's timeout): three at once are attempts side by side.
	if most.Load() < 3 {
		t.Errorf("the smart host had at most %d connections at once: the attempts waited for each other", most.Load())
	}
}
