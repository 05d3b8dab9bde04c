package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/internal/testpki"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

// An expired certificate is a problem for check (exit 1), but run starts
// with it and serves it: refusing to start would stop plain-text mail on
// the port and Pickup relaying too, at the first reboot after the expiry.
// The log says when it expired and how to replace it, and a renewed file
// copied over it is picked up without a restart.
func TestRunStartsWithExpiredCertificate(t *testing.T) {
	dir := testDir(t)
	pki := testpki.New(t, "test CA")
	pfx := filepath.Join(dir, "cert.pfx")
	expired := time.Now().Add(-24 * time.Hour)
	pki.PFXValid(t, pfx, "pw", expired.Add(-48*time.Hour), expired, "old.mb.test")
	ports := testtool.FreePorts(t, 2)
	tlsPort := ports[1]
	conf := filepath.Join(dir, "mailbridge.toml")
	text := fmt.Sprintf("hostname = \"old.mb.test\"\n[mailroot]\nroot = %q\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\ntls = \"starttls\"\ntls_port = %d\npfx_path = 'cert.pfx'\npfx_password = \"pw\"\n",
		filepath.Join(dir, "mailroot"), ports[0], tlsPort)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "check", "--config", conf)
	if code != 1 || !strings.Contains(errs, "expired on "+expired.UTC().Format("2006-01-02")) || !strings.Contains(errs, "mailbridge run starts with it") ||
		!regexp.MustCompile(`mailbridge\.toml:9: inbound\.pfx_path = ["'][^"']*cert\.pfx["']: the certificate`).MatchString(errs) {
		t.Fatalf("check: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatalf("an expired certificate keeps run from starting: %v", err)
	}
	var logs testlog.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runWith(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil, runOptions{now: time.Now, certPoll: 50 * time.Millisecond})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	served := func() string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(tlsPort), &tls.Config{InsecureSkipVerify: true})
			if err == nil {
				defer c.Close()
				return c.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			if time.Now().After(deadline) {
				t.Fatalf("no TLS on tls_port: %v\n%s", err, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if cn := served(); cn != "old.mb.test" {
		t.Fatalf("served %q", cn)
	}
	want := "level=ERROR msg=\"the TLS certificate in use expired on " + expired.UTC().Format("2006-01-02")
	if !strings.Contains(logs.String(), want) || !strings.Contains(unquoteLog(logs.String()), "copy it over "+pfx) {
		t.Fatalf("log lacks %q and how to replace it:\n%s", want, logs.String())
	}

	// The renewal, copied over the file, is served without a restart.
	tmp := filepath.Join(dir, "renewed.tmp")
	pki.PFX(t, tmp, "pw", "new.mb.test")
	for deadline := time.Now().Add(5 * time.Second); ; {
		err := os.Rename(tmp, pfx)
		if err == nil {
			break
		}
		// Windows refuses to replace a file while another program has it
		// open (Go opens files without FILE_SHARE_DELETE), and run reads
		// the PFX every 50 ms here: again, as an administrator would.
		if runtime.GOOS != "windows" || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for served() != "new.mb.test" {
		if time.Now().After(deadline) {
			t.Fatalf("renewal not served:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A certificate that does not name hostname is a warning (clients that
// check names refuse it; others take it), naming both; a pfx_path that
// nothing uses (tls = "none", no tls_port) is a warning in check and at
// start, naming the keys that turn TLS on.
func TestCertificateNameAndUnusedPFXWarnings(t *testing.T) {
	dir := testDir(t)
	pfx := filepath.Join(dir, "cert.pfx")
	testpki.New(t, "test CA").PFX(t, pfx, "pw", "wrong.example")
	conf := filepath.Join(dir, "mailbridge.toml")
	write := func(tlsLine string) {
		t.Helper()
		text := fmt.Sprintf("hostname = \"mb.test\"\n[mailroot]\nroot = %q\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\n%s\npfx_path = 'cert.pfx'\npfx_password = \"pw\"\n",
			filepath.Join(dir, "mailroot"), testtool.FreePort(t), tlsLine)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`tls = "starttls"`)
	code, out, errs := runCmd(t, "check", "--config", conf)
	if code != 0 || !strings.Contains(out, "warning: the certificate's names, wrong.example, do not include hostname mb.test") {
		t.Fatalf("names: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	write(`tls = "none"`)
	code, out, errs = runCmd(t, "check", "--config", conf)
	want := `warning: [inbound] pfx_path is set (` + pfx + `) but the certificate is not used: tls = "none" and no tls_port; set [inbound] tls = "starttls"`
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "or tls_port") {
		t.Fatalf("unused pfx_path: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	stop := startRun(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "msg=listening") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if !strings.Contains(logs.String(), "level=WARN msg=\"[inbound] pfx_path is set") {
		t.Fatalf("no warning at start:\n%s", logs.String())
	}
}
