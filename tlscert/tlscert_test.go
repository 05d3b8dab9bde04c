package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

func run(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// makePFX writes a CA, a server certificate signed by it (RSA or EC) and
// PFX files: modern.pfx (AES-256/PBES2, openssl's default, as current
// Windows exports) and legacy.pfx (3DES/RC2), both with the chain, and
// nokey.pfx with the certificate only.
func makePFX(t *testing.T, keyType string) string {
	ossl := testtool.Path(t, "openssl", "openssl")
	dir := testdir.New(t)
	keyArgs := []string{"-newkey", "rsa:2048"}
	if keyType == "ec" {
		keyArgs = []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"}
	}
	run(t, dir, ossl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/CN=Test CA")
	run(t, dir, append(append([]string{ossl, "req"}, keyArgs...), "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=mail.example.com")...)
	os.WriteFile(filepath.Join(dir, "ext.cnf"), []byte("subjectAltName=DNS:mail.example.com,IP:127.0.0.1\n"), 0o644)
	run(t, dir, ossl, "x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.crt", "-days", "30", "-extfile", "ext.cnf")
	run(t, dir, ossl, "pkcs12", "-export", "-out", "modern.pfx", "-inkey", "srv.key", "-in", "srv.crt", "-certfile", "ca.crt", "-passout", "pass:Pa55 w0rd!")
	run(t, dir, ossl, "pkcs12", "-export", "-legacy", "-out", "legacy.pfx", "-inkey", "srv.key", "-in", "srv.crt", "-certfile", "ca.crt", "-passout", "pass:Pa55 w0rd!")
	run(t, dir, ossl, "pkcs12", "-export", "-nokeys", "-out", "nokey.pfx", "-in", "srv.crt", "-passout", "pass:Pa55 w0rd!")
	return dir
}

func TestLoadPFXEncodings(t *testing.T) {
	for _, kt := range []string{"rsa", "ec"} {
		dir := makePFX(t, kt)
		for _, name := range []string{"modern.pfx", "legacy.pfx"} {
			t.Run(kt+"/"+name, func(t *testing.T) {
				cert, info, err := LoadPFX(filepath.Join(dir, name), "Pa55 w0rd!", time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if info.Subject != "CN=mail.example.com" || info.Chain != 1 || len(cert.Certificate) != 2 ||
					strings.Join(info.SANs, ",") != "mail.example.com,127.0.0.1" || info.Issuer != "CN=Test CA" {
					t.Fatalf("info %+v, %d certs", info, len(cert.Certificate))
				}
				if cert.Leaf == nil || cert.PrivateKey == nil {
					t.Fatal("certificate not ready for crypto/tls")
				}
			})
		}
	}
}

func TestLoadPFXErrors(t *testing.T) {
	dir := makePFX(t, "rsa")
	os.WriteFile(filepath.Join(dir, "cert.pem.pfx"), []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644)
	tests := []struct {
		file, password, want string
	}{
		{"modern.pfx", "Zq9-not-it", "wrong password"},
		{"legacy.pfx", "", "wrong password"},
		{"cert.pem.pfx", "Zq9-any", "not a PKCS#12 (.pfx or .p12) file"},
		{"nokey.pfx", "Pa55 w0rd!", "holds no private key"},
		{"missing.pfx", "Zq9-any", "cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			_, _, err := LoadPFX(path, tt.password, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want %q naming the file", err, tt.want)
			}
			if tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Fatalf("the password appears in %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("not one line: %q", err)
			}
			// config names the key the password came from.
			if errors.Is(err, ErrWrongPassword) != (tt.want == "wrong password") {
				t.Fatalf("errors.Is(%v, ErrWrongPassword) = %v", err, !(tt.want == "wrong password"))
			}
		})
	}
}

// goPFX encodes a fresh self-signed certificate valid from nb to na.
func goPFX(t *testing.T, path string, nb, na time.Time, cn string) {
	t.Helper()
	goPFXWith(t, path, nb, na, cn, "pw")
}

func goPFXWith(t *testing.T, path string, nb, na time.Time, cn, password string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, NotBefore: nb, NotAfter: na}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	data, err := pkcs12.Modern.Encode(key, cert, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadPFXValidity(t *testing.T) {
	dir := testdir.New(t)
	now := time.Now()
	goPFX(t, filepath.Join(dir, "expired.pfx"), now.Add(-48*time.Hour), now.Add(-24*time.Hour), "old.example.com")
	goPFX(t, filepath.Join(dir, "future.pfx"), now.Add(24*time.Hour), now.Add(48*time.Hour), "new.example.com")
	if _, _, err := LoadPFX(filepath.Join(dir, "expired.pfx"), "pw", now); err == nil || !strings.Contains(err.Error(), `"CN=old.example.com" expired on`) {
		t.Errorf("expired: %v", err)
	}
	if _, _, err := LoadPFX(filepath.Join(dir, "future.pfx"), "pw", now); err == nil || !strings.Contains(err.Error(), "is not valid before") {
		t.Errorf("not yet valid: %v", err)
	}
}

// TestReload replaces the file under a running store: a good renewal is
// taken, a bad one is logged and the previous certificate stays.
func TestReload(t *testing.T) {
	dir := testdir.New(t)
	path := filepath.Join(dir, "smtp.pfx")
	now := time.Now()
	goPFX(t, path, now.Add(-time.Hour), now.Add(time.Hour), "one.example.com")
	st := newStoreUnderTest(t, path, "", Options{})
	s, logs, cn := st.Store, st.logs, st.cn
	if cn() != "one.example.com" {
		t.Fatal(cn())
	}
	tmp := filepath.Join(dir, "renewed.tmp")
	goPFX(t, tmp, now.Add(-time.Hour), now.Add(2*time.Hour), "two.example.com")
	os.Rename(tmp, path)
	s.Check()
	if cn() != "two.example.com" || !strings.Contains(logs.String(), "certificate reloaded") {
		t.Fatalf("after renewal: %s\n%s", cn(), logs.String())
	}
	os.WriteFile(path, []byte("half a file"), 0o600)
	s.Check()
	if cn() != "two.example.com" || !strings.Contains(logs.String(), "it may still be being copied") {
		t.Fatalf("after a broken file: %s\n%s", cn(), logs.String())
	}
	s.Check() // unchanged since: not a copy under way
	if cn() != "two.example.com" || !strings.Contains(logs.String(), "certificate not reloaded, the previous one stays in use") {
		t.Fatalf("after a broken file: %s\n%s", cn(), logs.String())
	}
	if strings.Contains(logs.String(), `"pw"`) || strings.Contains(logs.String(), "=pw") {
		t.Fatal("password in the log")
	}
}

// A renewed PFX exported with a new password is picked up once the
// password file holds it, whichever of the two is written first.
func TestReloadNewPassword(t *testing.T) {
	dir := testdir.New(t)
	path, pwFile := filepath.Join(dir, "smtp.pfx"), filepath.Join(dir, "pfx-password.txt")
	now := time.Now()
	goPFX(t, path, now.Add(-time.Hour), now.Add(time.Hour), "one.example.com")
	if err := os.WriteFile(pwFile, []byte("pw\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := newStoreUnderTest(t, path, pwFile, Options{})
	s, logs, cn := st.Store, st.logs, st.cn
	// The PFX first: its password is not known yet.
	tmp := filepath.Join(dir, "renewed.tmp")
	goPFXWith(t, tmp, now.Add(-time.Hour), now.Add(2*time.Hour), "two.example.com", "n3w secret")
	os.Rename(tmp, path)
	s.Check()
	if cn() != "one.example.com" || !strings.Contains(logs.String(), "certificate not reloaded") {
		t.Fatalf("with the old password: %s\n%s", cn(), logs.String())
	}
	s.Check() // nothing changed: not tried again
	if n := strings.Count(logs.String(), "certificate not reloaded"); n != 1 {
		t.Fatalf("%d failed reloads logged, want 1", n)
	}
	os.WriteFile(pwFile, []byte("n3w secret\n"), 0o600)
	s.Check()
	if cn() != "two.example.com" || !strings.Contains(logs.String(), "certificate reloaded") {
		t.Fatalf("after the new password: %s\n%s", cn(), logs.String())
	}
	if strings.Contains(logs.String(), "n3w") {
		t.Fatal("password in the log")
	}
}

// Names never leaves the names of a certificate blank: without subject
// alternative names, clients that check names refuse it, and it says so.
func TestInfoNames(t *testing.T) {
	for _, tt := range []struct {
		info Info
		want string
	}{
		{Info{SANs: []string{"mail.example.com", "192.0.2.1"}, CommonName: "mail.example.com"}, "mail.example.com, 192.0.2.1"},
		{Info{CommonName: "mail.example.com"}, `(none; only the subject's common name "mail.example.com", which clients that check names ignore: they will refuse this certificate; reissue it with mail.example.com as a DNS name)`},
		{Info{}, "(none: clients that check names will refuse this certificate; reissue it with this server's name as a DNS name)"},
	} {
		if got := tt.info.Names(); got != tt.want {
			t.Errorf("Names() = %q, want %q", got, tt.want)
		}
		if !strings.Contains(tt.info.String(), "names "+tt.want+",") {
			t.Errorf("String() = %q lacks the names", tt.info.String())
		}
	}
}

// clock is a test's time, moved by hand: Check runs on the test's
// goroutine, so it needs no lock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// While running, the certificate in use is watched for its end: a warning
// within ExpiryWarning, an error once it has expired, each at most once a
// day; a certificate reloaded is judged at once. No sleeping for days: the
// clock is the store's.
func TestExpiryWhileRunning(t *testing.T) {
	dir := testdir.New(t)
	path := filepath.Join(dir, "smtp.pfx")
	start := time.Now()
	notAfter := start.Add(40 * 24 * time.Hour)
	goPFX(t, path, start.Add(-time.Hour), notAfter, "one.example.com")
	var logs strings.Builder
	clk := &clock{t: start}
	s, err := NewStore(path, "pw", "", slog.New(slog.NewTextHandler(&logs, nil)), Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	s.CheckExpiry()
	s.Check()
	if logs.Len() != 0 {
		t.Fatalf("40 days left: %s", logs.String())
	}
	warnings := func() int { return strings.Count(logs.String(), "level=WARN") }
	errs := func() int { return strings.Count(logs.String(), "level=ERROR") }
	clk.t = notAfter.Add(-10*24*time.Hour + time.Minute)
	s.Check()
	if warnings() != 1 || !strings.Contains(logs.String(), "expires in 9 days, on "+notAfter.UTC().Format(time.DateOnly)) ||
		// As the text handler writes it: quoted, a Windows path's
		// backslashes doubled.
		!strings.Contains(logs.String(), "copy it over "+strings.Trim(strconv.Quote(path), `"`)+" (pfx_path)") {
		t.Fatalf("10 days left:\n%s", logs.String())
	}
	clk.t = clk.t.Add(23 * time.Hour)
	s.Check()
	if warnings() != 1 {
		t.Fatalf("warned again within a day:\n%s", logs.String())
	}
	clk.t = clk.t.Add(time.Hour)
	s.Check()
	if warnings() != 2 {
		t.Fatalf("not warned again after a day:\n%s", logs.String())
	}
	// Its last hour: said in hours, not "0 days".
	clk.t = notAfter.Add(-time.Hour)
	s.Check()
	if warnings() != 3 || !strings.Contains(logs.String(), "expires in less than 2 hours") {
		t.Fatalf("an hour left:\n%s", logs.String())
	}
	// Expired an hour after that warning: an error at once (a change of
	// state is not held back for a day), then daily; the certificate is
	// still served.
	clk.t = notAfter.Add(time.Minute)
	s.Check()
	want := "the TLS certificate in use expired on " + notAfter.UTC().Format(time.DateOnly)
	if errs() != 1 || !strings.Contains(logs.String(), want) {
		t.Fatalf("after expiry, want an error %q:\n%s", want, logs.String())
	}
	for range 10 {
		clk.t = clk.t.Add(time.Hour)
		s.Check()
	}
	if errs() != 1 {
		t.Fatalf("expiry logged more than once in 10 hours:\n%s", logs.String())
	}
	clk.t = clk.t.Add(14 * time.Hour)
	s.Check()
	if errs() != 2 {
		t.Fatalf("expiry not logged again the next day:\n%s", logs.String())
	}
	if c, _ := s.GetCertificate(nil); c.Leaf.Subject.CommonName != "one.example.com" {
		t.Fatal(c.Leaf.Subject.CommonName)
	}

	// A renewal valid 10 more days is reloaded, and warned of at once.
	logs.Reset()
	tmp := filepath.Join(dir, "renewed.tmp")
	goPFX(t, tmp, clk.t.Add(-time.Hour), clk.t.Add(10*24*time.Hour), "two.example.com")
	os.Rename(tmp, path)
	s.Check()
	if !strings.Contains(logs.String(), "certificate reloaded") || warnings() != 1 || !strings.Contains(logs.String(), "expires in 9 days") {
		t.Fatalf("reload of a certificate valid 10 days:\n%s", logs.String())
	}
}

// An expired certificate does not keep the store from starting: it is
// served, and CheckExpiry says when it expired and how to replace it.
func TestStoreStartsWithExpired(t *testing.T) {
	dir := testdir.New(t)
	path := filepath.Join(dir, "smtp.pfx")
	now := time.Now()
	goPFX(t, path, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "old.example.com")
	st := newStoreUnderTest(t, path, "", Options{})
	s, logs := st.Store, st.logs
	if c, _ := s.GetCertificate(nil); c == nil || c.Leaf.Subject.CommonName != "old.example.com" {
		t.Fatal("the expired certificate is not served")
	}
	s.CheckExpiry()
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "expired on "+now.Add(-24*time.Hour).UTC().Format(time.DateOnly)) {
		t.Fatalf("log:\n%s", logs.String())
	}
	if _, _, err := LoadPFX(path, "pw", now); !errors.Is(err, ErrValidity) {
		t.Fatalf("LoadPFX: %v, want ErrValidity", err)
	}
}

// A reloaded certificate that does not name the hostname is taken (most
// SMTP clients do not check names), with a warning naming both.
func TestReloadWarnsOfNames(t *testing.T) {
	dir := testdir.New(t)
	path := filepath.Join(dir, "smtp.pfx")
	now := time.Now()
	goPFX(t, path, now.Add(-time.Hour), now.Add(time.Hour), "mb.test")
	st := newStoreUnderTest(t, path, "", Options{Hostname: "mb.test"})
	s, logs := st.Store, st.logs
	if w := s.Info().NameWarning("MB.test"); w != "" {
		t.Fatalf("a certificate for mb.test: %s", w)
	}
	tmp := filepath.Join(dir, "renewed.tmp")
	goPFX(t, tmp, now.Add(-time.Hour), now.Add(time.Hour), "wrong.example")
	os.Rename(tmp, path)
	s.Check()
	if c, _ := s.GetCertificate(nil); c.Leaf.Subject.CommonName != "wrong.example" ||
		!strings.Contains(logs.String(), "level=WARN msg=\"the certificate's names, wrong.example, do not include hostname mb.test") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

// A deleted PFX is said once, and the certificate stays; a file caught
// half copied is said to be maybe still being copied, not to be exported
// again, and the complete file is taken at its next change.
func TestReloadDeletedAndHalfCopied(t *testing.T) {
	dir := testdir.New(t)
	path := filepath.Join(dir, "smtp.pfx")
	now := time.Now()
	goPFX(t, path, now.Add(-time.Hour), now.Add(time.Hour), "one.example.com")
	st := newStoreUnderTest(t, path, "", Options{})
	s, logs, cn := st.Store, st.logs, st.cn
	os.Remove(path)
	s.Check()
	s.Check()
	if n := strings.Count(logs.String(), "the PFX file cannot be read: the certificate loaded before stays in use"); n != 1 || cn() != "one.example.com" {
		t.Fatalf("deleted: %d warnings, serving %s\n%s", n, cn(), logs.String())
	}

	full := filepath.Join(dir, "renewed.pfx")
	goPFX(t, full, now.Add(-time.Hour), now.Add(2*time.Hour), "two.example.com")
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	os.WriteFile(path, data[:len(data)/2], 0o600) // a copy under way
	s.Check()
	if !strings.Contains(logs.String(), "it may still be being copied: it is tried again when it changes") ||
		strings.Contains(logs.String(), "export the certificate") || cn() != "one.example.com" {
		t.Fatalf("half copied: serving %s\n%s", cn(), logs.String())
	}
	os.WriteFile(path, data, 0o600) // the copy done
	s.Check()
	if cn() != "two.example.com" || !strings.Contains(logs.String(), "certificate reloaded") {
		t.Fatalf("copied: serving %s\n%s", cn(), logs.String())
	}

	// Shorter than a moment ago, though not just now: a new copy begun.
	logs.Reset()
	clk := &clock{t: now.Add(time.Hour)}
	s.now = clk.now
	os.WriteFile(path, data[:100], 0o600)
	s.Check()
	if !strings.Contains(logs.String(), "it may still be being copied") {
		t.Fatalf("shorter:\n%s", logs.String())
	}
}

// pfxParts is a PFX's outer structure (RFC 7292 section 4), enough to
// rebuild a file from the parts of others.
type pfxParts struct {
	Version  int
	AuthSafe struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
	}
}

// twoKeyPFX writes a PFX without a MAC (empty password) holding two
// certificates and their two keys: each in a part of its own (4 parts)
// or, as Windows lays a PFX out, the certificates in one part and the
// keys in another.
func twoKeyPFX(t *testing.T, path string, windowsLayout bool) {
	t.Helper()
	var safes [][]asn1.RawValue
	for _, cn := range []string{"one.example.com", "two.example.com"} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		cert, _ := x509.ParseCertificate(der)
		data, err := pkcs12.Passwordless.Encode(key, cert, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		var p pfxParts
		var inner []byte
		var cis []asn1.RawValue
		if _, err := asn1.Unmarshal(data, &p); err != nil {
			t.Fatal(err)
		}
		if _, err := asn1.Unmarshal(p.AuthSafe.Content.Bytes, &inner); err != nil {
			t.Fatal(err)
		}
		if _, err := asn1.Unmarshal(inner, &cis); err != nil {
			t.Fatal(err)
		}
		safes = append(safes, cis) // [certificate part, key part]
	}
	dataPart := func(content []byte) asn1.RawValue {
		var p pfxParts
		p.AuthSafe.ContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
		oct, _ := asn1.Marshal(content)
		p.AuthSafe.Content = asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: oct}
		b, _ := asn1.Marshal(p.AuthSafe)
		return asn1.RawValue{FullBytes: b}
	}
	bags := func(part asn1.RawValue) []asn1.RawValue {
		var ci struct {
			ContentType asn1.ObjectIdentifier
			Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
		}
		var oct []byte
		var out []asn1.RawValue
		asn1.Unmarshal(part.FullBytes, &ci)
		asn1.Unmarshal(ci.Content.Bytes, &oct)
		asn1.Unmarshal(oct, &out)
		return out
	}
	parts := append(append([]asn1.RawValue(nil), safes[0]...), safes[1]...)
	if windowsLayout {
		parts = nil
		for i := range 2 {
			seq, _ := asn1.Marshal(append(bags(safes[0][i]), bags(safes[1][i])...))
			parts = append(parts, dataPart(seq))
		}
	}
	seq, _ := asn1.Marshal(parts)
	var p pfxParts
	p.Version = 3
	p.AuthSafe.ContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oct, _ := asn1.Marshal(seq)
	p.AuthSafe.Content = asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: oct}
	out, err := asn1.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// go-pkcs12's errors for files that are PKCS#12 but not laid out as
// mailbridge reads them say what is wrong and how to export the file again,
// instead of the library's words.
func TestExplainLayoutErrors(t *testing.T) {
	dir := testdir.New(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mb.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	nomac, err := pkcs12.Passwordless.Encode(key, cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "nomac.pfx"), nomac, 0o600)
	twoKeyPFX(t, filepath.Join(dir, "twokeys.pfx"), false)
	twoKeyPFX(t, filepath.Join(dir, "twokeys-windows.pfx"), true)
	for _, tt := range []struct{ file, password, want string }{
		{"nomac.pfx", "pw", "the file has no integrity check (MAC)"},
		{"twokeys.pfx", "", "the file is laid out in more parts than one certificate with its private key and chain need (4 parts)"},
		{"twokeys-windows.pfx", "", "the file holds more than one private key"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			_, _, err := LoadPFX(filepath.Join(dir, tt.file), tt.password, time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "pkcs12:") ||
				!strings.Contains(err.Error(), `"Yes, export the private key"`) || !strings.Contains(err.Error(), `"Include all certificates in the certification path if possible"`) {
				t.Fatalf("got %v, want %q with how to export the file again", err, tt.want)
			}
		})
	}
}

// storeUnderTest is a Store on path (password "pw", or read from pwFile)
// whose log is in logs.
type storeUnderTest struct {
	*Store
	logs *strings.Builder
}

func newStoreUnderTest(t *testing.T, path, pwFile string, opt Options) storeUnderTest {
	t.Helper()
	logs := &strings.Builder{}
	s, err := NewStore(path, "pw", pwFile, slog.New(slog.NewTextHandler(logs, nil)), opt)
	if err != nil {
		t.Fatal(err)
	}
	return storeUnderTest{s, logs}
}

// cn is the common name of the certificate served.
func (s storeUnderTest) cn() string {
	c, _ := s.GetCertificate(nil)
	return c.Leaf.Subject.CommonName
}
