package sender

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testpki"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

// pyHost is a running aiosmtpd smart host.
type pyHost struct {
	port int
	out  string
}

type pyMsg struct {
	From  string   `json:"from"`
	To    []string `json:"to"`
	Data  string   `json:"data"`
	TLS   bool     `json:"tls"`
	Mech  string   `json:"mech"`
	Login string   `json:"login"`
	Helo  string   `json:"helo"`
}

// startPy runs testdata/aiosmtpd_tls.py; mode is plain, starttls or
// implicit; user "" turns AUTH off.
func startPy(t *testing.T, pki *testpki.PKI, mode, user, password, mechs string, authRequireTLS bool) pyHost {
	t.Helper()
	python := testtool.Aiosmtpd(t)
	dir := testdir.New(t)
	_, cert, key := pki.Files(t, dir, "relay.example", "127.0.0.1")
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	port := testtool.FreePort(t)
	req := "0"
	if authRequireTLS {
		req = "1"
	}
	testtool.StartReady(t, python, "testdata/aiosmtpd_tls.py", fmt.Sprint(port), out, mode, cert, key, user, password, mechs, req)
	return pyHost{port: port, out: out}
}

func (h pyHost) messages(t *testing.T) []pyMsg {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(h.out, "*.json"))
	var msgs []pyMsg
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		var m pyMsg
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

const pyPassword = "c0rrect-h0rse-Battery"

// Delivered to aiosmtpd with STARTTLS or implicit TLS and AUTH LOGIN or
// PLAIN, whichever it offers (LOGIN first).
func TestAiosmtpdTLSAuth(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	for _, tt := range []struct {
		name, serverMode, mode, mechs, wantMech string
		authRequireTLS                          bool
		wantTLS                                 bool
	}{
		{"STARTTLS, LOGIN preferred", "starttls", TLSStartTLS, "LOGIN,PLAIN", "LOGIN", true, true},
		{"STARTTLS, PLAIN only", "starttls", TLSStartTLS, "PLAIN", "PLAIN", true, true},
		{"opportunistic STARTTLS, LOGIN", "starttls", TLSOpportunistic, "LOGIN", "LOGIN", true, true},
		// aiosmtpd counts only STARTTLS as TLS for auth_require_tls, so
		// on its implicit-TLS port AUTH is offered only with it off.
		{"implicit TLS, LOGIN", "implicit", TLSImplicit, "LOGIN,PLAIN", "LOGIN", false, true},
		{"implicit TLS, PLAIN", "implicit", TLSImplicit, "PLAIN", "PLAIN", false, true},
		{"none with a password: AUTH in clear text, as configured", "plain", TLSNone, "LOGIN,PLAIN", "LOGIN", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := startPy(t, pki, tt.serverMode, "app@corp.example", pyPassword, tt.mechs, tt.authRequireTLS)
			ml := &memLog{}
			s := NewSession(Config{Host: "127.0.0.1", Port: h.port, Hostname: "bridge.test", ServerName: "relay.example",
				RootCAs: pki.Pool, TLS: tt.mode, Username: "app@corp.example", Password: pyPassword,
				ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second, CommandLog: ml})
			defer s.Close()
			for i := 0; i < 2; i++ {
				res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
				if res[0].Err != nil {
					t.Fatal(res[0].Err)
				}
			}
			msgs := h.messages(t)
			if len(msgs) != 2 {
				t.Fatalf("%d messages", len(msgs))
			}
			m := msgs[0]
			data, _ := base64.StdEncoding.DecodeString(m.Data)
			if m.TLS != tt.wantTLS || m.Mech != tt.wantMech || m.Login != "app@corp.example" || m.Helo != "bridge.test" || string(data) != msg {
				t.Fatalf("got %+v (data %q)", m, data)
			}
			// The W3C transcript names the mechanism, never the credentials.
			ml.mu.Lock()
			log := strings.Join(ml.lines, "\n")
			ml.mu.Unlock()
			if !strings.Contains(log, " AUTH - "+tt.wantMech+" ") {
				t.Fatalf("no AUTH in the transcript:\n%s", log)
			}
			for _, secret := range []string{pyPassword, base64.StdEncoding.EncodeToString([]byte(pyPassword)),
				base64.StdEncoding.EncodeToString([]byte("\x00app@corp.example\x00" + pyPassword))} {
				if strings.Contains(log, secret) {
					t.Fatalf("the password is in the transcript:\n%s", log)
				}
			}
		})
	}
}

// A wrong password is transient (the administrator fixes it; the bridge
// retries until expiration), with the smart host's reply; the password
// never appears in the error.
func TestAiosmtpdWrongPassword(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	for _, mechs := range []string{"LOGIN", "PLAIN"} {
		t.Run(mechs, func(t *testing.T) {
			h := startPy(t, pki, "starttls", "app@corp.example", pyPassword, mechs, true)
			s := NewSession(Config{Host: "127.0.0.1", Port: h.port, Hostname: "bridge.test", RootCAs: pki.Pool,
				TLS: TLSStartTLS, Username: "app@corp.example", Password: "wr0ng-Passw0rd",
				ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second})
			defer s.Close()
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			e := res[0].Err
			if e == nil || e.Permanent || e.Code != 535 || e.Stage != "AUTH "+mechs || !strings.HasPrefix(e.ReplyLine(), "535 5.7.8") {
				t.Fatalf("got %+v", e)
			}
			if strings.Contains(e.Error(), "wr0ng") || strings.Contains(e.Error(), pyPassword) {
				t.Fatalf("a password in %q", e)
			}
			if len(h.messages(t)) != 0 {
				t.Fatal("delivered")
			}
		})
	}
}

// Opportunistic against aiosmtpd without STARTTLS: plain text without AUTH;
// with a user name configured, the password is not sent and the failure is
// transient. starttls mode: transient, nothing sent.
func TestAiosmtpdNoSTARTTLS(t *testing.T) {
	pki := testpki.New(t, "mailbridge test CA")
	h := startPy(t, pki, "plain", "", "", "", false)
	cfg := Config{Host: "127.0.0.1", Port: h.port, Hostname: "bridge.test", ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second, InsecureSkipVerify: true}
	s := NewSession(cfg)
	if res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg)); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	s.Close()
	if m := h.messages(t); len(m) != 1 || m[0].TLS {
		t.Fatalf("%+v", m)
	}
	cfg.TLS = TLSStartTLS
	s = NewSession(cfg)
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	s.Close()
	if e := res[0].Err; e == nil || e.Permanent || !errors.Is(e, ErrNoSTARTTLS) {
		t.Fatalf("got %+v", e)
	}

	// AUTH offered over plain text (auth_require_tls off): still not sent
	// unless tls = "none"; the message waits for STARTTLS.
	h = startPy(t, pki, "plain", "app", pyPassword, "LOGIN,PLAIN", false)
	cfg = Config{Host: "127.0.0.1", Port: h.port, Hostname: "bridge.test", Username: "app", Password: pyPassword, CommandTimeout: 10 * time.Second}
	s = NewSession(cfg)
	res = s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	s.Close()
	if e := res[0].Err; e == nil || e.Permanent || !errors.Is(e, errNotOffered) {
		t.Fatalf("got %+v", e)
	}
	if len(h.messages(t)) != 0 {
		t.Fatal("delivered")
	}
}
