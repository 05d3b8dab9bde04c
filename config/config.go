// Package config loads mailbridge's one TOML configuration file.
//
// Load applies every default, validates every key, reads the files keys
// name (password files, ca_file, and the PFX file when inbound TLS is on)
// and returns either a complete *Config or an Errors value listing every
// problem at once, each naming the file, the line, the key and the value.
// Without a file, Load("") checks the built-in defaults the same way, and
// names a problem's source "built-in default": the default hostname is the
// machine's name, which need not be a valid host name.
// Defaults live in Default and nowhere else. Relative paths in a file are
// resolved against the folder of that file, so a service started from
// System32 finds the same folders as an administrator testing from a
// shell.
//
// Key names follow the IIS SMTP administrator's dialog: Inbound Port, Outbound
// Server, Outbound Port, the mail root folders (Pickup, Drop, Queue, Badmail,
// SortTemp) and IIS's retry schedule.
package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Config is the effective configuration. Every field holds a typed, validated
// value; nothing downstream parses strings again.
type Config struct {
	// Hostname is the FQDN used in the greeting, EHLO and Received headers.
	// It is ASCII: a name written in Unicode is held in its A-label
	// ("xn--") form, as are every other host and domain name here. It
	// need not be fully qualified (IsFQDN), as in IIS.
	Hostname string
	// HostnameFromMachine is true when Hostname is the machine's name, the
	// default, because no file sets hostname: a name nobody chose, which
	// check and the start log treat more gently than a name written.
	HostnameFromMachine bool

	Compat   Compat
	Mailroot Mailroot
	Inbound  Inbound
	Outbound Outbound
	Pickup   Pickup
	Log      Log

	// File is the configuration file this was loaded from ("" for the
	// built-in defaults).
	File string

	secrets secretRefs
	lines   map[string]int // dotted key -> its line in File, for FolderProblem
	// folders are the [mailroot] keys' values as the file wrote them
	// ("x/q", not the absolute path it became), for FolderProblem to
	// quote: found from outside, a Queue written "x/q" was quoted as
	// "/srv/mb/x/q", which the file does not hold.
	folders map[string]any
}

// OutboundOnInboundPort reports whether [outbound] server is set with
// the port of one of this mailbridge's inbound listeners (port or
// tls_port): then it must not be this machine.
func (c *Config) OutboundOnInboundPort() bool {
	o, in := c.Outbound, c.Inbound
	return o.Server != "" && (o.Port == in.Port || in.TLSPort != 0 && o.Port == in.TLSPort)
}

// InlineSecrets lists the keys whose secret is written in the file itself
// (outbound.password, inbound.pfx_password), for the warning that the
// file can be read by every account.
func (c *Config) InlineSecrets() []string {
	var keys []string
	for _, k := range []string{"outbound.password", "inbound.pfx_password"} {
		if c.lines[k] > 0 {
			keys = append(keys, k)
		}
	}
	return keys
}

// secretRefs are where secrets come from, kept only while loading.
type secretRefs struct {
	pfxFile, pfxEnv           string
	passwordFile, passwordEnv string
}

// Compat holds the product identity written where IIS wrote its own.
type Compat struct {
	// Product is the token in "with Microsoft SMTPSVC(version)" of Received
	// headers; some Drop consumers match on it.
	Product string
	// Version is the version in Received headers and the greeting.
	Version string
}

// Mailroot holds the five IIS folders. Root gives the IIS SMTP Local layout;
// each folder may also be set on its own (IIS SMTP with Custom Folders).
type Mailroot struct {
	Root     string
	Pickup   string
	Drop     string
	Queue    string
	Badmail  string
	SortTemp string
}

// Inbound configures the SMTP listener.
type Inbound struct {
	Bind              string
	Port              int
	MaxAttachmentSize int64
	MaxMessageSize    int64
	MaxRecipients     int
	MaxConnections    int
	// MaxConnectionsPerIP bounds the sessions of one client address;
	// half of MaxConnections when not set.
	MaxConnectionsPerIP int
	CommandTimeout      time.Duration
	DataTimeout         time.Duration
	ShutdownTimeout     time.Duration
	// BareLFEnd also ends a message at a line of a lone dot with a bare
	// LF before or after it, for clients that end every line with LF
	// alone (see listener.Config.BareLFEnd). Off by default.
	BareLFEnd bool

	// TLS is "none", "starttls" (offered on the plain port) or "implicit"
	// (IIS's "Use SSL for Inbound": TLS from the first byte on Port).
	TLS string
	// PFXPath and PFXPassword name the certificate; the password is
	// resolved from pfx_password, pfx_password_file or pfx_password_env.
	PFXPath     string
	PFXPassword string
	// PFXPasswordFile is pfx_password_file (absolute), "" when the
	// password is given otherwise: a renewed certificate may come with a
	// new password there.
	PFXPasswordFile string
	// TLSPort, when not 0, is a second listener with implicit TLS.
	TLSPort       int
	MinTLSVersion uint16
	// RSAKeyExchange accepts TLS 1.2 clients that offer only RSA key
	// exchange suites (TLS_RSA_WITH_AES_*: older printers and scanners),
	// as Windows' Schannel, and so IIS, did; Go leaves them out by default
	// (no forward secrecy). Clients that offer ECDHE always get it.
	RSAKeyExchange bool

	// LocalDomains (local and alias domains) get their mail in Drop; empty
	// means every domain (the product default). RelayFrom may relay mail
	// for other domains through the smart host; with Intercept (IIS's Email
	// Interceptor) that mail goes to Drop first instead. AllowFrom (empty:
	// everyone) and DenyFrom decide who may connect.
	LocalDomains []string
	RelayFrom    []netip.Prefix
	Intercept    bool
	AllowFrom    []netip.Prefix
	DenyFrom     []netip.Prefix
}

// TLSEnabled reports whether a certificate is needed.
func (in Inbound) TLSEnabled() bool { return in.TLS != "none" || in.TLSPort != 0 }

// TLSAddr is the listen address of the implicit-TLS listener.
func (c *Config) TLSAddr() string { return joinHostPort(c.Inbound.Bind, c.Inbound.TLSPort) }

// Outbound configures relaying through the Outbound Server (smart host).
type Outbound struct {
	Server                   string
	Port                     int
	Retry                    []time.Duration
	Expiration               time.Duration
	DelayNotification        time.Duration
	MaxRecipientsPerMessage  int
	MaxMessagesPerConnection int
	Connections              int
	ConnectTimeout           time.Duration
	CommandTimeout           time.Duration

	// TLS is "none", "opportunistic" (STARTTLS when offered), "starttls"
	// (required) or "implicit" (IIS's "Use SSL for Outbound": TLS from the
	// first byte, port 465).
	TLS               string
	VerifyCertificate bool
	// RSAKeyExchange also offers the smart host the TLS 1.2 RSA key
	// exchange suites, as Windows' Schannel, and so IIS, did: older mail
	// servers and appliances accept nothing else.
	RSAKeyExchange bool
	// ServerName is the name verified in the smart host's certificate;
	// "" means Server.
	ServerName string
	// CAFile holds extra trusted CA certificates (PEM); CAs is the system's
	// pool plus those, nil when CAFile is "".
	CAFile string
	CAs    *x509.CertPool
	// Username and Password authenticate to the smart host (AUTH LOGIN or
	// PLAIN); the password comes from password, password_file or
	// password_env.
	Username string
	Password string
}

// DelayNoticeNeverSent reports whether delay_notification is set (not
// "0s", no notice) but not shorter than expiration: a message still
// undelivered then goes to Badmail, with its non-delivery report, before
// its delay notice is due, so none is ever sent (check warns). IIS's
// defaults are 12 hours and 48 hours.
func (o Outbound) DelayNoticeNeverSent() bool {
	return o.DelayNotification > 0 && o.DelayNotification >= o.Expiration
}

// ClearTextAuth reports whether AUTH would be sent without TLS, which the
// administrator chose with tls = "none" and a password (check warns).
func (o Outbound) ClearTextAuth() bool {
	// Without a server nothing is sent, and there is nothing to warn of.
	return o.Server != "" && o.TLS == "none" && o.Username != ""
}

// Pickup configures the Pickup folder watcher.
type Pickup struct {
	DotStuffed    bool
	Rescan        time.Duration
	StripBcc      bool
	DefaultDomain string
	QuietPeriod   time.Duration
	// Ignore lists file name patterns of files never taken from Pickup
	// (see DefaultIgnore); empty takes every file, as IIS did.
	Ignore []string
}

// DefaultIgnore are the names copy tools give a file while they write it,
// before they rename it: rsync's ".NAME.XXXXXX" (and other hidden files:
// editors' swap files, the ".DS_Store" and "._NAME" files a Mac leaves on
// a share), "NAME.part", and WinSCP's "NAME.filepart". IIS took every file,
// these too, and sent a half-written file whenever it caught one before
// its writer was done. "NAME.tmp" is not among them: applications written
// for IIS give finished mail that name (classic ASP's
// FileSystemObject.GetTempName() makes "radXXXXX.tmp"), and their mail
// must keep flowing unchanged. Explorer's "desktop.ini" and "Thumbs.db",
// which appear in any folder an administrator customises or browses with
// thumbnails, are no mail either (IIS sent them to Badmail).
var DefaultIgnore = []string{".*", "*.part", "*.filepart", "desktop.ini", "Thumbs.db"}

// Log configures the structured log.
type Log struct {
	Level string
	// File is the log file; "" logs to standard error, except under the
	// Windows service manager, where the log goes to DefaultServiceLogFile.
	File string
	// MaxSize is the size at which File is rotated: it is renamed File.1
	// (File.1 becomes File.2, and so on) and a new File is started.
	MaxSize int64
	// MaxFiles is how many rotated files are kept besides File.
	MaxFiles int
	// W3CDir, when set, receives IIS-format SMTP logs (exYYMMDD.log, UTC),
	// as IIS wrote them under LogFiles\SMTPSVC1.
	W3CDir string
	// W3CMaxSize bounds a day's W3C file: lines past it are not written.
	W3CMaxSize int64
}

// Addr is the listen address of the inbound listener.
func (c *Config) Addr() string {
	return joinHostPort(c.Inbound.Bind, c.Inbound.Port)
}

// Default returns the built-in configuration: the IIS defaults where IIS had
// one, the product brief's limits (20 MB attachments) where it overrides them.
// It is not checked, and keys derived from others (pickup.default_domain)
// are left unset: Load("") gives the checked, complete defaults.
func Default() *Config { return defaults(machineName()) }

// defaults is Default on a machine named machine.
func defaults(machine string) *Config {
	root := defaultMailroot()
	c := &Config{
		Hostname:            defaultHostname(machine),
		HostnameFromMachine: true,
		Compat: Compat{
			Product: "Microsoft SMTPSVC",
			Version: "10.0.17763.1697",
		},
		Mailroot: Mailroot{Root: root},
		Inbound: Inbound{
			Port:              25,
			MaxAttachmentSize: 20 << 20,
			// base64 makes a 20 MB attachment about 27 MB on the wire.
			MaxMessageSize: 30 << 20,
			// IIS MaxRecipients default.
			MaxRecipients:  100,
			MaxConnections: 200,
			// IIS ConnectionTimeout default, 600 s.
			CommandTimeout:  600 * time.Second,
			DataTimeout:     600 * time.Second,
			ShutdownTimeout: 30 * time.Second,
			TLS:             "none",
			// Windows Server 2025 disables TLS 1.0 and 1.1.
			MinTLSVersion:  tls.VersionTLS12,
			RSAKeyExchange: true,
			Intercept:      true,
		},
		Outbound: Outbound{
			Port: 25,
			// IIS SmtpRemoteProgressiveRetry="15,30,60,240".
			Retry:                    []time.Duration{15 * time.Minute, 30 * time.Minute, 60 * time.Minute, 240 * time.Minute},
			Expiration:               48 * time.Hour,
			DelayNotification:        12 * time.Hour,
			MaxRecipientsPerMessage:  100,
			MaxMessagesPerConnection: 20,
			Connections:              4,
			ConnectTimeout:           30 * time.Second,
			CommandTimeout:           600 * time.Second,
			TLS:                      "opportunistic",
			VerifyCertificate:        true,
			RSAKeyExchange:           true,
		},
		Pickup: Pickup{
			DotStuffed:  true,
			Rescan:      60 * time.Second,
			StripBcc:    true,
			QuietPeriod: 2 * time.Second,
			Ignore:      append([]string(nil), DefaultIgnore...),
		},
		Log: Log{Level: "info", MaxSize: 10 << 20, MaxFiles: 5, W3CMaxSize: 1 << 30},
	}
	c.resolveFolders("")
	return c
}

// IsFQDN reports whether host, a host name as Config holds it, is a fully
// qualified domain name: it has a dot ("localhost" and "WEB01" have none)
// and is not an IP address ("192.0.2.5"). EHLO is meant to carry one (RFC
// 5321 section 4.1.1.1), and receivers and spam filters look for one in
// the greeting, Received headers and Message-IDs too; IIS took any name,
// and so does Load, while check and the start log say so.
func IsFQDN(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return false
	}
	return strings.Contains(host, ".")
}

// defaultHostname is the machine's name in its ASCII form (a Windows
// computer name may hold letters beyond ASCII). A name that is no host
// name is kept as it is, for Load to report.
func defaultHostname(name string) string {
	if a, err := hostName(name); err == nil {
		return a
	}
	return name
}

// resolve makes a path from the configuration file absolute against
// base, the file's folder ("" when the configuration has no file: the
// path stays relative to the working directory).
func resolve(base, path string) string {
	if base != "" && !isAbs(path) {
		return filepath.Join(base, path)
	}
	return path
}

// resolveFolders fills unset folders from Root and makes relative paths
// absolute against base (the config file's folder; "" keeps them relative
// to the working directory).
func (c *Config) resolveFolders(base string) {
	m := &c.Mailroot
	abs := func(p string) string {
		if p == "" {
			return p
		}
		return resolve(base, p)
	}
	m.Root = abs(m.Root)
	for _, f := range []struct {
		p    *string
		name string
	}{
		{&m.Pickup, "Pickup"}, {&m.Drop, "Drop"}, {&m.Queue, "Queue"},
		{&m.Badmail, "Badmail"}, {&m.SortTemp, "SortTemp"},
	} {
		if *f.p == "" {
			*f.p = joinPath(m.Root, f.name)
		} else {
			*f.p = abs(*f.p)
		}
	}
	if c.Log.File != "" {
		c.Log.File = abs(c.Log.File)
	}
	if c.Log.W3CDir != "" {
		c.Log.W3CDir = abs(c.Log.W3CDir)
	}
	if c.Inbound.PFXPath != "" {
		c.Inbound.PFXPath = abs(c.Inbound.PFXPath)
	}
	c.Inbound.PFXPasswordFile = abs(c.secrets.pfxFile)
	if c.Outbound.CAFile != "" {
		c.Outbound.CAFile = abs(c.Outbound.CAFile)
	}
}

func joinHostPort(host string, port int) string {
	if len(host) > 0 && host[0] != '[' && containsColon(host) {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s:%d", host, port)
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

// CoversAll reports whether the prefixes together hold every IPv4 address
// (all4) and every IPv6 address (all6): "0.0.0.0/0", or any set whose
// union is the whole space, such as "0.0.0.0/1" with "128.0.0.0/1". In
// relay_from such a list makes an open relay. An IPv4-mapped range
// ("::ffff:0:0/96") counts as the IPv4 range it stands for, as the
// configuration reads it (prefixList), whether or not it was read there.
func CoversAll(ps []netip.Prefix) (all4, all6 bool) {
	var v4, v6 []netip.Prefix
	for _, p := range ps {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if p = p.Masked(); p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return coversFamily(v4, netip.IPv4Unspecified()), coversFamily(v6, netip.IPv6Unspecified())
}

// coversFamily sweeps the ranges of ps (one family, masked) in address
// order from first, the family's lowest address: a gap before the last
// address means not everything is covered.
func coversFamily(ps []netip.Prefix, first netip.Addr) bool {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Addr().Less(ps[j].Addr()) })
	next := first // every address below next is covered
	for _, p := range ps {
		if next.Less(p.Addr()) {
			return false
		}
		last := lastAddr(p)
		if !last.Next().IsValid() {
			return true // the family's highest address
		}
		if next.Less(last.Next()) {
			next = last.Next()
		}
	}
	return false
}

// lastAddr is the highest address of a masked prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
