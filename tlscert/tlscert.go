// Package tlscert loads the inbound TLS certificate from a password-protected
// PFX (PKCS#12) file, as IIS's "Use SSL for Inbound" took it, and keeps it
// current.
//
// PFX files as Windows exports them today (AES-256/PBES2) and legacy ones
// (3DES/RC2) are read with software.sslmate.com/src/go-pkcs12, with their
// chain and RSA or EC keys. Every failure is one line naming the file and the
// cause: a wrong password, a file that is not PKCS#12, a certificate without
// its private key, a key that does not match, an expired or not yet valid
// certificate. The password never appears in any message.
//
// A Store serves the certificate to crypto/tls and reloads it when the file
// changes (renewals), keeping the old one when the new one does not load.
//
// The package also holds what the server and the client share of
// Schannel's TLS settings: the RSA key exchange suites (suites.go).
package tlscert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Info describes a loaded certificate for `mailbridge check` and the log.
type Info struct {
	Subject    string
	CommonName string // the subject's common name
	Issuer     string
	SANs       []string // subject alternative names: DNS names, IP addresses
	NotBefore  time.Time
	NotAfter   time.Time
	Chain      int // CA certificates in the file besides the leaf
}

func (i Info) String() string {
	return fmt.Sprintf("subject %q, issuer %q, names %s, valid %s to %s",
		i.Subject, i.Issuer, i.Names(), i.NotBefore.UTC().Format(time.DateOnly), i.NotAfter.UTC().Format(time.DateOnly))
}

// Names lists the names the certificate is valid for, for an
// administrator. Clients that check names look at the subject alternative
// names alone (RFC 9525 drops the common name that RFC 6125 still allowed;
// Go since 1.15 and browsers ignore it), so a certificate without any says
// so, with the common name that old internal CAs wrote instead.
func (i Info) Names() string {
	switch {
	case len(i.SANs) > 0:
		return strings.Join(i.SANs, ", ")
	case i.CommonName != "":
		return fmt.Sprintf("(none; only the subject's common name %q, which clients that check names ignore: they will refuse this certificate; reissue it with %s as a DNS name)", i.CommonName, i.CommonName)
	}
	return "(none: clients that check names will refuse this certificate; reissue it with this server's name as a DNS name)"
}

// NameWarning returns "" when the certificate is valid for host (the
// [inbound] hostname, which the greeting announces and clients connect
// to), else a warning naming the certificate's names and host. Clients
// that check names refuse such a certificate; those that do not (most
// SMTP clients, opportunistic TLS) take it, so it is a warning, not a
// reason to refuse the file.
func (i Info) NameWarning(host string) string {
	c := &x509.Certificate{}
	for _, n := range i.SANs {
		if ip := net.ParseIP(n); ip != nil {
			c.IPAddresses = append(c.IPAddresses, ip)
		} else {
			c.DNSNames = append(c.DNSNames, n)
		}
	}
	if host == "" || c.VerifyHostname(host) == nil {
		return ""
	}
	return fmt.Sprintf("the certificate's names, %s, do not include hostname %s: clients that check names refuse it; use a certificate issued for %s, or set hostname to one of its names", i.Names(), host, host)
}

// LoadPFX reads a PFX file and returns a certificate ready for crypto/tls,
// or an error naming path and the cause.
func LoadPFX(path, password string, now time.Time) (*tls.Certificate, Info, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Info{}, fmt.Errorf("PFX file %s cannot be read: %w", path, err)
	}
	cert, info, err := ParsePFX(data, password, now)
	if err != nil {
		return nil, info, fmt.Errorf("PFX file %s: %w", path, err)
	}
	return cert, info, nil
}

// ParsePFX is LoadPFX for the file's content: its error states the cause
// alone, for a caller that names the file its own way (config names the
// key and line of pfx_path). A certificate out of its validity at now is
// an error matching ErrValidity, returned with the Info.
func ParsePFX(data []byte, password string, now time.Time) (*tls.Certificate, Info, error) {
	cert, info, err := decode(data, password)
	if err != nil {
		return nil, info, err
	}
	if err := info.Validity(now); err != nil {
		return nil, info, err
	}
	return cert, info, nil
}

// decode is ParsePFX without the validity check.
func decode(data []byte, password string) (*tls.Certificate, Info, error) {
	key, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, Info{}, explain(err)
	}
	info := Info{
		Subject: leaf.Subject.String(), CommonName: leaf.Subject.CommonName, Issuer: leaf.Issuer.String(),
		SANs: names(leaf), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Chain: len(chain),
	}
	signer, ok := key.(crypto.Signer)
	if !ok || !samePublicKey(signer.Public(), leaf.PublicKey) {
		return nil, info, fmt.Errorf("the private key does not belong to the certificate %q", info.Subject)
	}
	cert := &tls.Certificate{PrivateKey: key, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, info, nil
}

// ErrValidity is matched by errors.Is when a certificate has expired or is
// not valid yet. Unlike the other failures it does not keep mailbridge from
// starting: see NewStore.
var ErrValidity = errors.New("certificate out of its validity period")

// ExpiryWarning is how long before its end a certificate is said to expire
// soon, by `mailbridge check` and in the log while running.
const ExpiryWarning = 30 * 24 * time.Hour

// Validity returns nil when the certificate is valid at now, else an error
// matching ErrValidity that says when it expired (or from when it is
// valid).
func (i Info) Validity(now time.Time) error {
	switch {
	case now.After(i.NotAfter):
		return &validityError{fmt.Sprintf("the certificate %q expired on %s; install the renewed certificate", i.Subject, i.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(i.NotBefore):
		return &validityError{fmt.Sprintf("the certificate %q is not valid before %s; check the machine's clock", i.Subject, i.NotBefore.UTC().Format(time.RFC3339))}
	}
	return nil
}

type validityError struct{ msg string }

func (e *validityError) Error() string        { return e.msg }
func (e *validityError) Is(target error) bool { return target == ErrValidity }

// ErrWrongPassword is matched by errors.Is when a PFX file does not open
// with the password given (or without one, when it needs one): a caller
// that knows where the password came from names that place.
var ErrWrongPassword = errors.New("wrong password")

// explain turns go-pkcs12's errors into advice for an administrator.
func explain(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return fmt.Errorf("%w (check pfx_password, pfx_password_file or pfx_password_env)", ErrWrongPassword)
	case strings.Contains(msg, "private key missing"):
		return errors.New("the file holds no private key; export the certificate again with \"Yes, export the private key\"")
	case strings.Contains(msg, "certificate missing"):
		return errors.New("the file holds no certificate")
	case strings.Contains(msg, "no MAC in data"):
		return errors.New("the file has no integrity check (MAC), which a PFX exported from Windows always has (openssl pkcs12 -nomac leaves it out); " + exportAgain)
	case strings.Contains(msg, "expected exactly one key bag"):
		return errors.New("the file holds more than one private key; a PFX for mailbridge holds one certificate with its private key, and its chain; " + exportAgain)
	case strings.Contains(msg, "items in the authenticated safe"):
		n := ""
		if i := strings.LastIndex(msg, "this file has "); i >= 0 {
			n = " (" + msg[i+len("this file has "):] + " parts)"
		}
		return errors.New("the file is laid out in more parts than one certificate with its private key and chain need" + n + ", most often with more than one private key; " + exportAgain)
	case strings.Contains(msg, "asn1") || strings.Contains(msg, "PFX PDU") || strings.Contains(msg, "unknown") && strings.Contains(msg, "version"):
		return errors.New("not a PKCS#12 (.pfx or .p12) file; export the certificate from Windows as a .pfx with its private key")
	}
	return errors.New(msg)
}

// exportAgain says how to export a PFX that mailbridge reads: the
// certificate with its key and chain, from the Certificate Export Wizard
// (certlm.msc), in its own words.
const exportAgain = `export the certificate again from Windows (certlm.msc, the certificate, All Tasks > Export): "Yes, export the private key", Personal Information Exchange (.PFX) with "Include all certificates in the certification path if possible", and a password; or with openssl: openssl pkcs12 -export -inkey KEY -in CERT -certfile CHAIN`

func names(c *x509.Certificate) []string {
	out := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

func samePublicKey(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch k := a.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k.(equaler).Equal(b)
	}
	return false
}

// Store holds the current certificate and reloads it when the file changes.
type Store struct {
	path, password string
	passwordFile   string // read again at each check, when set
	log            *slog.Logger
	now            func() time.Time
	hostname       string

	cur  atomic.Pointer[tls.Certificate]
	info atomic.Pointer[Info]

	mu         sync.Mutex
	last       []byte // the file's content at the last attempt
	lastPW     string // and the password tried with it
	unreadable bool   // the file could not be read at the last check (logged)
	suspect    error  // the last attempt's failure, not logged as such: the file may have been half copied
	// expiryLogged is when the validity of the certificate in use was
	// last logged (expiring soon, expired, not valid yet); zero: not yet,
	// or a new certificate since.
	expiryLogged time.Time
	expiryState  string // what was logged then: "expiring", "expired" ...
}

// Options are a Store's optional settings; the zero value is usable.
type Options struct {
	// Now is the clock (time.Now when nil): tests of expiry run in
	// minutes what takes days.
	Now func() time.Time
	// Hostname, when set, is the name a reloaded certificate should hold
	// (see Info.NameWarning).
	Hostname string
}

// NewStore loads path; the error is LoadPFX's, except that a certificate
// out of its validity (expired, not valid yet) is loaded and served all
// the same, with an error in the log (see CheckExpiry): an expired
// certificate fails TLS for the clients that check it, but refusing to
// start would also stop plain-text reception on the port and the relaying
// of Pickup, all of the mail, until someone replaces the file. When
// passwordFile is not "", the password is read from it again at every
// check: Windows asks for a password at every export, so a renewed PFX
// often comes with a new one, written into the same password file.
func NewStore(path, password, passwordFile string, log *slog.Logger, opts Options) (*Store, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Store{path: path, password: password, passwordFile: passwordFile, log: log, now: now, hostname: opts.Hostname, lastPW: password}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("PFX file %s cannot be read: %w", path, err)
	}
	cert, info, err := decode(data, password)
	if err != nil {
		return nil, fmt.Errorf("PFX file %s: %w", path, err)
	}
	s.cur.Store(cert)
	s.info.Store(&info)
	s.last = data
	return s, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (s *Store) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load(), nil
}

// Info describes the certificate in use.
func (s *Store) Info() Info { return *s.info.Load() }

// Check reloads the file if its content, or the password in the password
// file, changed since the last attempt (a PFX is a few KB: comparing
// content catches every change, where times and sizes can miss a quick
// rewrite). A file that does not load is logged and the old certificate
// stays in use, until the file or the password changes again. Then it
// logs the validity of the certificate in use, as CheckExpiry.
func (s *Store) Check() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reload()
	s.checkExpiry()
}

func (s *Store) reload() {
	data, err := os.ReadFile(s.path)
	if err != nil {
		// Deleted, or being replaced by a copy that holds it open: said
		// once, until the file can be read again.
		if !s.unreadable {
			s.unreadable = true
			s.log.Warn("the PFX file cannot be read: the certificate loaded before stays in use; copy the renewed PFX there (it is picked up within seconds)", "file", s.path, "error", err)
		}
		return
	}
	s.unreadable = false
	pw := s.password
	if s.passwordFile != "" {
		b, err := os.ReadFile(s.passwordFile)
		if err != nil {
			return // being rewritten, say: the next check reads it
		}
		pw = PasswordFromFile(b) // as config reads it
	}
	if bytes.Equal(data, s.last) && pw == s.lastPW {
		if s.suspect != nil {
			// Unchanged since it looked half copied: it is what it is.
			s.log.Error("certificate not reloaded, the previous one stays in use", "error", s.suspect)
			s.suspect = nil
		}
		return
	}
	shorter := len(data) < len(s.last)
	s.last, s.lastPW, s.suspect = data, pw, nil
	cert, info, err := ParsePFX(data, pw, s.now())
	if err != nil {
		err = fmt.Errorf("PFX file %s: %w", s.path, err)
		if info.NotAfter.IsZero() && !errors.Is(err, ErrWrongPassword) && (shorter || s.recent()) {
			// Not decoded, and changed a moment ago or shrunk: most
			// likely a copy under way (a renewal copied over a share),
			// not a file to export again. The next change is tried; if
			// none comes, the next check says what is wrong with it.
			s.suspect = err
			s.log.Warn("the PFX file does not load yet; it may still be being copied: it is tried again when it changes, and the previous certificate stays in use meanwhile", "file", s.path)
			return
		}
		s.log.Error("certificate not reloaded, the previous one stays in use", "error", err)
		return
	}
	s.cur.Store(cert)
	s.info.Store(&info)
	s.expiryLogged = time.Time{} // the new certificate's validity is logged now
	s.log.Info("certificate reloaded", "file", s.path, "certificate", info.String())
	if w := info.NameWarning(s.hostname); w != "" {
		s.log.Warn(w, "file", s.path)
	}
}

// recentCopy is how long after its last change a file that does not decode
// is taken for one still being copied.
const recentCopy = 5 * time.Second

// recent reports whether the file changed within recentCopy.
func (s *Store) recent() bool {
	fi, err := os.Stat(s.path)
	return err == nil && s.now().Sub(fi.ModTime()) < recentCopy
}

// CheckExpiry logs the validity of the certificate in use: an error when
// it has expired or is not valid yet, a warning when it expires within
// ExpiryWarning; each at most once a day, and at once for a certificate
// just loaded or reloaded. Check calls it; mailbridge calls it at start.
func (s *Store) CheckExpiry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkExpiry()
}

func (s *Store) checkExpiry() {
	now := s.now()
	info := s.info.Load()
	state := "valid"
	switch {
	case now.After(info.NotAfter):
		state = "expired"
	case now.Before(info.NotBefore):
		state = "not yet valid"
	case info.NotAfter.Sub(now) < ExpiryWarning:
		state = "expiring"
	}
	// Daily, but at once when the state changes: a certificate warned of
	// yesterday that expires today is an error today, not tomorrow.
	if state == s.expiryState && !s.expiryLogged.IsZero() && now.Sub(s.expiryLogged) < 24*time.Hour {
		return
	}
	s.expiryState = state
	fix := fmt.Sprintf("export the renewed certificate with its private key as a PFX and copy it over %s (pfx_path): it is picked up within 10 seconds, without a restart", s.path)
	switch {
	case now.After(info.NotAfter):
		s.log.Error(fmt.Sprintf("the TLS certificate in use expired on %s: it is still served, so that mail keeps flowing, but clients that check certificates refuse it; %s", info.NotAfter.UTC().Format(time.DateOnly), fix),
			"certificate", info.String())
	case now.Before(info.NotBefore):
		s.log.Error(fmt.Sprintf("the TLS certificate in use is not valid before %s: it is served all the same, but clients that check certificates refuse it; check this machine's clock, or %s", info.NotBefore.UTC().Format(time.RFC3339), fix),
			"certificate", info.String())
	case info.NotAfter.Sub(now) < ExpiryWarning:
		s.log.Warn(fmt.Sprintf("the TLS certificate expires in %s, on %s: renew it; %s", TimeLeft(info.NotAfter.Sub(now)), info.NotAfter.UTC().Format(time.DateOnly), fix),
			"certificate", info.String())
	default:
		return
	}
	s.expiryLogged = now
}

// Watch calls Check every interval until stop is closed. Polling works on
// every file system, shares included, and a certificate changes rarely.
func (s *Store) Watch(stop <-chan struct{}, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.Check()
		}
	}
}

// TimeLeft says how long until a certificate expires: days, or hours in
// its last day ("0 days" said nothing).
func TimeLeft(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= 24*time.Hour:
		return "1 day"
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return "less than 2 hours"
}
