package listener

import (
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

func tlsServerForTools(t *testing.T) (*testServer, string, string) {
	t.Helper()
	cfg := testConfig()
	srvTLS, _ := testCA(t)
	cfg.TLSConfig, cfg.StartTLS = srvTLS, true
	ts := startServer(t, cfg)
	chain := srvTLS.Certificates[0].Certificate
	caFile := filepath.Join(testdir.New(t), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[len(chain)-1]}), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsAddr := serveTLSOn(t, ts)
	return ts, tlsAddr, caFile
}

func serveTLSOn(t *testing.T, ts *testServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.ServeTLS(l)
	return l.Addr().String()
}

func TestTLSWithSwaks(t *testing.T) {
	swaks := testtool.Path(t, "swaks", "swaks")
	ts, tlsAddr, _ := tlsServerForTools(t)
	for _, mode := range []struct{ flag, addr string }{{"--tls", ts.addr}, {"--tlsc", tlsAddr}} {
		out, err := exec.Command(swaks, "--server", mode.addr, mode.flag, "--helo", "swaks.test",
			"--from", "a@x.test", "--to", "b@y.test", "--header", "Subject: swaks "+mode.flag).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "250 2.6.0 ") {
			t.Fatalf("swaks %s: %v\n%s", mode.flag, err, out)
		}
	}
	files := ts.dropFiles(t)
	if len(files) != 2 {
		t.Fatalf("Drop holds %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(ts.drop, f))
		if !strings.Contains(string(b), "by mail.example.com over TLS secured channel with Microsoft SMTPSVC") {
			t.Errorf("%s lacks the TLS Received header", f)
		}
	}
}

func TestTLSWithPythonSmtplib(t *testing.T) {
	py := testtool.Path(t, testtool.Python, "python3")
	ts, tlsAddr, caFile := tlsServerForTools(t)
	script := `
import smtplib, ssl, sys
plain, tlsaddr, ca = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
h, p = plain.rsplit(":", 1)
with smtplib.SMTP(h, int(p), local_hostname="py.test") as s:
    s.starttls(context=ctx)
    s.ehlo("py.test")
    assert not s.has_extn("starttls"), "STARTTLS offered after TLS"
    s.sendmail("a@x.test", ["b@y.test"], b"Subject: starttls\r\n\r\nvia smtplib\r\n")
h, p = tlsaddr.rsplit(":", 1)
with smtplib.SMTP_SSL(h, int(p), local_hostname="py.test", context=ctx) as s:
    s.sendmail("a@x.test", ["b@y.test"], b"Subject: implicit\r\n\r\nvia SMTP_SSL\r\n")
# Old protocol versions are refused.
old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
old.load_verify_locations(ca)
old.minimum_version = ssl.TLSVersion.TLSv1
old.maximum_version = ssl.TLSVersion.TLSv1_1
try:
    smtplib.SMTP_SSL(h, int(p), context=old, timeout=10)
    print("TLS 1.1 ACCEPTED")
except (ssl.SSLError, OSError) as e:
    print("old TLS refused")
`
	out, err := exec.Command(py, "-c", script, ts.addr, tlsAddr, caFile).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "old TLS refused") {
		t.Errorf("TLS 1.0/1.1: %s", out)
	}
	if n := ts.dropFiles(t); len(n) != 2 {
		t.Fatalf("Drop holds %v", n)
	}
}

func TestTLSWithOpenSSLClient(t *testing.T) {
	ossl := testtool.Path(t, "openssl", "openssl")
	ts, tlsAddr, caFile := tlsServerForTools(t)
	for _, args := range [][]string{
		{"s_client", "-connect", tlsAddr, "-CAfile", caFile, "-verify_return_error", "-quiet"},
		{"s_client", "-connect", ts.addr, "-starttls", "smtp", "-CAfile", caFile, "-verify_return_error", "-quiet"},
	} {
		cmd := exec.Command(ossl, args...)
		cmd.Stdin = strings.NewReader("EHLO ossl.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nSubject: openssl\r\n\r\nhi\r\n.\r\nQUIT\r\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "250 2.6.0 ") {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	if n := ts.dropFiles(t); len(n) != 2 {
		t.Fatalf("Drop holds %v", n)
	}
}
