package sender

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// CAFileWarnings looks at the certificates of [outbound] ca_file (data:
// PEM, or one DER certificate) for what makes every delivery fail its
// certificate check while the file itself is fine, for `check` to say
// before the first message does (found from outside: check said ok for a
// ca_file holding the smart host's own certificate with its name in the
// subject's CN alone, and every message was deferred). name is the name
// the certificate is checked against: server_name, or server.
//
//   - A certificate without a subjectAltName whose CN is name: the smart
//     host's own, which Go (as current Windows and browsers) no longer
//     accepts for that name (RFC 6125 section 6.4.4). A CA's CN that
//     happens to be a host name is not one a smart host would be named.
//   - A certificate that has expired, or is not valid yet.
func CAFileWarnings(data []byte, name string, now time.Time) []string {
	certs := caFileCerts(data)
	name = strings.TrimSuffix(name, ".")
	var warns []string
	for _, c := range certs {
		what := fmt.Sprintf("[outbound] ca_file's certificate %q", subjectName(c))
		if len(c.DNSNames) == 0 && len(c.IPAddresses) == 0 && name != "" && strings.EqualFold(strings.TrimSuffix(c.Subject.CommonName, "."), name) {
			warns = append(warns, fmt.Sprintf("%s names the smart host %s in its subject's CN alone, which is no longer accepted (RFC 6125 section 6.4.4: a subjectAltName is required, as by current Windows and browsers): every message would be deferred; the smart host's administrator must issue it again with a subjectAltName (DNS:%s)", what, name, name))
		}
		switch {
		case now.After(c.NotAfter):
			warns = append(warns, fmt.Sprintf("%s expired on %s: the smart host's certificate is refused if it is this one or signed by it; set ca_file to the current one", what, c.NotAfter.UTC().Format("2006-01-02 15:04 MST")))
		case now.Before(c.NotBefore):
			warns = append(warns, fmt.Sprintf("%s is not valid until %s: check this machine's clock", what, c.NotBefore.UTC().Format("2006-01-02 15:04 MST")))
		}
	}
	return warns
}

// caFileCerts returns the certificates of a ca_file as config reads it:
// PEM blocks (after a UTF-8 byte-order mark, as PowerShell 5.1 writes
// one), or else one DER certificate.
func caFileCerts(data []byte) []*x509.Certificate {
	data = bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	var certs []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			certs = append(certs, c)
		}
	}
	if len(certs) == 0 {
		if c, err := x509.ParseCertificate(data); err == nil {
			certs = append(certs, c)
		}
	}
	return certs
}

// subjectName is a certificate's subject as an administrator finds it in
// the Windows certificate tool: its CN, or the whole subject without one.
func subjectName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}
