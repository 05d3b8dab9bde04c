package sender

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testpki"
)

// rawHost runs handle for every connection to a listener on 127.0.0.1:0
// until the test ends.
func rawHost(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// slowGreeter forwards every connection to target, holding back what
// target says for delay: a plain SMTP smart host that pauses before its
// greeting (sendmail's greet_pause, postscreen's greet wait).
func slowGreeter(t *testing.T, target string, delay time.Duration) int {
	return rawHost(t, func(c net.Conn) {
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{})
		go func() {
			io.Copy(up, c)
			up.(*net.TCPConn).CloseWrite()
			close(done)
		}()
		time.Sleep(delay)
		io.Copy(c, up)
		<-done
	})
}

// A mode that expects a plain-text greeting against a smart host that
// speaks TLS from the first byte (port 465): the wait ends soon, not at
// the command timeout, with a transient failure that says what to set.
func TestModeExpectsImplicitTLS(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	sink := smtpsink.StartTLS(t, smtpsink.Hooks{}, smtpsink.TLSOptions{Config: serverTLS(pki.Server(t, "127.0.0.1")), Implicit: true})
	for _, mode := range []string{TLSStartTLS, TLSOpportunistic, TLSNone} {
		t.Run(mode, func(t *testing.T) {
			cfg := cfgFor(sink)
			cfg.TLS, cfg.RootCAs = mode, pki.Pool
			cfg.probeAfter = 200 * time.Millisecond
			s := NewSession(cfg)
			defer s.Close()
			start := time.Now()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			took := time.Since(start)
			e := res[0].Err
			if e == nil || e.Permanent || !errors.Is(e, ErrExpectsImplicitTLS) || e.Stage != "greeting" {
				t.Fatalf("got %+v, want transient %v", e, ErrExpectsImplicitTLS)
			}
			t.Log(e)
			if !strings.Contains(e.Error(), `set [outbound] tls = "implicit"`) {
				t.Errorf("reason gives no fix: %s", e)
			}
			if took >= cfg.CommandTimeout/2 {
				t.Errorf("took %s, command timeout %s", took, cfg.CommandTimeout)
			}
			if len(sink.Messages()) != 0 {
				t.Fatal("delivered")
			}
		})
	}
}

// tls = "implicit" against a smart host that greets in plain text: the
// reason quotes the greeting and names the modes that fit.
func TestImplicitAgainstPlainText(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	cfg := cfgFor(sink)
	cfg.TLS = TLSImplicit
	s := NewSession(cfg)
	defer s.Close()
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	e := res[0].Err
	if e == nil || e.Permanent || !errors.Is(e, ErrPlainTextNotTLS) || e.Stage != "TLS handshake" {
		t.Fatalf("got %+v, want transient %v", e, ErrPlainTextNotTLS)
	}
	t.Log(e)
	for _, w := range []string{`"220 sink.test`, `tls = "starttls" or "opportunistic"`} {
		if !strings.Contains(e.Error(), w) {
			t.Errorf("reason lacks %q: %s", w, e)
		}
	}
}

// Other silences and first bytes: only evidence of TLS gives the implicit
// advice; a smart host slow to greet is still served.
func TestGreetingWait(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	for _, tt := range []struct {
		name     string
		timeout  time.Duration // the greeting's; 0: 1s
		port     int
		wantErr  error  // nil: delivered
		wantText string // in the reason
	}{
		// Slower than the probe for TLS, well within the timeout (a loaded
		// machine must not make it a failure).
		{"slow plain greeting", 10 * time.Second, slowGreeter(t, sink.Addr, 700*time.Millisecond), nil, ""},
		// A TLS record (here an alert) where the greeting belongs.
		{"TLS record first", 0, rawHost(t, func(c net.Conn) { c.Write([]byte{21, 3, 3, 0, 2, 2, 40}); io.Copy(io.Discard, c) }), ErrExpectsImplicitTLS, "TLS record"},
		// Silent on both connections, TLS or not: no advice about TLS.
		{"silent", 0, rawHost(t, func(c net.Conn) { io.Copy(io.Discard, c) }), nil, "no greeting within 1s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.timeout == 0 {
				tt.timeout = time.Second
			}
			cfg := Config{Host: "127.0.0.1", Port: tt.port, Hostname: "bridge.test", CommandTimeout: tt.timeout, probeAfter: 200 * time.Millisecond, InsecureSkipVerify: true}
			s := NewSession(cfg)
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			e := res[0].Err
			if e != nil {
				t.Log(e)
			}
			switch {
			case tt.wantText == "":
				if e != nil {
					t.Fatal(e)
				}
			case e == nil || e.Permanent || e.Stage != "greeting" || !strings.Contains(e.Error(), tt.wantText):
				t.Fatalf("got %+v, want a transient greeting failure with %q", e, tt.wantText)
			case tt.wantErr != nil && !errors.Is(e, tt.wantErr):
				t.Fatalf("%v is not %v", e, tt.wantErr)
			case tt.wantErr == nil && (errors.Is(e, ErrExpectsImplicitTLS) || strings.Contains(e.Error(), "implicit")):
				t.Fatalf("TLS advice without evidence: %v", e)
			}
		})
	}
}
