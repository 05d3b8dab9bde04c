package bridge

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testtool"
	"github.com/mailbridge/mailbridge/sender"
)

// writeTestCA writes a CA (ca.pem) and a certificate for 127.0.0.1 and
// relay.example it signed (cert.pem, key.pem) into dir.
func writeTestCA(t *testing.T, dir string) (pool *x509.CertPool, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bridge test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "relay.example"},
		DNSNames: []string{"relay.example"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return pool, certFile, keyFile
}

// A wrong smart-host password: each attempt fails transiently (535), and
// at expiration the message goes to Badmail with the smart host's reply in
// the .BDR. The password appears in no log line and no Badmail file.
func TestWrongPasswordToBadmail(t *testing.T) {
	py := testtool.Aiosmtpd(t)

	dir := testdir.New(t)
	pool, certFile, keyFile := writeTestCA(t, dir)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	port := testtool.FreePort(t)
	cmd := exec.Command(py, "../sender/testdata/aiosmtpd_tls.py", fmt.Sprint(port), out, "starttls", certFile, keyFile,
		"app@corp.test", "the-right-one", "LOGIN,PLAIN", "1")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("aiosmtpd did not start: %q %v", line, err)
	}

	const password = "Wr0ng-but-S3cret"
	l := testLayout(t)
	cfg := baseConfig(nil)
	cfg.Expiration = 2 * time.Second
	cfg.Sender = sender.Config{Host: "127.0.0.1", Port: port, Hostname: "bridge.test", ConnectTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second,
		TLS: sender.TLSStartTLS, RootCAs: pool, Username: "app@corp.test", Password: password}
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
	if !bytes.Contains(bdr, []byte("535 5.7.8 Authentication credentials invalid")) || !bytes.Contains(bdr, []byte("(expiration)")) {
		t.Fatalf(".BDR lacks the smart host's reply:\n%s", bdr)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `reply="535 5.7.8 Authentication credentials invalid" result=deferred`) {
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
