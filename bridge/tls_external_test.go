package bridge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testpki"
	"github.com/mailbridge/mailbridge/internal/testtool"
	"github.com/mailbridge/mailbridge/sender"
)

// A wrong smart-host password: each attempt fails transiently (535), and
// at expiration the message goes to Badmail with the smart host's reply in
// the .BDR. The password appears in no log line and no Badmail file.
func TestWrongPasswordToBadmail(t *testing.T) {
	py := testtool.Aiosmtpd(t)

	dir := testdir.New(t)
	pki := testpki.New(t, "bridge test CA")
	_, certFile, keyFile := pki.Files(t, dir, "relay.example", "127.0.0.1")
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	port := testtool.FreePort(t)
	testtool.StartReady(t, py, "../sender/testdata/aiosmtpd_tls.py", fmt.Sprint(port), out, "starttls", certFile, keyFile,
		"app@corp.test", "the-right-one", "LOGIN,PLAIN", "1")

	const password = "Wr0ng-but-S3cret"
	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Expiration = 2 * time.Second
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: port, Hostname: "bridge.test", ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second,
		TLS: sender.TLSStartTLS, RootCAs: pki.Pool, Username: "app@corp.test", Password: password}
	h := start(t, l, cfg)
	drop(t, l, "pw.eml", []byte("From: app@corp.test\r\nTo: b@y.test\r\nSubject: wrong password\r\n\r\nbody\r\n"))
	// The report to app@ fails the same way and expires too.
	waitFile(t, l.Badmail, "*.BDR")
	waitEmpty(t, l)
	var bdr []byte
	bdrs, _ := filepath.Glob(filepath.Join(l.Badmail, "*.BDR"))
	for _, f := range bdrs {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("Pickup file: pw.eml")) {
			bdr = b
		}
	}
	if !bytes.Contains(bdr, []byte("535 5.7.8 Authentication credentials invalid")) || !bytes.Contains(bdr, []byte("check [outbound] username and password (or password_file, password_env)")) || !bytes.Contains(bdr, []byte("(expiration)")) {
		t.Fatalf(".BDR lacks the smart host's reply:\n%s", bdr)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `reply="535 5.7.8 Authentication credentials invalid (the smart host refused the user name or the password: check [outbound] username and password (or password_file, password_env); retried as a temporary failure)" result=deferred`) {
		t.Fatalf("the attempts are not logged:\n%s", logs)
	}
	files, _ := filepath.Glob(filepath.Join(l.Badmail, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(password)) {
			t.Fatalf("the password is in %s", f)
		}
	}
	if strings.Contains(logs, password) {
		t.Fatalf("the password is in the log:\n%s", logs)
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*.json")); len(m) != 0 {
		t.Fatalf("delivered: %v", m)
	}
}
