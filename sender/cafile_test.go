package sender

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// caCert makes a self-signed certificate for cn, with dns as its
// subjectAltNames, valid from nb to na, in PEM.
func caCert(t *testing.T, cn string, dns []string, isCA bool, nb, na time.Time) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: nb, NotAfter: na, BasicConstraintsValid: true, IsCA: isCA,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCAFileWarnings(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	valid := func(cn string, dns []string, isCA bool) []byte {
		return caCert(t, cn, dns, isCA, now.Add(-time.Hour), now.Add(time.Hour))
	}
	for _, tc := range []struct {
		name string
		data []byte
		host string
		want []string // each a warning's text; none: no warning
	}{
		{"a CA", valid("Corp Root CA", nil, true), "smtp.corp.test", nil},
		{"the host's own, with its name", valid("smtp.corp.test", []string{"smtp.corp.test"}, true), "smtp.corp.test", nil},
		// openssl req -x509 without -addext makes this, with CA:TRUE.
		{"the host's own, CN alone", valid("SMTP.corp.test", nil, true), "smtp.corp.test.", []string{`[outbound] ca_file's certificate "SMTP.corp.test" names the smart host smtp.corp.test in its subject's CN alone`, "subjectAltName (DNS:smtp.corp.test)"}},
		{"a leaf, CN alone", valid("smtp.corp.test", nil, false), "smtp.corp.test", []string{"in its subject's CN alone"}},
		{"another host's, CN alone", valid("other.corp.test", nil, true), "smtp.corp.test", nil},
		{"expired", caCert(t, "Corp Root CA", nil, true, now.Add(-48*time.Hour), now.Add(-24*time.Hour)), "smtp.corp.test", []string{`certificate "Corp Root CA" expired on 2026-11-30 12:00 UTC`}},
		{"not yet valid", caCert(t, "Corp Root CA", nil, true, now.Add(24*time.Hour), now.Add(48*time.Hour)), "smtp.corp.test", []string{"is not valid until 2026-12-02 12:00 UTC: check this machine's clock"}},
		{"the second of two", append(valid("Corp Root CA", nil, true), valid("smtp.corp.test", nil, true)...), "smtp.corp.test", []string{"in its subject's CN alone"}},
		{"with a byte-order mark", append([]byte{0xEF, 0xBB, 0xBF}, valid("smtp.corp.test", nil, true)...), "smtp.corp.test", []string{"in its subject's CN alone"}},
		{"DER", func() []byte { b, _ := pem.Decode(valid("smtp.corp.test", nil, true)); return b.Bytes }(), "smtp.corp.test", []string{"in its subject's CN alone"}},
		{"not a certificate", []byte("hello"), "smtp.corp.test", nil},
	} {
		got := CAFileWarnings(tc.data, tc.host, now)
		if len(tc.want) == 0 {
			if len(got) != 0 {
				t.Errorf("%s: %q, want no warning", tc.name, got)
			}
			continue
		}
		if len(got) != 1 {
			t.Errorf("%s: %d warnings, want 1: %q", tc.name, len(got), got)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(got[0], w) {
				t.Errorf("%s: %q lacks %q", tc.name, got[0], w)
			}
		}
	}
}
