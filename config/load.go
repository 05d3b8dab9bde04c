package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/net/idna"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/mailbridge/mailbridge/tlscert"
)

// Problem is one thing wrong with a configuration file, or with the
// built-in defaults when there is none.
type Problem struct {
	File  string // "" for the built-in defaults (Load(""))
	Line  int    // 0 when the problem has no line (a missing key)
	Key   string // dotted: "inbound.port"
	Value string // as written, "" when absent
	Msg   string

	err error // what the key's own check returned, for Is; nil for others
}

// Is reports whether the key's own check refused its value with target
// (errors.Is), such as ErrWindowsPath. A problem that spans keys, or
// that is not about a value, is no such error.
func (p Problem) Is(target error) bool { return p.err != nil && errors.Is(p.err, target) }

func (p Problem) String() string {
	var b strings.Builder
	if p.File == "" {
		// No file, so no line either: the value is a default, and the
		// message must say so, or the administrator looks for a file.
		b.WriteString("built-in default")
	} else {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		if p.Value != "" {
			b.WriteString(" = " + p.Value)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// FolderProblem is a Problem about the mail root folder name ("Pickup",
// "Drop", "Queue", "Badmail" or "SortTemp") that only shows once the
// folder is used, such as one that cannot be created: msg says what is
// wrong. It names the key that gave the folder its path, the folder's
// own or else mailroot.root, with that key's line, as every problem
// Load finds does (found from outside: check said only "Drop folder
// D:\x: not writable", and the administrator had to find the key).
func (c *Config) FolderProblem(name, msg string) Problem {
	m := c.Mailroot
	key := "mailroot." + strings.ToLower(name)
	path := map[string]string{"pickup": m.Pickup, "drop": m.Drop, "queue": m.Queue, "badmail": m.Badmail, "sorttemp": m.SortTemp}[strings.ToLower(name)]
	// msg beginning with the path ("PATH is a file"), or naming the
	// folder with it ("Queue (PATH) and Drop ..."), says it already.
	said := strings.HasPrefix(msg, path) || strings.Contains(msg, name+" ("+path)
	k, v := key, c.asWritten(key, path)
	if c.lines[key] == 0 {
		// Not set on its own line: the folder is mailroot.root's.
		k, v = "mailroot.root", c.asWritten("mailroot.root", m.Root)
	}
	where := "the " + name + " folder"
	if !said && (k != key || v != any(path)) {
		// Not the key's own value as written (relative, or otherwise
		// spelled), nor said in msg: the path it became.
		where += " " + path
	}
	return c.KeyProblem(k, v, where+": "+msg)
}

// RootProblem is a Problem about the mail root (mailroot.root), such as
// one that cannot be created, quoting the key as the file wrote it.
func (c *Config) RootProblem(msg string) Problem {
	root := c.Mailroot.Root
	v := c.asWritten("mailroot.root", root)
	if v != any(root) && !strings.HasPrefix(msg, root) {
		return c.KeyProblem("mailroot.root", v, "the mail root "+root+": "+msg)
	}
	return c.KeyProblem("mailroot.root", v, "the mail root: "+msg)
}

// asWritten is the folder key's value as the file wrote it, or effective
// where the file does not set it.
func (c *Config) asWritten(key string, effective string) any {
	if v, ok := c.folders[key]; ok {
		return v
	}
	return effective
}

// KeyProblem is a Problem about the value of key (dotted: "log.file")
// that only shows once it is used, such as a file that cannot be
// created: it names the file and the line that set the key, or says
// that the value is the default.
func (c *Config) KeyProblem(key string, value any, msg string) Problem {
	p := Problem{File: c.File, Key: key, Line: c.lines[key], Value: show(value), Msg: msg}
	if p.Line == 0 && c.File != "" {
		p.Value += " (not set: the default)"
	}
	return p
}

// Errors lists every problem found in one file; Load returns it as its error.
type Errors []Problem

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// ErrInvalid is matched by errors.Is for any validation failure.
var ErrInvalid = errors.New("invalid configuration")

// ErrWindowsPath is what a path key's problem Is when the value is a
// Windows path ('C:\inetpub\mailroot', '\\server\share') and this is
// not Windows: such a configuration was made for a Windows machine (by
// import-iis, say), where it may be right.
var ErrWindowsPath = errors.New("a Windows path outside Windows")

// Is makes errors.Is(err, ErrInvalid) true for an Errors value.
func (e Errors) Is(target error) bool { return target == ErrInvalid }

// Load reads and validates the file at path. It returns Errors listing every
// problem, or another error when the file cannot be read. With Errors it
// also returns the Config it could make when the file parsed as TOML: the
// valid values, and the default for each key with a problem. Only `check`
// uses such a Config, to check the machine for the sections without
// problems (found from outside: one bad key hid every folder and port
// problem until it was fixed); nothing may run with it. With path "" there
// is no file: the built-in defaults are checked as a file's values are (the
// machine's name, which is the default hostname, above all), and their
// problems are named "built-in default".
func Load(path string) (*Config, error) {
	if path == "" {
		return parse("", "", nil, machineName())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	// Windows tools start text with a byte order mark: Notepad's UTF-8,
	// and UTF-16 from PowerShell 5.1's ">" (the README's import-iis step
	// run there). Such a file is read as the text it holds; TOML itself
	// is UTF-8 only.
	if (bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF})) && len(data)%2 != 0 {
		return nil, Errors{{File: path, Msg: "the file is UTF-16 (it starts with a byte order mark) but holds an odd number of bytes: it was cut short or changed by a tool that does not know UTF-16; save it again, as UTF-8"}}
	}
	if data, _, err = transform.Bytes(unicode.BOMOverride(transform.Nop), data); err != nil {
		return nil, fmt.Errorf("reading configuration %s: %w", path, err)
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	c, err := parse(path, base, data, machineName())
	if c != nil {
		c.File = path
	}
	return c, err
}

// Parse validates data as if read from a file named name, resolving relative
// paths against the working directory.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, "", data, machineName())
}

// parse is Parse with relative paths resolved against base, on a machine
// named machine (the default hostname). name "" is no file: data is empty,
// and the built-in defaults are checked.
func parse(name, base string, data []byte, machine string) (*Config, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		p := Problem{File: name, Msg: err.Error()}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			p.Line = pe.Position.Line
			p.Msg = "TOML syntax: " + pe.Message
			if m := hexEscape.FindStringSubmatch(pe.Message); m != nil && backslashInQuotes(data, p.Line) {
				// The parser quotes what follows the string's start, not
				// the escape (found from outside: "but got \"C:\\Us\""
				// for "C:\Users").
				p.Msg = "TOML syntax: '\\" + m[1] + "' starts an escape for a character given by its number in hexadecimal"
			}
			if backslashInQuotes(data, p.Line) {
				p.Msg += "; in double quotes a backslash starts an escape: " + windowsPathHint
			}
			dup := strings.Contains(pe.Message, "has already been defined")
			if dup {
				// Found from outside: the bare parser message.
				p.Msg += " A key, or a [section], may be written once in a file: remove one of them, or merge the sections."
			}
			encoding := strings.Contains(pe.Message, "invalid UTF-8") || strings.Contains(pe.Message, "NULL bytes")
			if w := boolWord(data, p.Line); dup || encoding {
				// The hints below read the line as a value; found from
				// outside, a [section] written twice got the one about
				// quotes.
			} else if w != "" {
				p.Msg += "; TOML writes a yes or no as true or false, in lower case, without quotes (found " + w + ")"
			} else if unquotedText(data, p.Line) {
				// Found from outside: hostname = mail.example.com, text
				// without its quotes, was "expected value but found
				// \"mail\" instead" alone; 30MB, 48h, /var/mail,
				// 127.0.0.1 and [15m, 30m] got other parser words.
				p.Msg += "; text values go in quotes (hostname = \"mail.example.com\", max_message_size = \"30MB\", retry = [\"15m\", \"30m\"]), Windows paths in single quotes (root = 'C:\\inetpub\\mailroot')"
			}
			if encoding {
				// An ANSI (Windows-1252) file with a non-ASCII letter, or
				// UTF-16 without its byte-order mark.
				p.Msg += "; save the file as UTF-8 (in Notepad: Save As, Encoding UTF-8)"
			}
		}
		return nil, Errors{p}
	}
	c := defaults(machine)
	// Folders derive from the root unless set: forget the defaults' derived
	// folders so that a new root moves them all.
	c.Mailroot = Mailroot{Root: c.Mailroot.Root}
	c.Pickup.DefaultDomain = ""
	pos := locate(data)
	l := &loader{file: name, lines: pos.keys, items: pos.items, raw: raw}
	l.table("", raw, c.topKeys())
	for _, sec := range c.sections() {
		v, ok := raw[sec.name]
		if !ok {
			continue
		}
		t, ok := v.(map[string]any)
		if !ok {
			l.fail(sec.name, v, "must be a table: write ["+sec.name+"] on a line of its own")
			continue
		}
		l.table(sec.name, t, sec.keys)
	}
	if _, set := raw["hostname"]; set {
		c.HostnameFromMachine = false
	} else {
		l.machineName(c.Hostname)
	}
	c.resolveFolders(base)
	c.lines = l.lines
	c.folders = map[string]any{}
	for _, k := range []string{"root", "pickup", "drop", "queue", "badmail", "sorttemp"} {
		if v, ok := l.written("mailroot." + k); ok {
			c.folders["mailroot."+k] = v
		}
	}
	pfxPassword := l.secret("inbound.pfx_password", &c.Inbound.PFXPassword, c.secrets.pfxFile, c.secrets.pfxEnv, base)
	l.secret("outbound.password", &c.Outbound.Password, c.secrets.passwordFile, c.secrets.passwordEnv, base)
	if c.Pickup.DefaultDomain == "" {
		c.Pickup.DefaultDomain = c.Hostname
	}
	c.Outbound.VerifyCertificate = verifyByDefault(raw, c.Outbound)
	l.validate(c)
	l.loadCAs(&c.Outbound)
	pwKey, pwValue := pfxPasswordKey(raw, c)
	l.loadPFX(c.Inbound, pfxPassword && !l.failed("inbound.pfx_password"), pwKey, pwValue, time.Now())
	if len(l.errs) > 0 {
		sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].Line < l.errs[j].Line })
		return c, l.errs
	}
	return c, nil
}

// verifyByDefault is verify_certificate as set, or else its default: true,
// except with opportunistic TLS when nothing asks for the smart host to
// be authenticated (no AUTH, no ca_file, no server_name). Opportunistic
// TLS encrypts where the smart host offers it and sends in plain text
// where it does not, so an attacker who can pose as the smart host can as
// well remove its STARTTLS: verifying adds no protection, while refusing
// an unverified certificate holds back mail that plain text (IIS, here)
// delivered (RFC 7435 section 1.2; Exchange's default certificate is
// self-signed). With AUTH the password must not go to an impostor, so it
// is verified.
func verifyByDefault(raw map[string]any, o Outbound) bool {
	if out, ok := raw["outbound"].(map[string]any); ok {
		if _, set := out["verify_certificate"]; set {
			return o.VerifyCertificate
		}
	}
	return o.TLS != "opportunistic" || o.Username != "" || o.CAFile != "" || o.ServerName != ""
}

// machineName checks the machine's name, which the greeting and the
// Received header carry when hostname is not set: it must be a host name
// too.
func (l *loader) machineName(name string) {
	_, err := hostName(name)
	if err == nil {
		return
	}
	if l.file == "" {
		// Without a file the name is the value in use, reported as a
		// bad hostname in a file is; the fix is a file that sets it.
		where := "in a configuration file, given with --config FILE"
		if f := DefaultFile(); f != "" {
			where = "in " + f + " (read when it exists), or in a file given with --config FILE"
		}
		l.failAt(0, "hostname", name, fmt.Sprintf("%v; this machine's name is used when no configuration file sets hostname: write hostname = \"...\", the name clients know this server by, %s", err, where))
		return
	}
	l.failAt(0, "hostname", nil, fmt.Sprintf("is not set, and this machine's name %q %v; set hostname to the name clients know this server by", name, err))
}

// windowsPathHint is how to write a Windows path in TOML, where "\i" (of
// "C:\inetpub") is an invalid escape, "\U" (of "C:\Users") wants eight hex
// digits, and "\t" (of "C:\temp") is a tab.
// hexEscape is the parser's message for a \u or \U escape without its
// hexadecimal digits.
var hexEscape = regexp.MustCompile(`^expected (?:four|eight) hexadecimal digits after '\\([uU])'`)

const windowsPathHint = `for a Windows path use single quotes ('C:\inetpub\mailroot') or double each backslash ("C:\\inetpub\\mailroot")`

// backslashInQuotes reports whether line n (from 1) of data holds a
// backslash after a double quote: a Windows path written in double quotes,
// the usual cause of a syntax error on such a line.
// unquotedText reports whether line n of data sets a key to text without
// quotes, alone or in a list: a value, or a list item, that starts with
// no quote and is no number, boolean, date, list or table.
func unquotedText(data []byte, n int) bool {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return false
	}
	_, v, ok := strings.Cut(lines[n-1], "=")
	if !ok {
		// A line of a list written over several lines: its items.
		v = "[" + lines[n-1] + "]"
	}
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '#'); i >= 0 && !strings.ContainsAny(v[:i], "\"'") {
		v = strings.TrimSpace(v[:i])
	}
	items := []string{v}
	if strings.HasPrefix(v, "[") {
		items = strings.Split(strings.Trim(v, "[] \t\r"), ",")
	}
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" || strings.ContainsAny(it[:1], "\"'{[") || it == "true" || it == "false" {
			continue
		}
		if _, err := strconv.ParseFloat(strings.ReplaceAll(it, "_", ""), 64); err == nil {
			continue
		}
		if _, err := strconv.ParseInt(strings.ReplaceAll(it, "_", ""), 0, 64); err == nil {
			continue
		}
		return true
	}
	return false
}

// boolWord returns the value of line n of data when it is a yes or no
// written otherwise than TOML's true and false (yes, no, on, off, True),
// or "".
func boolWord(data []byte, n int) string {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	_, v, ok := strings.Cut(lines[n-1], "=")
	if !ok {
		return ""
	}
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '#'); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	switch strings.ToLower(v) {
	case "yes", "no", "on", "off", "true", "false":
		if v != "true" && v != "false" {
			return v
		}
	}
	return ""
}

func backslashInQuotes(data []byte, n int) bool {
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return false
	}
	q := strings.IndexByte(lines[n-1], '"')
	return q >= 0 && strings.Contains(lines[n-1][q:], `\`)
}

// key describes one configuration key: set converts and checks a decoded
// TOML value and stores it, or returns what is wrong with it.
type key struct {
	name string
	set  func(v any) error
}

type section struct {
	name string
	keys []key
}

func (c *Config) topKeys() []key {
	return []key{{"hostname", nameStr(&c.Hostname, hostName)}}
}

func (c *Config) sections() []section {
	return []section{
		{"compat", []key{
			{"product", str(&c.Compat.Product, receivedToken("the Received header"))},
			{"version", str(&c.Compat.Version, receivedToken("the Received header and the greeting"))},
		}},
		{"mailroot", []key{
			{"root", pathStr(&c.Mailroot.Root, true)},
			{"pickup", pathStr(&c.Mailroot.Pickup, false)},
			{"drop", pathStr(&c.Mailroot.Drop, false)},
			{"queue", pathStr(&c.Mailroot.Queue, false)},
			{"badmail", pathStr(&c.Mailroot.Badmail, false)},
			{"sorttemp", pathStr(&c.Mailroot.SortTemp, false)},
		}},
		{"inbound", []key{
			{"bind", str(&c.Inbound.Bind, ipOrEmpty)},
			{"port", integer(&c.Inbound.Port, 1, 65535)},
			{"max_attachment_size", size(&c.Inbound.MaxAttachmentSize)},
			{"max_message_size", size(&c.Inbound.MaxMessageSize)},
			{"max_recipients", integer(&c.Inbound.MaxRecipients, 1, 1_000_000)},
			{"max_connections", integer(&c.Inbound.MaxConnections, 1, 1_000_000)},
			{"max_connections_per_ip", integer(&c.Inbound.MaxConnectionsPerIP, 1, 1_000_000)},
			{"command_timeout", duration(&c.Inbound.CommandTimeout, time.Second)},
			{"data_timeout", duration(&c.Inbound.DataTimeout, time.Second)},
			{"bare_lf_end", boolean(&c.Inbound.BareLFEnd)},
			{"shutdown_timeout", duration(&c.Inbound.ShutdownTimeout, 0)},
			{"tls", choice(&c.Inbound.TLS, "none", "starttls", "implicit")},
			{"pfx_path", pathStr(&c.Inbound.PFXPath, true)},
			{"pfx_password", str(&c.Inbound.PFXPassword, nil)},
			{"pfx_password_file", pathStr(&c.secrets.pfxFile, true)},
			{"pfx_password_env", str(&c.secrets.pfxEnv, nonEmpty)},
			{"tls_port", integer(&c.Inbound.TLSPort, 0, 65535)},
			{"min_tls_version", tlsVersion(&c.Inbound.MinTLSVersion)},
			{"tls_rsa_key_exchange", boolean(&c.Inbound.RSAKeyExchange)},
			{"local_domains", domainList(&c.Inbound.LocalDomains)},
			{"relay_from", prefixList(&c.Inbound.RelayFrom)},
			{"intercept", boolean(&c.Inbound.Intercept)},
			{"allow_from", prefixList(&c.Inbound.AllowFrom)},
			{"deny_from", prefixList(&c.Inbound.DenyFrom)},
		}},
		{"outbound", []key{
			{"server", nameStr(&c.Outbound.Server, smartHost)},
			{"port", integer(&c.Outbound.Port, 1, 65535)},
			{"retry", durations(&c.Outbound.Retry)},
			{"expiration", queueWait(&c.Outbound.Expiration, time.Minute)},
			{"delay_notification", queueWait(&c.Outbound.DelayNotification, 0)},
			{"max_recipients_per_message", integer(&c.Outbound.MaxRecipientsPerMessage, 1, 100_000)},
			{"max_messages_per_connection", integer(&c.Outbound.MaxMessagesPerConnection, 1, 100_000)},
			{"connections", integer(&c.Outbound.Connections, 1, 1000)},
			{"connect_timeout", duration(&c.Outbound.ConnectTimeout, time.Second)},
			{"command_timeout", duration(&c.Outbound.CommandTimeout, time.Second)},
			{"tls", choice(&c.Outbound.TLS, "none", "opportunistic", "starttls", "implicit")},
			{"verify_certificate", boolean(&c.Outbound.VerifyCertificate)},
			{"tls_rsa_key_exchange", boolean(&c.Outbound.RSAKeyExchange)},
			{"server_name", nameStr(&c.Outbound.ServerName, hostOrIP)},
			{"ca_file", pathStr(&c.Outbound.CAFile, true)},
			{"username", str(&c.Outbound.Username, userName)},
			{"password", str(&c.Outbound.Password, nil)},
			{"password_file", pathStr(&c.secrets.passwordFile, true)},
			{"password_env", str(&c.secrets.passwordEnv, nonEmpty)},
		}},
		{"pickup", []key{
			{"dot_stuffed", boolean(&c.Pickup.DotStuffed)},
			{"rescan", duration(&c.Pickup.Rescan, 100*time.Millisecond)},
			{"strip_bcc", boolean(&c.Pickup.StripBcc)},
			{"default_domain", nameStr(&c.Pickup.DefaultDomain, domain)},
			{"quiet_period", duration(&c.Pickup.QuietPeriod, 0)},
			{"ignore", patternList(&c.Pickup.Ignore)},
		}},
		{"log", []key{
			{"level", choice(&c.Log.Level, "debug", "info", "warn", "error")},
			{"file", pathStr(&c.Log.File, false)},
			{"max_size", size(&c.Log.MaxSize)},
			{"max_files", integer(&c.Log.MaxFiles, 0, 1000)},
			{"w3c_dir", pathStr(&c.Log.W3CDir, false)},
			{"w3c_max_size", size(&c.Log.W3CMaxSize)},
		}},
	}
}

type loader struct {
	file  string
	lines map[string]int   // dotted key -> its line
	items map[string][]int // dotted key of a list -> the line of each item
	raw   map[string]any   // the file as decoded: values as written
	errs  Errors
}

// written is the value of the dotted key as the file wrote it ("1.5MB",
// not the 1572864 it became), for a problem to quote; ok is false when
// the file does not set the key.
func (l *loader) written(dotted string) (v any, ok bool) {
	t := l.raw
	for {
		name, rest, nested := strings.Cut(dotted, ".")
		if !nested {
			v, ok = t[name]
			return v, ok
		}
		if t, ok = t[name].(map[string]any); !ok {
			return nil, false
		}
		dotted = rest
	}
}

func (l *loader) fail(dotted string, v any, msg string) {
	l.failAt(l.lines[dotted], dotted, v, msg)
}

// failAt is fail for a problem that belongs on another line than the key's
// own (a key that is not written, but conflicts with one that is).
func (l *loader) failAt(line int, dotted string, v any, msg string) {
	val := ""
	if v != nil {
		val = show(v)
	}
	if v != nil && strings.Contains(dotted, "password") && !strings.HasSuffix(dotted, "_file") && !strings.HasSuffix(dotted, "_env") {
		val = "(hidden)" // a secret never appears in a message
	}
	l.errs = append(l.errs, Problem{File: l.file, Line: line, Key: dotted, Value: val, Msg: msg})
}

// failed reports whether a problem was recorded for a key starting with
// prefix.
func (l *loader) failed(prefix string) bool {
	for _, p := range l.errs {
		if strings.HasPrefix(p.Key, prefix) {
			return true
		}
	}
	return false
}

func (l *loader) table(prefix string, t map[string]any, keys []key) {
	known := map[string]key{}
	for _, k := range keys {
		known[k.name] = k
	}
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := t[n]
		dotted := n
		if prefix != "" {
			dotted = prefix + "." + n
		}
		k, ok := known[n]
		if !ok {
			if prefix == "" {
				if isSection(n) {
					continue
				}
				if _, isTable := v.(map[string]any); isTable {
					msg := "unknown section [" + n + "]; known: " + knownSections()
					if lower := strings.ToLower(n); lower != n && isSection(lower) {
						// Windows administrators may capitalise it as
						// the dialog does; TOML's names are exact.
						msg = "unknown section [" + n + "]: names are lower case, write [" + lower + "]"
					}
					l.fail(dotted, nil, msg)
					continue
				}
			}
			l.fail(dotted, v, "unknown key"+suggest(prefix, n, keys))
			continue
		}
		if err := k.set(v); err != nil {
			l.failKey(dotted, v, err)
		}
	}
}

// failKey records what set returned for one key: one problem, or one per
// bad item of a list (every bad item is reported, not only the first).
func (l *loader) failKey(dotted string, v any, err error) {
	var items itemErrors
	if !errors.As(err, &items) {
		l.fail(dotted, v, err.Error())
		l.errs[len(l.errs)-1].err = err
		return
	}
	for _, e := range items {
		// The item and its number say what is wrong; the whole list on
		// every line would only bury them. A list written over several
		// lines has the item's own line, where the administrator must
		// look, not its key's.
		l.failAt(l.itemLine(dotted, e.n), dotted, nil, e.Error())
		l.errs[len(l.errs)-1].err = e.err
	}
}

// itemLine is the line of item n (from 1) of the list key dotted, or the
// key's line when the item was not located.
func (l *loader) itemLine(dotted string, n int) int {
	if lines := l.items[dotted]; n >= 1 && n <= len(lines) {
		return lines[n-1]
	}
	return l.lines[dotted]
}

// itemError is what is wrong with item n (from 1) of a list.
type itemError struct {
	n   int
	v   any
	err error
}

func (e itemError) Error() string { return fmt.Sprintf("item %d (%s): %v", e.n, show(e.v), e.err) }

// itemErrors lists the bad items of one list key, in order.
type itemErrors []itemError

func (e itemErrors) Error() string {
	msgs := make([]string, len(e))
	for i, x := range e {
		msgs[i] = x.Error()
	}
	return strings.Join(msgs, "; ")
}

func isSection(n string) bool {
	for _, s := range (&Config{}).sections() {
		if s.name == n {
			return true
		}
	}
	return false
}

// SectionsOf returns the sections a key or section name written outside
// them may belong to, for a problem's Key: a key known in other sections
// ("port": inbound and outbound), or a section written in the wrong case
// ("Inbound"). None for a name no section knows.
func SectionsOf(name string) []string {
	var in []string
	for _, s := range (&Config{}).sections() {
		if strings.EqualFold(s.name, name) {
			return []string{s.name}
		}
		for _, k := range s.keys {
			if strings.EqualFold(k.name, name) {
				in = append(in, s.name)
			}
		}
	}
	return in
}

func knownSections() string {
	var names []string
	for _, s := range (&Config{}).sections() {
		names = append(names, "["+s.name+"]")
	}
	return strings.Join(names, ", ")
}

// suggest is what an unknown key n in section sec ("" at the top) gets
// added to its problem: the section where a key of that name belongs, if
// another has one (found from outside: "port = 25" written above every
// section got only "known keys here: hostname"), and this section's keys.
func suggest(sec, n string, keys []key) string {
	var names []string
	for _, k := range keys {
		names = append(names, k.name)
		if lower := strings.ToLower(n); lower != n && k.name == lower {
			return ": names are lower case, write " + lower
		}
	}
	var in []string
	for _, other := range (&Config{}).sections() {
		if other.name == sec {
			continue
		}
		for _, k := range other.keys {
			if k.name == strings.ToLower(n) {
				in = append(in, "["+other.name+"]")
			}
		}
	}
	hint := ""
	for _, k := range (&Config{}).topKeys() {
		if k.name == strings.ToLower(n) {
			// Found from outside: hostname written under [inbound], as
			// in an INI file, got only this section's keys.
			return "; " + k.name + " is a top-level key: move it above the first [section] heading; known keys here: " + strings.Join(names, ", ")
		}
	}
	switch len(in) {
	case 0:
	case 1:
		hint = "; " + strings.ToLower(n) + " is a key of " + in[0] + ": move it below that heading"
	default:
		hint = "; " + strings.ToLower(n) + " is a key of " + strings.Join(in, " and ") + ": move it below the heading of the one you mean"
	}
	return hint + "; known keys here: " + strings.Join(names, ", ")
}

// asWritten is the value of the dotted key as written, or effective (a
// default, or a folder derived from root) when the file does not set it.
func (l *loader) asWritten(dotted string, effective any) any {
	if v, ok := l.written(dotted); ok {
		return v
	}
	return effective
}

// validate checks what spans several keys. A problem quotes a value as the
// file wrote it (a relative path, "1.5MB"), not as it was resolved.
func (l *loader) validate(c *Config) {
	in := c.Inbound
	// A size refused on its own line is not compared again: its default
	// stood in for it.
	if in.MaxAttachmentSize > in.MaxMessageSize && !l.failed("inbound.max_message_size") && !l.failed("inbound.max_attachment_size") {
		// Each size is quoted as written ("1.5MB", not "1536KB"), or
		// named a default when it is not written.
		msgSize, msgSet := l.written("inbound.max_message_size")
		attSize, attSet := l.written("inbound.max_attachment_size")
		if !attSet {
			// Only max_message_size is written: the problem is on its
			// line, with the default it falls below.
			l.fail("inbound.max_message_size", msgSize,
				"smaller than inbound.max_attachment_size (default "+FormatSize(in.MaxAttachmentSize)+"); set max_attachment_size below it too, or raise max_message_size (base64 needs about 4/3 of the attachment size)")
		} else {
			msg := "default " + FormatSize(in.MaxMessageSize)
			if msgSet {
				msg = show(msgSize)
			}
			l.fail("inbound.max_attachment_size", attSize,
				"larger than inbound.max_message_size ("+msg+"); base64 needs about 4/3 of the attachment size, so raise max_message_size")
		}
	}
	if in.TLSEnabled() && in.PFXPath == "" && l.lines["inbound.pfx_path"] == 0 {
		// On the line that turned TLS on: pfx_path has none. (A pfx_path
		// written but refused is reported on its own line already.)
		line := 0
		if in.TLS != "none" {
			line = l.lines["inbound.tls"]
		}
		if line == 0 {
			line = l.lines["inbound.tls_port"]
		}
		l.failAt(line, "inbound.pfx_path", nil, "is required when inbound TLS is on (inbound.tls or inbound.tls_port): set it to the certificate's PFX file")
	}
	if c.lines["inbound.max_connections_per_ip"] == 0 {
		// Half the sessions by default: found from outside, one client
		// could hold them all (one byte now and then, or an EHLO every
		// few seconds), and every other was told 421.
		c.Inbound.MaxConnectionsPerIP = max(1, (in.MaxConnections+1)/2)
	}
	if in.TLSPort != 0 && in.TLSPort == in.Port {
		l.fail("inbound.tls_port", in.TLSPort, "is the same as inbound.port; use another port (465 is usual) or set inbound.tls")
	}
	l.validateOutbound(c.Outbound, c.secrets.passwordFile, c.secrets.passwordEnv)
	if o := c.Outbound; c.OutboundOnInboundPort() && ownAddress(o.Server, in.Bind, c.Hostname) && !l.failed("outbound.server") && !l.failed("outbound.port") {
		// Found from outside (a port edited by mistake): 122 messages
		// logged as sent landed in Drop, read there as inbound mail.
		l.fail("outbound.server", o.Server, fmt.Sprintf("with outbound.port %d is this mailbridge's own inbound listener: Pickup mail would come back into Drop, or go round in a loop; set the smart host's address and port", o.Port))
	}
	m := c.Mailroot
	pickup := folderKey{"mailroot.pickup", "Pickup", m.Pickup}
	drop := folderKey{"mailroot.drop", "Drop", m.Drop}
	queue := folderKey{"mailroot.queue", "Queue", m.Queue}
	// IIS: "Drop may be any folder except the Pickup folder".
	l.oneFolder(drop, pickup, "received mail would be relayed out again; choose another folder")
	for _, f := range []folderKey{pickup, drop} {
		if l.oneFolder(queue, f, "Queue must be a folder of its own") {
			break
		}
	}
	for _, f := range []folderKey{drop, pickup} {
		if l.oneFolder(folderKey{"mailroot.sorttemp", "SortTemp", m.SortTemp}, f, "SortTemp must be a folder of its own: temporary files there would be read as mail") {
			break
		}
	}
	// Badmail in Pickup would send its .BAD files out again and take its
	// .BDR and .BDP files for mail, each refused into Badmail again: the
	// files double at every pass. In Drop or Queue its files would sit
	// among mail that others read.
	for _, f := range []folderKey{pickup, drop, queue} {
		if l.oneFolder(folderKey{"mailroot.badmail", "Badmail", m.Badmail}, f, "Badmail must be a folder of its own, where nothing reads its files as mail; choose another folder") {
			break
		}
	}
	// A log in Pickup: every file closed there (a rotated log, yesterday's
	// W3C log) is claimed as a message, refused into Badmail, and that is
	// logged, so the log feeds itself until the disk is full (found from
	// outside: 2,358 Badmail files in 6 seconds). Elsewhere in the mail
	// root nothing takes a log file for mail.
	for _, lg := range []struct{ key, path string }{{"log.file", c.Log.File}, {"log.w3c_dir", c.Log.W3CDir}} {
		if lg.path != "" && within(lg.path, m.Pickup) {
			l.fail(lg.key, l.asWritten(lg.key, lg.path), "is in the Pickup folder ("+m.Pickup+"): every log file closed there would be taken for a message and moved to Badmail, which is logged in turn; choose a folder outside Pickup")
		}
	}
}

// folderKey is one of the mail root's folders: its key, its name, where
// it is.
type folderKey struct{ key, name, path string }

// oneFolder records a problem where folders a and b are one folder, and
// reports whether they are. It names a's key ("mailroot.queue = ...: is the
// Drop folder: msg") where the file sets a or does not set b, else b's,
// the key the file wrote (found from outside: drop = "mr/Queue" was
// reported as mailroot.queue, a key the file does not have, on no line).
func (l *loader) oneFolder(a, b folderKey, msg string) bool {
	if !samePath(a.path, b.path) {
		return false
	}
	_, aWritten := l.written(a.key)
	if !strings.HasSuffix(msg, "choose another folder") {
		// Found from outside: with both keys written, the problem said
		// what was wrong and not what to do.
		msg += "; choose another folder"
	}
	if _, bWritten := l.written(b.key); aWritten || !bWritten {
		l.fail(a.key, l.asWritten(a.key, a.path), "is the "+b.name+" folder: "+msg)
	} else {
		l.fail(b.key, l.asWritten(b.key, b.path), "is the "+a.name+" folder: "+msg)
	}
	return true
}

// ownAddress reports whether server names an address the inbound
// listener bound to bind listens on: with bind empty or unspecified (every
// address), a loopback or unspecified address, localhost, or this server's
// hostname; with bind a loopback address or localhost, a loopback address
// or localhost; otherwise bind itself. (This machine's other addresses
// are looked at by run and check, which may ask the system for them.)
func ownAddress(server, bind, hostname string) bool {
	norm := func(s string) string {
		s = strings.TrimSuffix(strings.ToLower(s), ".")
		if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
			s = s[1 : len(s)-1] // an address literal
		}
		return s
	}
	server, bind = norm(server), norm(bind)
	sa, serr := netip.ParseAddr(server)
	serverLoop := server == "localhost" || serr == nil && sa.Unmap().IsLoopback()
	bindLoop := bind == "localhost"
	if b, err := netip.ParseAddr(bind); err == nil {
		bindLoop = b.Unmap().IsLoopback()
		if b.IsUnspecified() {
			bind = ""
		}
	}
	switch {
	case bind == "":
		return serverLoop || serr == nil && sa.IsUnspecified() || server == norm(hostname)
	case bindLoop:
		return server == bind || serverLoop && (server == "localhost" || bind == "localhost")
	}
	return server == bind
}

// validateOutbound checks TLS and AUTH of [outbound] and loads ca_file;
// file and env are password_file and password_env as written.
func (l *loader) validateOutbound(o Outbound, file, env string) {
	if (o.TLS == "starttls" || o.TLS == "implicit") && o.Server == "" {
		l.fail("outbound.tls", o.TLS, "needs [outbound] server: set the smart host's name or address")
	}
	// A password_file or password_env that failed is said on its own
	// line (found from outside: "needs a password: set ... password_file"
	// beside the password_file that could not be read).
	if o.Username != "" && o.Password == "" && !l.failed("outbound.password") {
		switch {
		case file != "":
			l.fail("outbound.password_file", file, "is empty: outbound.username needs a password, and the file holds none")
		case env != "":
			l.fail("outbound.password_env", env, "names an empty environment variable: outbound.username needs a password")
		default:
			l.fail("outbound.username", o.Username, "needs a password: set outbound.password, password_file or password_env")
		}
	}
	if o.Username == "" && o.Password != "" && !l.failed("outbound.username") {
		l.fail("outbound.password", "(hidden)", "is set without outbound.username: set the user name the smart host expects")
	}
}

// loadCAs reads ca_file into the system's pool (or a new one where the
// system's is not available).
func (l *loader) loadCAs(o *Outbound) {
	if o.CAFile == "" {
		return
	}
	data, err := os.ReadFile(o.CAFile)
	if err != nil {
		l.fail("outbound.ca_file", o.CAFile, "cannot be read: "+err.Error())
		return
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	// A UTF-8 byte-order mark before the PEM text is what Windows
	// PowerShell 5.1 writes (Set-Content -Encoding UTF8): the PEM decoder
	// does not look past it. A DER file (.cer) is the Windows certificate
	// export wizard's first choice: one certificate, binary.
	data = bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	if !pool.AppendCertsFromPEM(data) {
		cert, derErr := x509.ParseCertificate(data)
		if derErr != nil {
			l.fail("outbound.ca_file", o.CAFile, "holds no certificate: neither PEM (-----BEGIN CERTIFICATE-----) nor one DER certificate; export the CA certificate as Base-64 (PEM) or DER (.cer)")
			return
		}
		pool.AddCert(cert)
	}
	o.CAs = pool
}

// loadPFX reads the inbound certificate when TLS is on, as loadCAs reads
// ca_file: a PFX file that is missing or a key that does not match is a
// problem of inbound.pfx_path with its line, listed with all the others; a wrong password is a problem of the
// key that gave it (pwKey with its value pwValue; "" when none did). The
// file is read even when the password could not be resolved (password
// false), so that a missing file is not hidden by a password problem; it
// is decoded only with a password.
func (l *loader) loadPFX(in Inbound, password bool, pwKey string, pwValue any, now time.Time) {
	if !in.TLSEnabled() || in.PFXPath == "" {
		return
	}
	data, err := os.ReadFile(in.PFXPath)
	if err != nil {
		l.fail("inbound.pfx_path", in.PFXPath, "cannot be read: "+err.Error())
		return
	}
	if !password {
		return
	}
	_, _, err = tlscert.ParsePFX(data, in.PFXPassword, now)
	if err == nil || errors.Is(err, tlscert.ErrValidity) {
		// An expired certificate does not keep run from starting (mail
		// on the plain port and from Pickup goes on; the log says it
		// expired): check reports it as a problem of its own.
		return
	}
	if !errors.Is(err, tlscert.ErrWrongPassword) {
		l.fail("inbound.pfx_path", in.PFXPath, err.Error())
		return
	}
	pfx := show(in.PFXPath)
	switch pwKey {
	case "inbound.pfx_password":
		l.fail(pwKey, pwValue, "is the wrong password for the PFX file "+pfx+" (pfx_path)")
	case "inbound.pfx_password_file":
		l.fail(pwKey, pwValue, "holds the wrong password for the PFX file "+pfx+" (pfx_path); the password is the file's text, less trailing spaces and line ends (UTF-8, or UTF-16 with a byte order mark)")
	case "inbound.pfx_password_env":
		l.fail(pwKey, pwValue, "holds the wrong password for the PFX file "+pfx+" (pfx_path)")
	default:
		l.fail("inbound.pfx_path", in.PFXPath, "is protected by a password: set pfx_password, pfx_password_file or pfx_password_env")
	}
}

// pfxPasswordKey names the key the PFX password comes from, and its value
// as a problem shows it; "" when the file sets none of the three.
func pfxPasswordKey(raw map[string]any, c *Config) (string, any) {
	switch {
	case c.secrets.pfxFile != "":
		return "inbound.pfx_password_file", c.Inbound.PFXPasswordFile
	case c.secrets.pfxEnv != "":
		return "inbound.pfx_password_env", c.secrets.pfxEnv
	}
	if in, ok := raw["inbound"].(map[string]any); ok {
		if _, ok := in["pfx_password"]; ok {
			return "inbound.pfx_password", "(hidden)"
		}
	}
	return "", nil
}

// secret resolves the password key (dotted, "outbound.password") given
// inline, in a file (key_file) or in an environment variable (key_env): at
// most one of the three. It reports whether the password is known (empty
// when none of the three is set).
func (l *loader) secret(key string, dst *string, file, env, base string) bool {
	set, line := 0, 0 // line: the first line that sets one of the three
	for i, v := range []string{*dst, file, env} {
		if v == "" {
			continue
		}
		set++
		if n := l.lines[key+[]string{"", "_file", "_env"}[i]]; n != 0 && (line == 0 || n < line) {
			line = n
		}
	}
	if set > 1 {
		name := key[strings.LastIndexByte(key, '.')+1:]
		l.failAt(line, key, nil, fmt.Sprintf("set only one of %s, %s_file and %s_env", name, name, name))
		return false
	}
	switch {
	case file != "":
		file = resolve(base, file)
		b, err := os.ReadFile(file)
		if err != nil {
			l.fail(key+"_file", file, "cannot be read: "+err.Error())
			return false
		}
		*dst = tlscert.PasswordFromFile(b) // BOM, UTF-16, trailing blanks

	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			l.fail(key+"_env", env, "no such environment variable is set")
			return false
		}
		*dst = v
	}
	return true
}

// eachString reads a list of strings, calling check on each, and returns
// every bad item (not a string, or refused by check) as itemErrors.
func eachString(v any, check func(string) error) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New(`must be a list in brackets, for example ["a", "b"]`)
	}
	out := make([]string, 0, len(list))
	var bad itemErrors
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			bad = append(bad, itemError{i + 1, item, errors.New("must be a string in quotes")})
			continue
		}
		if err := check(s); err != nil {
			bad = append(bad, itemError{i + 1, item, err})
			continue
		}
		out = append(out, s)
	}
	if len(bad) > 0 {
		return nil, bad
	}
	return out, nil
}

// domainList reads domains, each stored in its ASCII form (see asciiName).
func domainList(dst *[]string) func(any) error {
	return func(v any) error {
		var out []string
		_, err := eachString(v, func(d string) error {
			a, err := domain(d)
			if err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
		if err != nil {
			return err
		}
		*dst = out
		return nil
	}
}

// patternList reads file name patterns (path.Match syntax: "*", "?",
// "[a-z]"), which name files in one folder, so hold no slash or backslash.
func patternList(dst *[]string) func(any) error {
	return func(v any) error {
		list, err := eachString(v, func(p string) error {
			if _, err := path.Match(p, ""); p == "" || err != nil || strings.ContainsAny(p, `/\`) {
				return errors.New(`must be a file name pattern such as "*.tmp" ("*" any characters, "?" one, "[abc]" one of them)`)
			}
			return nil
		})
		if err != nil {
			return err
		}
		*dst = list
		return nil
	}
}

// prefixList reads IP addresses and CIDR ranges ("192.0.2.7", "10.0.0.0/8",
// "2001:db8::/32"). A range whose address has bits set after its prefix
// length ("10.0.0.1/8") is refused: it is read as the whole range
// (10.0.0.0/8), while whoever wrote it may have meant the one host, and in
// relay_from that difference opens a relay to a /8.
func prefixList(dst *[]netip.Prefix) func(any) error {
	return func(v any) error {
		var out []netip.Prefix
		_, err := eachString(v, func(s string) error {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return errors.New("must be an IP address or a CIDR range such as 10.0.0.0/8")
				}
				p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			if err := hostBits(p); err != nil {
				return err
			}
			// Clients are matched as IPv4 when they come as IPv4-mapped
			// IPv6 (listener: Unmap), so a mapped range must be the IPv4
			// range it stands for, or it would never match anyone. (A
			// range without host bits stays without them unmapped.)
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			out = append(out, p)
			return nil
		})
		if err != nil {
			return err
		}
		if out == nil {
			out = []netip.Prefix{}
		}
		*dst = out
		return nil
	}
}

// hostBits refuses a range written with bits set after its prefix length,
// naming both readings: the range it covers, and the one host. The range
// is checked as written, before an IPv4-mapped one is unmapped, so that
// the fix is spelled in the form the administrator used.
func hostBits(p netip.Prefix) error {
	m := p.Masked()
	if p == m {
		return nil
	}
	cover := m.String()
	if a := m.Addr(); a.Is4In6() && m.Bits() >= 96 {
		cover += " (the IPv4 range " + netip.PrefixFrom(a.Unmap(), m.Bits()-96).String() + ")"
	}
	return fmt.Errorf("has host bits set after /%d, so it would cover all of %s; write %q for the range or %q for the one host",
		p.Bits(), cover, m.String(), p.Addr().String())
}

func tlsVersion(dst *uint16) func(any) error {
	return func(v any) error {
		switch v {
		case "1.2":
			*dst = tls.VersionTLS12
		case "1.3":
			*dst = tls.VersionTLS13
		default:
			return errors.New(`must be "1.2" or "1.3" (TLS 1.0 and 1.1 are disabled on Windows Server 2025)`)
		}
		return nil
	}
}

// samePath reports whether a and b name the same folder as written
// (letter case aside where the file system ignores it: Windows). Folders
// that are one through a link or another spelling are caught when they
// exist (mailroot.CheckDistinct).
func samePath(a, b string) bool {
	return sameName(filepath.Clean(a), filepath.Clean(b))
}

// within reports whether path is the folder dir or lies under it, as
// written (letter case aside where the file system ignores it).
func within(path, dir string) bool {
	p, d := filepath.Clean(path), filepath.Clean(dir)
	for {
		if sameName(p, d) {
			return true
		}
		parent := filepath.Dir(p)
		if parent == p {
			return false
		}
		p = parent
	}
}

// Converters. Each returns an error whose text completes "KEY = VALUE: ...".

func str(dst *string, check func(string) error) func(any) error {
	return func(v any) error {
		s, ok := v.(string)
		if !ok {
			return errors.New("must be a string in quotes")
		}
		if check != nil {
			if err := check(s); err != nil {
				return err
			}
		}
		*dst = s
		return nil
	}
}

// pathStr is str for a path (see filePath), whose problem of type says
// how to write a Windows path in TOML.
func pathStr(dst *string, required bool) func(any) error {
	conv := str(dst, filePath(required))
	return func(v any) error {
		if _, ok := v.(string); !ok {
			return errors.New("must be a string in quotes (" + windowsPathHint + ")")
		}
		return conv(v)
	}
}

// nameStr is str for a host or domain name, stored as conv returns it (its
// ASCII form).
func nameStr(dst *string, conv func(string) (string, error)) func(any) error {
	return func(v any) error {
		s, ok := v.(string)
		if !ok {
			return errors.New("must be a string in quotes")
		}
		a, err := conv(s)
		if err != nil {
			return err
		}
		*dst = a
		return nil
	}
}

func integer(dst *int, min, max int) func(any) error {
	return func(v any) error {
		n, ok := v.(int64)
		if s, text := v.(string); text {
			if _, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				// Found from outside: port = "25" said only the range.
				return fmt.Errorf("must be a whole number from %d to %d, written without quotes", min, max)
			}
		}
		if !ok {
			return fmt.Errorf("must be a whole number from %d to %d", min, max)
		}
		if n < int64(min) || n > int64(max) {
			return fmt.Errorf("must be from %d to %d", min, max)
		}
		*dst = int(n)
		return nil
	}
}

func boolean(dst *bool) func(any) error {
	return func(v any) error {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("must be true or false (without quotes)")
		}
		*dst = b
		return nil
	}
}

func size(dst *int64) func(any) error {
	return func(v any) error {
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*dst = n
		return nil
	}
}

func duration(dst *time.Duration, min time.Duration) func(any) error {
	return func(v any) error {
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		if err := atLeast(d, min); err != nil {
			return err
		}
		*dst = d
		return nil
	}
}

// maxQueueWait bounds the waits of queued mail (retry, expiration,
// delay_notification): found from outside, a retry of "2562047h" (Go's
// limit) overflowed once its random tenth was added, and the message was
// tried again at once, over and over, 1,221 times in 4 seconds.
const maxQueueWait = 10 * 365 * 24 * time.Hour

// queueWait is duration for a key bounded by maxQueueWait.
func queueWait(dst *time.Duration, min time.Duration) func(any) error {
	return func(v any) error {
		d, err := parseQueueWait(v)
		if err == nil {
			err = atLeast(d, min)
		}
		if err != nil {
			return err
		}
		*dst = d
		return nil
	}
}

// parseQueueWait is parseDuration for a wait of queued mail, at most
// maxQueueWait: a duration past Go's limit is said to be past this one
// (found from outside: told the limit was "2562047h", which is refused).
func parseQueueWait(v any) (time.Duration, error) {
	d, err := parseDuration(v)
	if errors.Is(err, errTooLong) || err == nil && d > maxQueueWait {
		return 0, fmt.Errorf("must be at most %s (10 years)", FormatDuration(maxQueueWait))
	}
	return d, err
}

func durations(dst *[]time.Duration) func(any) error {
	return func(v any) error {
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return fmt.Errorf(`must be a list of durations, for example ["15m", "30m", "60m", "240m"]`)
		}
		out := make([]time.Duration, 0, len(list))
		var bad itemErrors
		for i, item := range list {
			d, err := parseQueueWait(item)
			if err == nil {
				err = atLeast(d, time.Second)
			}
			if err != nil {
				bad = append(bad, itemError{i + 1, item, err})
				continue
			}
			out = append(out, d)
		}
		if len(bad) > 0 {
			return bad
		}
		*dst = out
		return nil
	}
}

func parseDuration(v any) (time.Duration, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf(`must be a duration in quotes, for example "90s", "15m" or "48h"`)
	}
	d, err := time.ParseDuration(s)
	if err != nil && strings.Contains(err.Error(), "invalid duration") && durationShape.MatchString(s) {
		// Well formed, but past Go's limit of about 292 years (found
		// from outside: "3000000h" was "not a duration").
		return 0, errTooLong
	}
	if err != nil {
		return 0, fmt.Errorf(`not a duration: use Go syntax such as "90s", "15m", "1h30m" or "48h"`)
	}
	return d, nil
}

// errTooLong is a duration past Go's limit.
var errTooLong = errors.New(`is too long: a duration is at most about 290 years ("2562047h")`)

// durationShape is the form time.ParseDuration reads.
var durationShape = regexp.MustCompile(`^[-+]?([0-9]*(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// atLeast checks a duration against the smallest value its key allows. A
// negative duration is valid Go syntax ("-5m"), so it gets this message,
// not "not a duration".
func atLeast(d, min time.Duration) error {
	switch {
	case d >= min:
		return nil
	case min == 0:
		return errors.New("must not be negative")
	}
	return fmt.Errorf("must be at least %s", FormatDuration(min))
}

// FormatDuration writes d as an administrator would, and as the
// configuration reads it: "1m", not "1m0s"; "48h", not "48h0m0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// maxSize is the largest size, in either form: 1 TiB ("1024GB"), far
// beyond any message or log file, and far below where float64 loses whole
// bytes.
const maxSize = 1 << 40

// errTooLarge is the one error for a size above maxSize, whichever form
// it is written in.
var errTooLarge = fmt.Errorf(`must be at most "1024GB" (1 TiB, %d bytes)`, int64(maxSize))

// ParseSize reads a size: a whole number of bytes, or a string holding a
// number (digits, with at most one decimal point between digits) and
// optionally a unit, KB, MB, GB, K, M, G or B, in any letter case and
// with or without a space before it ("20MB", "20 mb", "20M", "1.5MB";
// binary multiples: 1 MB = 1,048,576 bytes). A fraction of a byte is
// dropped. The size is from 1 byte to 1 TiB.
func ParseSize(v any) (int64, error) {
	const help = `must be a size: bytes as a number, or a string such as "512KB", "20MB" or "1GB" (units KB, MB, GB, or K, M, G, B; binary; at most "1024GB")`
	switch x := v.(type) {
	case int64:
		if x <= 0 {
			return 0, errors.New("must be greater than 0")
		}
		if x > maxSize {
			return 0, errTooLarge
		}
		return x, nil
	case string:
		s := strings.ToUpper(strings.TrimSpace(x))
		mult := int64(1)
		for _, u := range []struct {
			suffix string
			m      int64
		}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
			if strings.HasSuffix(s, u.suffix) {
				s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.m
				break
			}
		}
		// Digits with at most one decimal point: ParseFloat alone also
		// takes NaN, Inf, hex floats and exponents, and NaN passed every
		// comparison below, which left the limit at -2^63: no limit.
		if !plainNumber(s) {
			return 0, errors.New(help)
		}
		// On plain digits ParseFloat fails only beyond float64's range.
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f*float64(mult) > maxSize {
			return 0, errTooLarge
		}
		// A fraction of a byte rounds down to nothing: "0.1" is refused,
		// not taken as 0, which means no limit where a limit is optional.
		if n := int64(f * float64(mult)); n > 0 {
			return n, nil
		}
		return 0, errors.New("must be at least 1 byte")
	}
	return 0, errors.New(help)
}

// plainNumber reports whether s is digits, with at most one decimal point
// between digits ("20", "1.5").
func plainNumber(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	digits := func(d string) bool {
		return d != "" && strings.Trim(d, "0123456789") == ""
	}
	return digits(whole) && (!dot || digits(frac))
}

// FormatSize writes a size as ParseSize reads it: in the largest unit that
// divides it ("20MB"), else in bytes ("1000").
func FormatSize(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dGB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dMB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dKB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// filePath checks a file or folder path (required: not empty). A control
// character in it is, in practice, an escape that TOML read in double
// quotes: "C:\temp\new" is "C:", a tab, "emp", a line feed, "ew". No
// administrator means that, so the path is refused with the spelling
// intended. So are the Windows forms that depend on a current folder
// (pathForm).
func filePath(required bool) func(string) error {
	return func(s string) error {
		if required {
			if err := nonEmpty(s); err != nil {
				return err
			}
		}
		if err := noEscapes(s, "a path"); err != nil {
			return err
		}
		return pathForm(s)
	}
}

// noEscapes refuses a control character in s, which is, in practice, an
// escape that TOML read in double quotes ("C:\temp", "CORP\tom"), with
// the spelling intended; what is what s is ("a path").
func noEscapes(s, what string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			escapes := strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`, "\b", `\b`, "\f", `\f`)
			return fmt.Errorf(`holds the control character %U: in double quotes \t, \n, \r, \b and \f are escapes, not part of %s; write it in single quotes, '%s', or double each backslash`, r, what, escapes.Replace(s))
		}
	}
	return nil
}

// userName checks a user name (outbound.username): not empty, and no
// escape read in double quotes, as in "CORP\tom" (found from outside: a
// tab in the name, shown as written, and every login refused).
func userName(s string) error {
	if err := nonEmpty(s); err != nil {
		return err
	}
	return noEscapes(s, "a user name")
}

func nonEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// receivedToken checks text written into the Received header (and, for
// compat.version, the 220 greeting): printable ASCII on one line, as a
// header field and an SMTP reply must be (RFC 5322 section 2.2, RFC 5321
// section 4.2); a CR LF would end the header, and whatever followed it
// would be a header of its own ("Bcc: ..."). ";" ends the tokens of a
// Received field before its date (RFC 5322 section 3.6.7) and the version
// is written in parentheses, so neither ";" nor a parenthesis is allowed
// either. where names what the text is written into.
func receivedToken(where string) func(string) error {
	return func(s string) error {
		if err := nonEmpty(s); err != nil {
			return err
		}
		for _, r := range s {
			switch {
			case r == '\r' || r == '\n':
				return fmt.Errorf("must be on one line: it is written into %s, where a line break would start a header (or a reply) of its own", where)
			case r < 0x20 || r == 0x7f:
				return fmt.Errorf("must be printable ASCII: it is written into %s, and the control character %U is not allowed", where, r)
			case r > 0x7f:
				return fmt.Errorf("must be printable ASCII: it is written into %s, and %q is not ASCII", where, r)
			case r == ';' || r == '(' || r == ')':
				return fmt.Errorf("must not hold %q: it is written into %s as \"with PRODUCT(VERSION);\"", r, where)
			}
		}
		return nil
	}
}

// hostName reads a host name (hostname, outbound.server): see asciiName.
func hostName(s string) (string, error) {
	return asciiName(s, "a host name such as mail.example.com")
}

// HostName checks a host name as the configuration does, and returns it
// in ASCII (an internationalized name in its A-label form); its error
// says what is wrong ("must be a host name such as ... (why)"). The IIS
// importer uses it, so that what it writes loads.
func HostName(s string) (string, error) { return hostName(s) }

// domain reads a mail domain (local_domains, default_domain).
func domain(s string) (string, error) {
	return asciiName(s, "a domain such as example.com")
}

// asciiName checks a host or domain name and returns it as DNS, SMTP and
// the headers carry it: in ASCII, an internationalized name ("bücher.test")
// in its A-label form ("xn--bcher-kva.test", RFC 5890 section 2.3.2.1).
// Such a name is converted with UTS #46 lookup processing, as a resolver
// converts what a user types (golang.org/x/net/idna's Lookup profile):
// case and width are folded, so "Bücher.test" is the same domain. An ASCII
// name is kept as written (the host name's case shows in the greeting);
// its "xn--" labels must be valid A-labels. what completes "must be ...".
func asciiName(s, what string) (string, error) {
	if !isASCII(s) {
		a, err := idna.Lookup.ToASCII(s)
		if err != nil {
			return "", fmt.Errorf("must be %s (not a valid internationalized name: %s)", what, strings.TrimPrefix(err.Error(), "idna: "))
		}
		if err := checkName(a, what); err != nil {
			return "", fmt.Errorf("%w, in its ASCII form %q", err, a)
		}
		return a, nil
	}
	if err := checkName(s, what); err != nil {
		return "", err
	}
	return s, nil
}

// checkName checks an ASCII host or domain name.
func checkName(s, what string) error {
	if s == "" || len(s) > 253 {
		return fmt.Errorf("must be %s", what)
	}
	if t := strings.TrimSuffix(s, "."); t != s && t != "" && !strings.HasSuffix(t, ".") {
		// The root's dot of DNS's absolute form (IIS's MetaBase may
		// hold "mail.contoso.local."): not part of a name in SMTP.
		return fmt.Errorf("must be %s, without the dot at its end: write %q", what, t)
	}
	if strings.HasPrefix(s, "*.") {
		return fmt.Errorf("must be %s, not a pattern (no wildcards: name each one)", what)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("must be %s (empty or over-long label)", what)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			// RFC 1123 section 2.1 (after RFC 952): a label starts and
			// ends with a letter or a digit.
			return fmt.Errorf("must be %s (%q starts or ends with a hyphen)", what, label)
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("must be %s (%q is not allowed)", what, r)
			}
		}
		if len(label) > 4 && strings.EqualFold(label[:4], "xn--") {
			// An A-label must decode to a valid U-label (RFC 5890
			// section 2.3.2.1): a mistyped one names no domain.
			if _, err := idna.Lookup.ToUnicode(strings.ToLower(label)); err != nil {
				return fmt.Errorf("must be %s (%q is not a valid xn-- label)", what, label)
			}
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func ipOrEmpty(s string) error {
	if s == "" || s == "localhost" || net.ParseIP(strings.Trim(s, "[]")) != nil {
		return nil
	}
	return errors.New(`must be an IP address of this machine, "localhost" (127.0.0.1), or "" for all`)
}

// smartHost accepts what IIS's Outbound Server field accepted: a host name,
// an IPv4 address, or an address in brackets ("[10.0.0.5]").
func smartHost(s string) (string, error) {
	if s == "" {
		return s, nil
	}
	ip := s
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		ip = s[1 : len(s)-1]
		if net.ParseIP(ip) == nil {
			return "", errors.New("brackets must hold an IP address, for example [10.0.0.5]")
		}
	}
	if a := net.ParseIP(ip); a != nil {
		if a.IsUnspecified() {
			// Found from outside: a connection to 0.0.0.0 reaches this
			// machine (Linux), its own listener too, and Pickup mail was
			// "sent" into Drop.
			return "", errors.New("is no address to connect to (0.0.0.0 and :: mean every address of this machine); set the smart host's address")
		}
		return s, nil
	}
	if strings.Contains(s, ":") {
		return "", errors.New("must be a host name or IP address without a port; set [outbound] port for the port")
	}
	return hostName(s)
}

func hostOrIP(s string) (string, error) {
	if net.ParseIP(s) != nil {
		return s, nil
	}
	return hostName(s)
}

// choice reads one of vals, in any letter case ("STARTTLS", as Windows
// administrators often write such words), stored as vals has it.
func choice(dst *string, vals ...string) func(any) error {
	return func(v any) error {
		s, ok := v.(string)
		if !ok {
			return errors.New("must be a string in quotes: one of " + strings.Join(vals, ", "))
		}
		for _, want := range vals {
			if strings.EqualFold(s, want) {
				*dst = want
				return nil
			}
		}
		if slices.Contains(vals, "implicit") && (strings.EqualFold(s, "ssl") || strings.EqualFold(s, "tls")) {
			// IIS's words (found from outside): its "SSL" is TLS from
			// the first byte, and "TLS encryption" STARTTLS.
			return fmt.Errorf("must be one of %s: implicit is TLS from the first byte (IIS's SSL, port 465), starttls is TLS begun by STARTTLS (IIS's TLS encryption)", strings.Join(vals, ", "))
		}
		return fmt.Errorf("must be one of %s", strings.Join(vals, ", "))
	}
}

// Quote writes s as a TOML string the way problems show values: in single
// quotes when it holds a backslash ('FABRIKAM\svc', 'C:\inetpub'), which
// the administrator would otherwise read doubled, else in double quotes.
func Quote(s string) string { return show(s) }

func show(v any) string {
	switch x := v.(type) {
	case string:
		// A Windows path as written in single quotes, as TOML reads it
		// and the README shows it: 'C:\inetpub\mailroot', not
		// "C:\\inetpub\\mailroot", whose doubled backslashes an
		// administrator would take for a mistake of theirs.
		if strings.Contains(x, `\`) && !strings.Contains(x, "'") && !strings.ContainsFunc(x, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "'" + x + "'"
		}
		return strconv.Quote(x)
	case map[string]any:
		return "{...}"
	case []any:
		// As written in TOML, not as Go prints it: [["a"], 5], not [[a] 5].
		items := make([]string, len(x))
		for i, item := range x {
			items[i] = show(item)
		}
		return "[" + strings.Join(items, ", ") + "]"
	case float64:
		// A float as TOML has it: 2525.0, not 2525, which reads as the
		// whole number the problem says it is not (found from outside).
		f := strconv.FormatFloat(x, 'f', -1, 64)
		if !strings.ContainsAny(f, ".eEnN") {
			f += ".0"
		}
		return f
	}
	return fmt.Sprint(v)
}
