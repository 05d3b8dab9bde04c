// Package testpki makes the certificates tests need: a CA generated for
// each test, valid for an hour either side of now, and server certificates
// it signs, as Go values and as PEM files for servers outside Go.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// PKI is a CA and the key it signs with.
type PKI struct {
	CA   *x509.Certificate
	Pool *x509.CertPool // holds CA alone: a client's roots
	key  *ecdsa.PrivateKey
}

// New makes a CA whose common name is cn.
func New(t testing.TB, cn string) *PKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"mailbridge tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &PKI{CA: ca, Pool: pool, key: key}
}

// SelfSigned returns a server certificate for name signed by its own key,
// as a smart host's administrator makes one, with no CA.
func SelfSigned(t testing.TB, name string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// CAPEM returns the CA certificate in PEM, as a ca_file holds it.
func (p *PKI) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CA.Raw})
}

// Server returns a server certificate for names (DNS names or IP
// addresses; the first is the common name), with the CA in its chain.
func (p *PKI) Server(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	return p.server(t, names[0], names)
}

// CommonNameOnly returns a certificate naming cn in its subject alone,
// without subject alternative names, as old appliances' certificates do.
func (p *PKI) CommonNameOnly(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	return p.server(t, cn, nil)
}

// server returns a certificate for cn (the subject's common name) and
// names (its subject alternative names), with the CA in its chain.
func (p *PKI) server(t testing.TB, cn string, names []string) tls.Certificate {
	t.Helper()
	return p.serverValid(t, cn, names, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// ServerRSA is Server with an RSA key, as most certificates exported from
// Windows have: needed for the TLS_RSA and ECDHE_RSA cipher suites.
func (p *PKI) ServerRSA(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return p.serverKey(t, names[0], names, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), key)
}

// serverValid is server for a certificate valid from notBefore to notAfter.
func (p *PKI) serverValid(t testing.TB, cn string, names []string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return p.serverKey(t, cn, names, notBefore, notAfter, key)
}

// serverKey is serverValid with key.
func (p *PKI) serverKey(t testing.TB, cn string, names []string, notBefore, notAfter time.Time, key crypto.Signer) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment // RSA key exchange
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, key.Public(), p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der, p.CA.Raw}, PrivateKey: key}
}

// Files writes the CA (ca.pem), and a server certificate for names with
// its chain (cert.pem) and its key (key.pem), into dir.
func (p *PKI) Files(t testing.TB, dir string, names ...string) (caFile, certFile, keyFile string) {
	t.Helper()
	c := p.Server(t, names...)
	keyDER, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{caFile, p.CAPEM(), 0o644},
		{certFile, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), p.CAPEM()...), 0o644},
		{keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600},
	} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// PFX writes a PFX file (AES, as current Windows exports it) holding a
// server certificate for names, its key and the CA, protected by password.
func (p *PKI) PFX(t testing.TB, path, password string, names ...string) {
	t.Helper()
	p.writePFX(t, path, password, p.Server(t, names...))
}

// PFXValid is PFX for a certificate valid from notBefore to notAfter
// only: expired, or not valid yet, or expiring soon.
func (p *PKI) PFXValid(t testing.TB, path, password string, notBefore, notAfter time.Time, names ...string) {
	t.Helper()
	p.writePFX(t, path, password, p.serverValid(t, names[0], names, notBefore, notAfter))
}

// PFXCommonName is PFX for a certificate that names its server in the
// subject's common name alone, without subject alternative names, as old
// internal CAs issued them (cn "" names none at all).
func (p *PKI) PFXCommonName(t testing.TB, path, password, cn string) {
	t.Helper()
	p.writePFX(t, path, password, p.server(t, cn, nil))
}

func (p *PKI) writePFX(t testing.TB, path, password string, c tls.Certificate) {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	data, err := pkcs12.Modern.Encode(c.PrivateKey, leaf, []*x509.Certificate{p.CA}, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
