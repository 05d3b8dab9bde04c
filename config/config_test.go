package config

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testpki"
)

func TestMinimalFileIsComplete(t *testing.T) {
	c, err := Parse("mb.toml", []byte("[mailroot]\n[inbound]\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Inbound.Port != 25 || c.Inbound.MaxAttachmentSize != 20<<20 || c.Inbound.MaxRecipients != 100 {
		t.Errorf("defaults not applied: %+v", c.Inbound)
	}
	if c.Mailroot != d.Mailroot {
		t.Errorf("folders %+v, want %+v", c.Mailroot, d.Mailroot)
	}
	if want := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 4 * time.Hour}; len(c.Outbound.Retry) != 4 || c.Outbound.Retry[3] != want[3] {
		t.Errorf("retry %v", c.Outbound.Retry)
	}
	if c.Pickup.DefaultDomain != c.Hostname {
		t.Errorf("default_domain %q, want the hostname %q", c.Pickup.DefaultDomain, c.Hostname)
	}
}

func TestFullFile(t *testing.T) {
	dir := testdir.New(t)
	path := filepath.Join(dir, "mailbridge.toml")
	customDrop := filepath.Join(dir, "custom", "Drop")
	data := `hostname = "mail.example.com"
[mailroot]
root = "mr"
drop = '` + customDrop + `'
[inbound]
bind = "127.0.0.1"
port = 2525
max_attachment_size = "10MB"
max_message_size = 16777216
max_recipients = 5
data_timeout = "90s"
bare_lf_end = true
[outbound]
server = "[10.0.0.5]"
port = 587
retry = ["1m", "2m"]
[pickup]
dot_stuffed = false
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mailroot.Root != filepath.Join(dir, "mr") || c.Mailroot.Pickup != filepath.Join(dir, "mr", "Pickup") {
		t.Errorf("relative root not resolved against the file's folder: %+v", c.Mailroot)
	}
	if c.Mailroot.Drop != customDrop {
		t.Errorf("custom drop %q", c.Mailroot.Drop)
	}
	if c.Addr() != "127.0.0.1:2525" || c.Inbound.MaxAttachmentSize != 10<<20 || c.Inbound.MaxMessageSize != 16<<20 ||
		c.Inbound.DataTimeout != 90*time.Second || !c.Inbound.BareLFEnd || c.Outbound.Server != "[10.0.0.5]" || c.Pickup.DotStuffed {
		t.Errorf("values not taken: %+v", c)
	}
}

// TestEveryProblemAtOnce: each problem names file, line, key and value.
func TestEveryProblemAtOnce(t *testing.T) {
	data := `hostname = "bad host"
colour = "blue"
[inbound]
port = 70000
max_attachment_size = "lots"
max_recipients = "10"
data_timeout = "5 minutes"
bogus = 1
[outbound]
server = "relay.example.com:25"
retry = []
[pickup]
dot_stuffed = "yes"
[extras]
x = 1
`
	_, err := Parse("mb.toml", []byte(data))
	var errs Errors
	if !errors.As(err, &errs) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v is not Errors", err)
	}
	want := []string{
		`mb.toml:1: hostname = "bad host": must be a host name`,
		`mb.toml:2: colour = "blue": unknown key`,
		`mb.toml:4: inbound.port = 70000: must be from 1 to 65535`,
		`mb.toml:5: inbound.max_attachment_size = "lots": must be a size`,
		`mb.toml:6: inbound.max_recipients = "10": must be a whole number`,
		`mb.toml:7: inbound.data_timeout = "5 minutes": not a duration`,
		`mb.toml:8: inbound.bogus = 1: unknown key; known keys here: bind, port`,
		`mb.toml:10: outbound.server = "relay.example.com:25": must be a host name or IP address without a port`,
		`mb.toml:11: outbound.retry = []: must be a list of durations`,
		`mb.toml:13: pickup.dot_stuffed = "yes": must be true or false`,
		`mb.toml:14: extras: unknown section [extras]`,
	}
	if len(errs) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(errs), len(want), err)
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in:\n%s", w, msg)
		}
	}
}

// A key in the wrong section, or a name in the wrong case, is pointed to
// where it belongs (found from outside: "port = 25" above every section
// got only "known keys here: hostname").
func TestMisplacedKeyHints(t *testing.T) {
	data := `port = 2525
[Inbound]
x = 1
[mailroot]
Drop = "d"
[inbound]
retry = ["1m"]
`
	_, err := Parse("mb.toml", []byte(data))
	want := []string{
		`mb.toml:1: port = 2525: unknown key; port is a key of [inbound] and [outbound]: move it below the heading of the one you mean; known keys here: hostname`,
		`mb.toml:2: Inbound: unknown section [Inbound]: names are lower case, write [inbound]`,
		`mb.toml:5: mailroot.Drop = "d": unknown key: names are lower case, write drop`,
		`mb.toml:7: inbound.retry = ["1m"]: unknown key; retry is a key of [outbound]: move it below that heading; known keys here: bind`,
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse("mb.toml", []byte("[inbound]\nport = 25\nbind = 127.0.0.1\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "mb.toml:3: TOML syntax") {
		t.Fatalf("got %v", err)
	}
}

func TestFolderRules(t *testing.T) {
	_, err := Parse("mb.toml", []byte("[mailroot]\nroot = '/mr'\ndrop = '/mr/Pickup'\nsorttemp = '/mr/Pickup'\n"))
	if err == nil || !strings.Contains(err.Error(), "mailroot.drop") || !strings.Contains(err.Error(), "mailroot.sorttemp") {
		t.Fatalf("got %v", err)
	}
	_, err = Parse("mb.toml", []byte("[inbound]\nmax_attachment_size = '40MB'\n"))
	if err == nil || !strings.Contains(err.Error(), "raise max_message_size") {
		t.Fatalf("got %v", err)
	}
	// Only max_message_size written, below the default attachment limit:
	// the problem is on its line, not on a key the file does not have.
	_, err = Parse("mb.toml", []byte("[inbound]\nport = 25\nmax_message_size = '10MB'\n"))
	if err == nil || !strings.Contains(err.Error(), `mb.toml:3: inbound.max_message_size = "10MB": smaller than inbound.max_attachment_size (default 20MB)`) {
		t.Fatalf("got %v", err)
	}
}

// TestSizeProblemsQuoteAsWritten: a problem quotes a size as the file
// wrote it, not as FormatSize writes the number it became ("1536KB" for
// "1.5MB"), so that the administrator finds it; a size refused on its own
// is not compared with the other besides.
func TestSizeProblemsQuoteAsWritten(t *testing.T) {
	for _, tt := range []struct {
		name, toml string
		want       []string
	}{
		{"fractional max_message_size", "max_message_size = \"1.5MB\"", []string{
			`mb.toml:2: inbound.max_message_size = "1.5MB": smaller than inbound.max_attachment_size (default 20MB)`}},
		{"both written", "max_message_size = \"20 mb\"\nmax_attachment_size = \"0.5G\"", []string{
			`mb.toml:3: inbound.max_attachment_size = "0.5G": larger than inbound.max_message_size ("20 mb")`}},
		{"a number", "max_attachment_size = 52428800", []string{
			`mb.toml:2: inbound.max_attachment_size = 52428800: larger than inbound.max_message_size (default 30MB)`}},
		{"max_message_size refused", "max_message_size = \"lots\"\nmax_attachment_size = \"40MB\"", []string{
			`mb.toml:2: inbound.max_message_size = "lots": must be a size`}},
		{"max_attachment_size refused", "max_message_size = \"10MB\"\nmax_attachment_size = \"1.5TB\"", []string{
			`mb.toml:3: inbound.max_attachment_size = "1.5TB": must be a size`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mb.toml", []byte("[inbound]\n"+tt.toml+"\n"))
			checkProblems(t, err, "", tt.want)
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		ok   bool
	}{
		{int64(1024), 1024, true}, {"20MB", 20 << 20, true}, {"512 KB", 512 << 10, true}, {"1gb", 1 << 30, true},
		{"1.5MB", 3 << 19, true}, {"100", 100, true}, {"0", 0, false}, {"-1MB", 0, false}, {"MB", 0, false}, {true, 0, false},
		// NaN passed every comparison and meant no limit; a fraction of a
		// byte was taken as 0.
		{"NaN", 0, false}, {"nan MB", 0, false}, {"Inf", 0, false}, {"0.1", 0, false}, {"0.5", 0, false},
		{"0x10", 0, false}, {"1e3", 0, false}, {"1_000", 0, false}, {".5MB", 0, false}, {"5.MB", 0, false},
		{"0.5KB", 512, true}, {"1.5", 1, true},
		// 1 TiB at most, whichever form: a number was taken at any size.
		{int64(1 << 40), 1 << 40, true}, {"1024GB", 1 << 40, true}, {"1099511627776", 1 << 40, true},
		{int64(1<<40 + 1), 0, false}, {int64(99999999999999999), 0, false}, {"1099511627777", 0, false}, {"1025GB", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%v) = %d, %v", tt.in, got, err)
		}
	}
	// Too large is one error, as a number or as a string, with the bound.
	const tooLarge = `must be at most "1024GB" (1 TiB, 1099511627776 bytes)`
	for _, tt := range []struct{ key, value string }{
		{"inbound.max_message_size", `99999999999999999`},
		{"inbound.max_message_size", `"99999999999999999"`},
		{"inbound.max_attachment_size", `1099511627777`},
		{"inbound.max_attachment_size", `"1025GB"`},
		{"log.max_size", `"` + strings.Repeat("9", 400) + `"`},
	} {
		section, key, _ := strings.Cut(tt.key, ".")
		_, err := Parse("mb.toml", []byte("["+section+"]\n"+key+" = "+tt.value+"\n"))
		checkProblems(t, err, "", []string{"mb.toml:2: " + tt.key + " = " + tt.value + ": " + tooLarge})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("hostname = \"a.b\"\n[inbound]\nport = 25\n"))
	f.Add([]byte("[outbound]\nretry = [\"1m\"]\n[mailroot]\nroot='x'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.toml", data)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned %v, %v", c, err)
		}
		var errs Errors
		if err != nil && errors.As(err, &errs) && len(errs) == 0 {
			t.Fatal("empty Errors")
		}
	})
}

func TestInboundTLSKeys(t *testing.T) {
	dir := testdir.New(t)
	pki := testpki.New(t, "test CA")
	pki.PFX(t, filepath.Join(dir, "cert.pfx"), "s3cret", "mail.example.com")
	pki.PFX(t, filepath.Join(dir, "env.pfx"), "from-env", "mail.example.com")
	os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("s3cret\r\n"), 0o600)
	path := filepath.Join(dir, "mb.toml")
	os.WriteFile(path, []byte("[inbound]\ntls = \"starttls\"\npfx_path = 'cert.pfx'\npfx_password_file = 'pw.txt'\ntls_port = 465\nmin_tls_version = \"1.3\"\n"), 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Inbound.PFXPassword != "s3cret" || c.Inbound.PFXPath != filepath.Join(dir, "cert.pfx") || c.TLSAddr() != ":465" || c.Inbound.MinTLSVersion != 0x0304 {
		t.Fatalf("%+v", c.Inbound)
	}
	// The running server reads the password file again with a renewed
	// certificate: its path is kept, absolute.
	if c.Inbound.PFXPasswordFile != filepath.Join(dir, "pw.txt") {
		t.Fatalf("password file %q", c.Inbound.PFXPasswordFile)
	}
	t.Setenv("MB_TEST_PFX_PW", "from-env")
	c, err = Parse("mb.toml", []byte("[inbound]\ntls = \"implicit\"\npfx_path = '"+filepath.Join(dir, "env.pfx")+"'\npfx_password_env = 'MB_TEST_PFX_PW'\n"))
	if err != nil || c.Inbound.PFXPassword != "from-env" || c.Inbound.PFXPasswordFile != "" {
		t.Fatalf("%v %+v", err, c)
	}
}

// TestPFXProblems: the PFX file is read when the configuration is loaded,
// and what is wrong with it is a problem like any other, with the file,
// line, key and value; problems that do not depend on each other are all
// reported (a password conflict does not hide a missing file).
func TestPFXProblems(t *testing.T) {
	dir := testdir.New(t)
	testpki.New(t, "test CA").PFX(t, filepath.Join(dir, "cert.pfx"), "right", "mail.example.com")
	os.WriteFile(filepath.Join(dir, "text.pfx"), []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("right\n"), 0o600)
	t.Setenv("MB_TEST_PFX_PW", "right")
	os.WriteFile(filepath.Join(dir, "wrong.txt"), []byte("wrong-one\r\n"), 0o600)
	// As PowerShell 5.1 (">": UTF-16 with a byte order mark; Set-Content
	// -Encoding UTF8: a UTF-8 one) and cmd ("echo right > pw.txt": a space
	// before the line end) write password files.
	os.WriteFile(filepath.Join(dir, "pw-utf16.txt"), []byte{0xFF, 0xFE, 'r', 0, 'i', 0, 'g', 0, 'h', 0, 't', 0, '\r', 0, '\n', 0}, 0o600)
	os.WriteFile(filepath.Join(dir, "pw-bom.txt"), []byte("\xEF\xBB\xBFright\r\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "pw-echo.txt"), []byte("right \r\n"), 0o600)
	t.Setenv("MB_TEST_PFX_WRONG", "wrong-one")
	missing, cert := show(filepath.Join(dir, "missing.pfx")), show(filepath.Join(dir, "cert.pfx"))
	tests := []struct {
		name, inbound string
		want          []string // each problem, by its beginning, in order
	}{
		{"good", "pfx_path = 'cert.pfx'\npfx_password = \"right\"", nil},
		{"password file in UTF-16", "pfx_path = 'cert.pfx'\npfx_password_file = 'pw-utf16.txt'", nil},
		{"password file with a UTF-8 byte order mark", "pfx_path = 'cert.pfx'\npfx_password_file = 'pw-bom.txt'", nil},
		{"password file from cmd's echo", "pfx_path = 'cert.pfx'\npfx_password_file = 'pw-echo.txt'", nil},
		{"TLS off: the file is not needed", "tls = \"none\"\npfx_path = 'missing.pfx'", nil},
		{"missing file", "pfx_path = 'missing.pfx'\npfx_password = \"right\"", []string{
			`:3: inbound.pfx_path = ` + missing + `: cannot be read: `}},
		// A wrong password is a problem of the key that gave it, on its line.
		{"wrong password", "pfx_path = 'cert.pfx'\npfx_password = \"wrong-one\"", []string{
			`:4: inbound.pfx_password = (hidden): is the wrong password for the PFX file ` + cert + ` (pfx_path)`}},
		{"wrong password in pfx_password_file", "pfx_path = 'cert.pfx'\n\npfx_password_file = 'wrong.txt'", []string{
			`:5: inbound.pfx_password_file = ` + show(filepath.Join(dir, "wrong.txt")) + `: holds the wrong password for the PFX file ` + cert + ` (pfx_path); the password is the file's text, less trailing spaces and line ends (UTF-8, or UTF-16 with a byte order mark)`}},
		{"wrong password in pfx_password_env", "pfx_password_env = \"MB_TEST_PFX_WRONG\"\npfx_path = 'cert.pfx'", []string{
			`:3: inbound.pfx_password_env = "MB_TEST_PFX_WRONG": holds the wrong password for the PFX file ` + cert + ` (pfx_path)`}},
		{"empty pfx_password", "pfx_path = 'cert.pfx'\npfx_password = ''", []string{
			`:4: inbound.pfx_password = (hidden): is the wrong password for the PFX file ` + cert}},
		{"not a PFX", "pfx_path = 'text.pfx'\npfx_password = \"right\"", []string{
			`:3: inbound.pfx_path = ` + show(filepath.Join(dir, "text.pfx")) + `: not a PKCS#12 (.pfx or .p12) file`}},
		{"conflict and missing file", "pfx_path = 'missing.pfx'\npfx_password = \"right\"\npfx_password_env = \"MB_TEST_PFX_PW\"", []string{
			`:3: inbound.pfx_path = ` + missing + `: cannot be read: `,
			`:4: inbound.pfx_password: set only one of pfx_password, pfx_password_file and pfx_password_env`}},
		{"conflict without pfx_password: the line of the first", "pfx_path = 'cert.pfx'\n\npfx_password_env = \"MB_TEST_PFX_PW\"\npfx_password_file = 'pw.txt'", []string{
			`:5: inbound.pfx_password: set only one of`}},
		{"password file and PFX file missing", "pfx_path = 'missing.pfx'\npfx_password_file = 'nope.txt'", []string{
			`:3: inbound.pfx_path = ` + missing + `: cannot be read: `,
			`:4: inbound.pfx_password_file = ` + show(filepath.Join(dir, "nope.txt")) + `: cannot be read: `}},
		{"password not a string: no wrong password besides", "pfx_path = 'cert.pfx'\npfx_password = 12345678", []string{
			`:4: inbound.pfx_password = (hidden): must be a string in quotes`}},
		{"no password at all", "pfx_path = 'cert.pfx'", []string{
			`:3: inbound.pfx_path = ` + cert + `: is protected by a password: set pfx_password, pfx_password_file or pfx_password_env`}},
		{"no pfx_path: on the line that turns TLS on", "", []string{
			`:2: inbound.pfx_path: is required when inbound TLS is on`}},
		{"no pfx_path with tls_port: the first such line", "tls = \"none\"\nmin_tls_version = \"1.2\"\ntls_port = 465", []string{
			`:4: inbound.pfx_path: is required when inbound TLS is on`}},
		// Written but refused: said once, on its own line, not also as missing.
		{"pfx_path refused", "pfx_path = ''", []string{
			`:3: inbound.pfx_path = "": must not be empty`}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "mb"+strconv.Itoa(i)+".toml")
			text := "[inbound]\ntls = \"starttls\"\n" + tt.inbound + "\n"
			if strings.Contains(tt.inbound, "tls = ") {
				text = "[inbound]\n" + tt.inbound + "\n"
			}
			os.WriteFile(path, []byte(text), 0o644)
			_, err := Load(path)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkProblems(t, err, path, tt.want)
			for _, pw := range []string{"wrong-one", "12345678"} {
				if strings.Contains(err.Error(), pw) {
					t.Errorf("the password appears in:\n%v", err)
				}
			}
		})
	}
}

func TestInboundTLSProblems(t *testing.T) {
	_, err := Parse("mb.toml", []byte("[inbound]\ntls = \"ssl\"\ntls_port = 25\npfx_password = \"hunter2\"\npfx_password_env = \"NOPE_NOT_SET_X\"\nmin_tls_version = \"1.0\"\n"))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{`mb.toml:2: inbound.tls = "ssl": must be one of none, starttls, implicit`,
		"inbound.pfx_path: is required", "mb.toml:3: inbound.tls_port = 25: is the same as inbound.port",
		"inbound.pfx_password: set only one of", `mb.toml:6: inbound.min_tls_version = "1.0": must be "1.2" or "1.3"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	// The password itself never appears, even when its value is wrong.
	_, err = Parse("mb.toml", []byte("[inbound]\npfx_password = 12345678\n"))
	if err == nil || strings.Contains(err.Error(), "12345678") || !strings.Contains(err.Error(), "(hidden)") {
		t.Fatalf("got %v", err)
	}
}

// [pickup] ignore: the temporary names by default; an empty list takes
// every file, as IIS did; a list replaces the default.
func TestPickupIgnore(t *testing.T) {
	for _, tt := range []struct{ toml, want string }{
		{"[pickup]\n", ".* *.part *.filepart desktop.ini Thumbs.db"},
		{"[pickup]\nignore = []\n", ""},
		{"[pickup]\nignore = [\".*\", \"~*\"]\n", ".* ~*"},
	} {
		c, err := Parse("mb.toml", []byte(tt.toml))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(c.Pickup.Ignore, " "); got != tt.want {
			t.Errorf("%q: ignore %q, want %q", tt.toml, got, tt.want)
		}
	}
}

// IPv4-mapped IPv6 ranges stand for the IPv4 ranges they map: clients
// are matched as IPv4 (the listener unmaps them), so kept as IPv6 such a
// deny_from entry never denied anyone.
func TestMappedRanges(t *testing.T) {
	c, err := Parse("mb.toml", []byte("[inbound]\ndeny_from = [\"::ffff:127.0.0.3/128\", \"::ffff:127.0.0.0/104\", \"::ffff:10.1.2.3\", \"::/80\", \"2001:db8::/32\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.Inbound.DenyFrom {
		got = append(got, p.String())
	}
	want := "127.0.0.3/32 127.0.0.0/8 10.1.2.3/32 ::/80 2001:db8::/32"
	if strings.Join(got, " ") != want {
		t.Fatalf("deny_from read as %q, want %q", got, want)
	}
}

func TestRelayKeys(t *testing.T) {
	c, err := Parse("mb.toml", []byte("[inbound]\nlocal_domains = [\"corp.example\", \"alias.example\"]\nrelay_from = [\"10.1.2.3\", \"192.168.0.0/16\", \"2001:db8::/32\"]\nintercept = false\ndeny_from = [\"203.0.113.9\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	in := c.Inbound
	if len(in.LocalDomains) != 2 || len(in.RelayFrom) != 3 || in.RelayFrom[0].String() != "10.1.2.3/32" || in.Intercept || len(in.DenyFrom) != 1 {
		t.Fatalf("%+v", in)
	}
	if !Default().Inbound.Intercept {
		t.Error("the Email Interceptor is on by default")
	}
	_, err = Parse("mb.toml", []byte("[inbound]\nrelay_from = [\"10.0.0.0/33\"]\nlocal_domains = \"corp.example\"\n"))
	if err == nil || !strings.Contains(err.Error(), `mb.toml:2: inbound.relay_from: item 1 ("10.0.0.0/33"): must be an IP address or a CIDR range`) ||
		!strings.Contains(err.Error(), "mb.toml:3: inbound.local_domains") {
		t.Fatalf("got %v", err)
	}
}

// TestListItemProblems: every bad item of a list key is a problem of its
// own, with the line, the key, the item's number and its value; the good
// items around them do not hide them.
func TestListItemProblems(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string
	}{
		{"allow_from", "[inbound]\nallow_from = [\"10.0.0.0/33\", \"nonsense\"]\n", []string{
			`mb.toml:2: inbound.allow_from: item 1 ("10.0.0.0/33"): must be an IP address or a CIDR range such as 10.0.0.0/8`,
			`mb.toml:2: inbound.allow_from: item 2 ("nonsense"): must be an IP address or a CIDR range such as 10.0.0.0/8`,
		}},
		{"deny_from, a good item between", "[inbound]\ndeny_from = [\"1.2.3\", \"192.0.2.7\", \"::1/129\"]\n", []string{
			`mb.toml:2: inbound.deny_from: item 1 ("1.2.3"): must be an IP address`,
			`mb.toml:2: inbound.deny_from: item 3 ("::1/129"): must be an IP address`,
		}},
		{"relay_from, not a string", "[inbound]\n\nrelay_from = [10, \"10.0.0.0/8\", \"x\"]\n", []string{
			`mb.toml:3: inbound.relay_from: item 1 (10): must be a string in quotes`,
			`mb.toml:3: inbound.relay_from: item 3 ("x"): must be an IP address`,
		}},
		{"local_domains", "[inbound]\nlocal_domains = [\"corp.example\", \"bad domain\", \"\", \"a..b\", \"-x.test\", \"x-.test\", \"a-b.x_y.test\"]\n", []string{
			`mb.toml:2: inbound.local_domains: item 2 ("bad domain"): must be a domain such as example.com`,
			`mb.toml:2: inbound.local_domains: item 3 (""): must be a domain such as example.com`,
			`mb.toml:2: inbound.local_domains: item 4 ("a..b"): must be a domain such as example.com`,
			`mb.toml:2: inbound.local_domains: item 5 ("-x.test"): must be a domain such as example.com`,
			`mb.toml:2: inbound.local_domains: item 6 ("x-.test"): must be a domain such as example.com`,
		}},
		{"retry", "[outbound]\nretry = [\"-5m\", \"0s\", \"15m\", \"soon\"]\n", []string{
			`mb.toml:2: outbound.retry: item 1 ("-5m"): must be at least 1s`,
			`mb.toml:2: outbound.retry: item 2 ("0s"): must be at least 1s`,
			`mb.toml:2: outbound.retry: item 4 ("soon"): not a duration`,
		}},
		{"pickup ignore", "[pickup]\nignore = [\"*.tmp\", \"\", \"[a-\", \"tmp/*.eml\", 7]\n", []string{
			`mb.toml:2: pickup.ignore: item 2 (""): must be a file name pattern such as "*.tmp"`,
			`mb.toml:2: pickup.ignore: item 3 ("[a-"): must be a file name pattern`,
			`mb.toml:2: pickup.ignore: item 4 ("tmp/*.eml"): must be a file name pattern`,
			`mb.toml:2: pickup.ignore: item 5 (7): must be a string in quotes`,
		}},
		// A range with host bits set was read as the whole range: one
		// host meant, a /8 opened to relaying. Both readings are named.
		{"host bits", "[inbound]\nrelay_from = [\"10.0.0.1/8\", \"10.0.0.0/8\", \"192.168.1.1/32\"]\nallow_from = [\"2001:db8::1/32\"]\n" +
			"deny_from = [\"::ffff:10.0.0.1/104\", \"::ffff:0:0/80\", \"::ffff:10.0.0.0/104\", \"::ffff:10.0.0.9\"]\n", []string{
			`mb.toml:2: inbound.relay_from: item 1 ("10.0.0.1/8"): has host bits set after /8, so it would cover all of 10.0.0.0/8; write "10.0.0.0/8" for the range or "10.0.0.1" for the one host`,
			`mb.toml:3: inbound.allow_from: item 1 ("2001:db8::1/32"): has host bits set after /32, so it would cover all of 2001:db8::/32; write "2001:db8::/32" for the range or "2001:db8::1" for the one host`,
			`mb.toml:4: inbound.deny_from: item 1 ("::ffff:10.0.0.1/104"): has host bits set after /104, so it would cover all of ::ffff:10.0.0.0/104 (the IPv4 range 10.0.0.0/8); write "::ffff:10.0.0.0/104" for the range or "::ffff:10.0.0.1" for the one host`,
			`mb.toml:4: inbound.deny_from: item 2 ("::ffff:0:0/80"): has host bits set after /80, so it would cover all of ::/80; write "::/80" for the range or "::ffff:0.0.0.0" for the one host`,
		}},
		{"nested lists shown as TOML", "[inbound]\ndeny_from = [[\"10.0.0.1\", 2], \"x\"]\n", []string{
			`mb.toml:2: inbound.deny_from: item 1 (["10.0.0.1", 2]): must be a string in quotes`,
			`mb.toml:2: inbound.deny_from: item 2 ("x"): must be an IP address`,
		}},
		{"two keys", "[inbound]\nallow_from = [\"x\", \"y\"]\ndeny_from = [\"z\"]\n", []string{
			`mb.toml:2: inbound.allow_from: item 1 ("x")`,
			`mb.toml:2: inbound.allow_from: item 2 ("y")`,
			`mb.toml:3: inbound.deny_from: item 1 ("z")`,
		}},
		// A list over several lines: each bad item on its own line.
		{"local_domains over lines", `[inbound]
local_domains = [
  "good.example",
  "bad..example",
]
`, []string{
			`mb.toml:4: inbound.local_domains: item 2 ("bad..example"): must be a domain such as example.com`,
		}},
		{"pickup ignore over lines, comments", `[pickup]
ignore = [   # not "x", ], nor [
  # "a/b", a comment line
  "*.tmp",  # fine, "c/d"
  '', "ok", "a/b",
  """x/
y""", 'z\w',
  ["nested", "list"],
]
[inbound]
port = 0
`, []string{
			`mb.toml:5: pickup.ignore: item 2 (""): must be a file name pattern`,
			`mb.toml:5: pickup.ignore: item 4 ("a/b"): must be a file name pattern`,
			`mb.toml:6: pickup.ignore: item 5 ("x/\ny"): must be a file name pattern`,
			`mb.toml:7: pickup.ignore: item 6 ('z\w'): must be a file name pattern`,
			`mb.toml:8: pickup.ignore: item 7 (["nested", "list"]): must be a string in quotes`,
			`mb.toml:11: inbound.port = 0: must be from 1 to 65535`,
		}},
		{"strings holding ] , # and quotes", `[inbound]
allow_from = ["10.0.0.1",
  "a]b", "c,d",
  "e#f",
  "g\"]", 'h"',
  "10.0.0.0/8"]
deny_from = ["x"]
`, []string{
			`mb.toml:3: inbound.allow_from: item 2 ("a]b")`,
			`mb.toml:3: inbound.allow_from: item 3 ("c,d")`,
			`mb.toml:4: inbound.allow_from: item 4 ("e#f")`,
			`mb.toml:5: inbound.allow_from: item 5 ("g\"]")`,
			`mb.toml:5: inbound.allow_from: item 6 ("h\"")`,
			`mb.toml:7: inbound.deny_from: item 1 ("x")`,
		}},
		{"retry over lines, CRLF", "[outbound]\r\nretry = [\r\n  \"15m\",\r\n  \"soon\",\r\n  \"-1s\"\r\n]\r\n", []string{
			`mb.toml:4: outbound.retry: item 2 ("soon"): not a duration`,
			`mb.toml:5: outbound.retry: item 3 ("-1s"): must be at least 1s`,
		}},
		{"dotted key at the top, inline table", `inbound.relay_from = [
  "bad",
]
outbound = { retry = [
  "1m", "soon"] }
`, []string{
			`mb.toml:2: inbound.relay_from: item 1 ("bad")`,
			`mb.toml:5: outbound.retry: item 2 ("soon")`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mb.toml", []byte(tt.toml))
			checkProblems(t, err, "", tt.want)
		})
	}
}

// TestDurationMinimums: a negative duration is Go syntax, so it is told
// the smallest value allowed, not "not a duration"; the smallest value
// itself is accepted.
func TestDurationMinimums(t *testing.T) {
	tests := []struct {
		section, key, bad, want, min string
	}{
		{"inbound", "command_timeout", `"-5m"`, "must be at least 1s", `"1s"`},
		{"inbound", "data_timeout", `"999ms"`, "must be at least 1s", `"1s"`},
		{"inbound", "shutdown_timeout", `"-1s"`, "must not be negative", `"0s"`},
		{"outbound", "retry", `["-5m"]`, `item 1 ("-5m"): must be at least 1s`, `["1s"]`},
		{"outbound", "expiration", `"-5m"`, "must be at least 1m", `"1m"`},
		{"outbound", "expiration", `"59s"`, "must be at least 1m", `"1m"`},
		{"outbound", "delay_notification", `"-1h"`, "must not be negative", `"0s"`},
		{"outbound", "connect_timeout", `"0s"`, "must be at least 1s", `"1s"`},
		{"outbound", "command_timeout", `"-600s"`, "must be at least 1s", `"1s"`},
		{"pickup", "rescan", `"50ms"`, "must be at least 100ms", `"100ms"`},
		{"pickup", "quiet_period", `"-2s"`, "must not be negative", `"0s"`},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.bad, func(t *testing.T) {
			_, err := Parse("mb.toml", []byte("["+tt.section+"]\n"+tt.key+" = "+tt.bad+"\n"))
			if err == nil || !strings.Contains(err.Error(), "mb.toml:2: "+tt.section+"."+tt.key) || !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("got %v, want ...%s", err, tt.want)
			}
			if _, err := Parse("mb.toml", []byte("["+tt.section+"]\n"+tt.key+" = "+tt.min+"\n")); err != nil {
				t.Errorf("the smallest value %s is refused: %v", tt.min, err)
			}
		})
	}
}

// TestDelayNoticeNeverSent: a delay notice due at or after expiration is
// never sent (the message is in Badmail by then), which check and the
// start log warn of; "0s", no notice, is no such mistake.
func TestDelayNoticeNeverSent(t *testing.T) {
	for _, tt := range []struct {
		toml string
		want bool
	}{
		{"", false}, // 12h and 48h, IIS's
		{"delay_notification = \"72h\"\nexpiration = \"48h\"", true},
		{"delay_notification = \"48h\"", true},
		{"delay_notification = \"47h59m\"", false},
		{"expiration = \"6h\"", true}, // under the 12h default
		{"delay_notification = \"0s\"\nexpiration = \"1m\"", false},
	} {
		c, err := Parse("mb.toml", []byte("[outbound]\n"+tt.toml+"\n"))
		if err != nil {
			t.Fatalf("%q: %v", tt.toml, err)
		}
		if got := c.Outbound.DelayNoticeNeverSent(); got != tt.want {
			t.Errorf("%q: DelayNoticeNeverSent() = %v, want %v", tt.toml, got, tt.want)
		}
	}
}

// TestHostnameFQDN: a hostname without a dot, or an IP address, loads (IIS
// took it) but is no fully qualified domain name, which check and the
// start log say; HostnameFromMachine tells the machine's name, the
// default, from a name the file sets.
func TestHostnameFQDN(t *testing.T) {
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"mail.example.com", true}, {"mail.xn--bcher-kva.test", true}, {"a.b", true},
		{"localhost", false}, {"WEB01", false}, {"build_box", false},
		{"192.0.2.5", false}, {"10.0.0.1", false},
	} {
		if got := IsFQDN(tt.host); got != tt.want {
			t.Errorf("IsFQDN(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	for _, tt := range []struct {
		toml, machine, host string
		fromMachine         bool
	}{
		{"", "vm", "vm", true},
		{"", "mail.corp.example", "mail.corp.example", true},
		{"hostname = \"localhost\"\n", "mail.corp.example", "localhost", false},
		{"hostname = \"192.0.2.5\"\n", "vm", "192.0.2.5", false},
		{"hostname = \"vm\"\n", "vm", "vm", false}, // written, though the same
	} {
		c, err := parse("mb.toml", "", []byte(tt.toml), tt.machine)
		if err != nil {
			t.Fatalf("%q on %s: %v", tt.toml, tt.machine, err)
		}
		if c.Hostname != tt.host || c.HostnameFromMachine != tt.fromMachine {
			t.Errorf("%q on %s: hostname %q, from the machine %v; want %q, %v", tt.toml, tt.machine, c.Hostname, c.HostnameFromMachine, tt.host, tt.fromMachine)
		}
	}
	if c, err := parse("", "", nil, "vm"); err != nil || !c.HostnameFromMachine {
		t.Errorf("built-in defaults: %v, %+v", err, c)
	}
}

func TestOutboundTLSKeys(t *testing.T) {
	d := Default().Outbound
	if d.TLS != "opportunistic" || !d.VerifyCertificate || d.Username != "" || d.CAs != nil || d.ClearTextAuth() {
		t.Fatalf("defaults %+v", d)
	}
	dir := testdir.New(t)
	os.WriteFile(filepath.Join(dir, "ca.pem"), testpki.New(t, "internal CA").CAPEM(), 0o644)
	os.WriteFile(filepath.Join(dir, "pw.txt"), []byte("relay-s3cret\n"), 0o600)
	path := filepath.Join(dir, "mb.toml")
	os.WriteFile(path, []byte(`[outbound]
server = "10.0.0.5"
port = 587
tls = "starttls"
verify_certificate = false
server_name = "relay.corp.example"
ca_file = 'ca.pem'
username = "app@corp.example"
password_file = 'pw.txt'
`), 0o644)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Outbound
	if o.TLS != "starttls" || o.VerifyCertificate || o.ServerName != "relay.corp.example" || o.CAFile != filepath.Join(dir, "ca.pem") ||
		o.CAs == nil || o.Username != "app@corp.example" || o.Password != "relay-s3cret" || o.ClearTextAuth() {
		t.Fatalf("%+v", o)
	}
	t.Setenv("MB_TEST_RELAY_PW", "from-env")
	for _, tt := range []struct{ name, toml, pw string }{
		{"inline", "password = \"inline\"", "inline"},
		{"env", "password_env = \"MB_TEST_RELAY_PW\"", "from-env"},
	} {
		c, err := Parse("mb.toml", []byte("[outbound]\nserver = \"relay.test\"\ntls = \"implicit\"\nport = 465\nusername = \"u\"\n"+tt.toml+"\n"))
		if err != nil || c.Outbound.Password != tt.pw {
			t.Errorf("%s: %v %+v", tt.name, err, c)
		}
	}
	// tls = "none" with a password is allowed, and reported for check's warning.
	c, err = Parse("mb.toml", []byte("[outbound]\nserver = \"relay.test\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\n"))
	if err != nil || !c.Outbound.ClearTextAuth() {
		t.Fatalf("%v %+v", err, c)
	}
}

// TestVerifyCertificateDefault: opportunistic TLS does not verify unless
// asked to, or unless AUTH would send a password (RFC 7435).
func TestVerifyCertificateDefault(t *testing.T) {
	for _, tt := range []struct {
		toml string
		want bool
	}{
		{"", false},
		{"tls = \"opportunistic\"", false},
		{"verify_certificate = true", true},
		{"username = \"u\"\npassword = \"p\"", true},
		{"server_name = \"relay.corp.example\"", true},
		{"tls = \"starttls\"", true},
		{"tls = \"implicit\"\nport = 465", true},
		{"tls = \"starttls\"\nverify_certificate = false", false},
	} {
		c, err := Parse("mb.toml", []byte("[outbound]\nserver = \"relay.test\"\n"+tt.toml+"\n"))
		if err != nil || c.Outbound.VerifyCertificate != tt.want {
			t.Errorf("%q: verify %v, want %v (%v)", tt.toml, c != nil && c.Outbound.VerifyCertificate, tt.want, err)
		}
	}
}

// A CA file as Windows writes it is read: PEM after a UTF-8 byte-order
// mark with CRLF line ends (PowerShell 5.1's Set-Content -Encoding UTF8),
// or one DER certificate (the export wizard's .cer). Found from outside:
// the first was "holds no PEM certificate", which it visibly held.
func TestCAFileAsWindowsWritesIt(t *testing.T) {
	dir := testdir.New(t)
	pki := testpki.New(t, "corp CA")
	block, _ := pem.Decode(pki.CAPEM())
	files := map[string][]byte{
		"bom-crlf.pem": append([]byte{0xEF, 0xBB, 0xBF}, bytes.ReplaceAll(pki.CAPEM(), []byte("\n"), []byte("\r\n"))...),
		"der.cer":      block.Bytes,
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Parse("mb.toml", []byte("[outbound]\nserver = \"relay.test\"\nca_file = '"+path+"'\n"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cert, _ := x509.ParseCertificate(block.Bytes)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: c.Outbound.CAs}); err != nil {
			t.Fatalf("%s: the CA is not trusted: %v", name, err)
		}
	}
}

// A configuration file as Windows tools write it is read as its text:
// UTF-16 with a byte order mark from PowerShell 5.1's "import-iis >
// mailbridge.toml" (found from outside: "files cannot contain NULL bytes"),
// UTF-8 with one from Notepad. Problems keep their line numbers.
func TestConfigFileAsWindowsWritesIt(t *testing.T) {
	text := "hostname = \"mail.test\"\r\n[mailroot]\r\nroot = 'mail root ü'\r\n[inbound]\r\nport = 70000\r\n"
	utf16le := []byte{0xFF, 0xFE}
	utf16be := []byte{0xFE, 0xFF}
	for _, r := range utf16.Encode([]rune(text)) {
		utf16le = append(utf16le, byte(r), byte(r>>8))
		utf16be = append(utf16be, byte(r>>8), byte(r))
	}
	dir := testdir.New(t)
	for name, data := range map[string][]byte{
		"utf-16le":  utf16le,
		"utf-16be":  utf16be,
		"utf-8 bom": append([]byte{0xEF, 0xBB, 0xBF}, text...),
	} {
		path := filepath.Join(dir, name+".toml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), ":5: inbound.port = 70000") || strings.Contains(err.Error(), "mailroot.root") {
			t.Errorf("%s: want only the port problem, on line 5; got %v", name, err)
		}
	}
	// UTF-16 cut short (found from outside: the error showed a U+FFFD).
	path := filepath.Join(dir, "odd.toml")
	if err := os.WriteFile(path, append(utf16le, 'x'), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "odd.toml: the file is UTF-16") {
		t.Errorf("UTF-16 cut short: %v", err)
	}
	// ANSI (Windows-1252) with a non-ASCII letter: TOML is UTF-8 only.
	_, err := Parse("ansi.toml", []byte("[mailroot]\nroot = 'mail root \xfc'\n"))
	if err == nil || !strings.Contains(err.Error(), "ansi.toml:2: ") || !strings.Contains(err.Error(), "save the file as UTF-8") {
		t.Errorf("Windows-1252: %v", err)
	}
}

func TestOutboundTLSProblems(t *testing.T) {
	dir := testdir.New(t)
	notPEM := filepath.Join(dir, "ca.cer")
	os.WriteFile(notPEM, []byte{0x30, 0x82, 0x01}, 0o644)
	for _, tt := range []struct {
		name, toml string
		want       []string
	}{
		{"mode", "[outbound]\ntls = \"ssl\"\n", []string{`mb.toml:2: outbound.tls = "ssl": must be one of none, opportunistic, starttls, implicit`}},
		{"starttls without server", "[outbound]\ntls = \"starttls\"\n", []string{`mb.toml:2: outbound.tls = "starttls": needs [outbound] server`}},
		{"implicit without server", "[outbound]\n\ntls = \"implicit\"\n", []string{`mb.toml:3: outbound.tls = "implicit": needs [outbound] server`}},
		{"username without password", "[outbound]\nusername = \"u\"\n", []string{`mb.toml:2: outbound.username = "u": needs a password`}},
		{"password without username", "[outbound]\npassword = \"hunter2\"\n", []string{`mb.toml:2: outbound.password = (hidden): is set without outbound.username`}},
		{"two sources", "[outbound]\nusername = \"u\"\npassword = \"hunter2\"\npassword_env = \"X\"\n", []string{`mb.toml:3: outbound.password: set only one of password, password_file and password_env`}},
		{"env missing", "[outbound]\nusername = \"u\"\npassword_env = \"NOPE_NOT_SET_X\"\n", []string{`mb.toml:3: outbound.password_env = "NOPE_NOT_SET_X": no such environment variable`}},
		{"ca_file missing", "[outbound]\nca_file = 'nonexistent/ca.pem'\n", []string{`mb.toml:2: outbound.ca_file = "nonexistent/ca.pem": cannot be read`}},
		{"ca_file not PEM", "[outbound]\nca_file = '" + notPEM + "'\n", []string{`mb.toml:2: outbound.ca_file = ` + show(notPEM) + `: holds no certificate: neither PEM (-----BEGIN CERTIFICATE-----) nor one DER certificate`}},
		{"server_name", "[outbound]\nserver_name = \"relay.test:25\"\n", []string{`mb.toml:2: outbound.server_name = "relay.test:25": must be a host name`}},
		{"verify", "[outbound]\nverify_certificate = \"no\"\n", []string{`mb.toml:2: outbound.verify_certificate = "no": must be true or false`}},
	} {
		_, err := Parse("mb.toml", []byte(tt.toml))
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: missing %q in:\n%s", tt.name, w, err)
			}
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the password appears in %q", tt.name, err)
		}
	}
}

// TestReadmeBounds: the bounds README's configuration table gives are the
// ones Load enforces: each smallest (and largest) value is accepted and
// the next one beyond is refused.
func TestReadmeBounds(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var (
		sectionRow = regexp.MustCompile("^\\| \\*\\*`\\[(\\w+)\\]`\\*\\*")
		keyRow     = regexp.MustCompile("^\\| `(\\w+)` \\| [^|]* \\| (.*) \\|$")
		atLeast    = regexp.MustCompile("at least `\"([^\"]+)\"`")
		orMore     = regexp.MustCompile("`\"0s\"` or more")
		fromTo     = regexp.MustCompile(`\b(\d+) to (\d+)\b`)
		durFromTo  = regexp.MustCompile("`\"([^\"]+)\"` to `\"([^\"]+)\"`")
	)
	// accepts reports whether key = value alone raises no problem of key
	// itself (tls_port needs pfx_path besides, which is not its bound).
	accepts := func(key, value string) bool {
		section, name, _ := strings.Cut(key, ".")
		_, err := Parse("mb.toml", []byte("["+section+"]\n"+name+" = "+value+"\n"))
		var errs Errors
		errors.As(err, &errs)
		for _, p := range errs {
			if p.Key == key {
				return false
			}
		}
		return true
	}
	found := map[string]bool{}
	section := ""
	for _, line := range strings.Split(string(readme), "\n") {
		if m := sectionRow.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		m := keyRow.FindStringSubmatch(line)
		if m == nil || section == "" {
			continue
		}
		key, text := section+"."+m[1], m[2]
		list := key == "outbound.retry"
		quote := func(v string) string {
			if list {
				return `["` + v + `"]`
			}
			return `"` + v + `"`
		}
		if b := atLeast.FindStringSubmatch(text); b != nil {
			found[key] = true
			min, err := time.ParseDuration(b[1])
			if err != nil {
				t.Fatalf("%s: %q is not a duration", key, b[1])
			}
			below := (min - time.Millisecond).String()
			if !accepts(key, quote(b[1])) || accepts(key, quote(below)) {
				t.Errorf("README says %s is at least %s: %s accepted %v, %s accepted %v",
					key, b[1], b[1], accepts(key, quote(b[1])), below, accepts(key, quote(below)))
			}
		}
		if b := durFromTo.FindStringSubmatch(text); b != nil {
			found[key] = true
			lo, err1 := time.ParseDuration(b[1])
			hi, err2 := time.ParseDuration(b[2])
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %q or %q is not a duration", key, b[1], b[2])
			}
			if !accepts(key, quote(b[1])) || !accepts(key, quote(b[2])) || accepts(key, quote((lo-time.Millisecond).String())) || accepts(key, quote((hi+time.Millisecond).String())) {
				t.Errorf("README says %s is from %s to %s, Load does not agree", key, b[1], b[2])
			}
		}
		if orMore.MatchString(text) {
			found[key] = true
			if !accepts(key, `"0s"`) || accepts(key, `"-1ms"`) {
				t.Errorf("README says %s is 0s or more", key)
			}
		}
		if b := fromTo.FindStringSubmatch(text); b != nil {
			found[key] = true
			lo, _ := strconv.Atoi(b[1])
			hi, _ := strconv.Atoi(b[2])
			n := func(i int) string { return strconv.Itoa(i) }
			if !accepts(key, n(lo)) || !accepts(key, n(hi)) || accepts(key, n(hi+1)) || (b[1] != "0" && accepts(key, n(lo-1))) || accepts(key, "-1") {
				t.Errorf("README says %s is from %s to %s, Load does not agree", key, b[1], b[2])
			}
		}
	}
	for _, key := range []string{
		"inbound.port", "inbound.max_recipients", "inbound.max_connections", "inbound.command_timeout",
		"inbound.data_timeout", "inbound.shutdown_timeout", "inbound.tls_port",
		"outbound.port", "outbound.retry", "outbound.expiration", "outbound.delay_notification",
		"outbound.max_recipients_per_message", "outbound.max_messages_per_connection", "outbound.connections",
		"outbound.connect_timeout", "outbound.command_timeout",
		"pickup.rescan", "pickup.quiet_period", "log.max_files",
	} {
		if !found[key] {
			t.Errorf("README's row for %s gives no bounds", key)
		}
	}
}

// TestReadmeSizes: README's sentence on sizes says what ParseSize reads:
// each example is read, the largest size too and nothing beyond it, and
// what it says is not read ("no `TB`") is refused. The sentence once said
// "KB/MB/GB" alone, while "20 MB", "20mb", "20M" and "1.5MB" were read.
func TestReadmeSizes(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(readme)), " ")
	start := strings.Index(text, "Sizes are ")
	end := strings.Index(text, "; durations ")
	if start < 0 || end < start {
		t.Fatal(`README has no sentence "Sizes are ...; durations ..."`)
	}
	sentence := text[start:end]
	examples := regexp.MustCompile("`(\"[^\"]*\"|\\d+)`").FindAllStringSubmatch(sentence, -1)
	if len(examples) < 5 {
		t.Fatalf("too few examples in %q", sentence)
	}
	for _, m := range examples {
		var v any = strings.Trim(m[1], `"`)
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil {
			v = n
		}
		if _, err := ParseSize(v); err != nil {
			t.Errorf("README's size %s: %v", m[1], err)
		}
	}
	absent := regexp.MustCompile("no `(\\w+)`")
	for _, m := range absent.FindAllStringSubmatch(sentence, -1) {
		if n, err := ParseSize("1" + m[1]); err == nil {
			t.Errorf("README says there is no %s, and 1%s is read as %d", m[1], m[1], n)
		}
	}
	units := regexp.MustCompile("`([KMGB]B?)`").FindAllStringSubmatch(absent.ReplaceAllString(sentence, ""), -1)
	if len(units) != 7 {
		t.Errorf("README names %d units, ParseSize reads 7: %q", len(units), sentence)
	}
	for _, m := range units {
		for _, u := range []string{m[1], strings.ToLower(m[1]), " " + m[1]} {
			if _, err := ParseSize("2" + u); err != nil {
				t.Errorf("README's unit %s: %q: %v", m[1], "2"+u, err)
			}
		}
	}
	if !strings.Contains(sentence, "from 1 byte to 1 TiB (`\"1024GB\"`)") {
		t.Errorf("README does not give the bounds in %q", sentence)
	}
	if _, err := ParseSize(int64(1<<40 + 1)); err == nil {
		t.Error("1 TiB and a byte is read")
	}
}

// checkProblems checks that err lists exactly the problems want, in order,
// each by its beginning after prefix (the configuration file's path).
func checkProblems(t *testing.T, err error, prefix string, want []string) {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not Errors", err)
	}
	if len(errs) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if i < len(errs) && !strings.HasPrefix(errs[i].String(), prefix+w) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i+1, errs[i], prefix+w)
		}
	}
}

// TestInternationalizedNames: a key that takes a host or domain name
// accepts it in Unicode and holds its ASCII (A-label) form, which DNS, the
// SMTP commands and the headers carry; an ASCII name is kept as written.
func TestInternationalizedNames(t *testing.T) {
	c, err := Parse("mb.toml", []byte(`hostname = "mail.bücher.test"
[inbound]
local_domains = ["bücher.test", "MÜLLER.test", "xn--mller-kva.test", "Corp.Example", "ｍüller。test"]
[outbound]
server = "relais.bücher.test"
server_name = "smtp.straße.test"
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ key, got, want string }{
		{"hostname", c.Hostname, "mail.xn--bcher-kva.test"},
		{"pickup.default_domain (from hostname)", c.Pickup.DefaultDomain, "mail.xn--bcher-kva.test"},
		{"inbound.local_domains", strings.Join(c.Inbound.LocalDomains, " "),
			"xn--bcher-kva.test xn--mller-kva.test xn--mller-kva.test Corp.Example xn--mller-kva.test"},
		{"outbound.server", c.Outbound.Server, "relais.xn--bcher-kva.test"},
		// IDNA2008 (non-transitional): ß is a letter of its own.
		{"outbound.server_name", c.Outbound.ServerName, "smtp.xn--strae-oqa.test"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.key, tt.got, tt.want)
		}
	}
	c, err = Parse("mb.toml", []byte("hostname = \"Mail.Example.COM\"\n[pickup]\ndefault_domain = \"bücher.test\"\n"))
	if err != nil || c.Hostname != "Mail.Example.COM" || c.Pickup.DefaultDomain != "xn--bcher-kva.test" {
		t.Fatalf("%v %q %q", err, c.Hostname, c.Pickup.DefaultDomain)
	}

	_, err = Parse("mb.toml", []byte(`hostname = "mail.bü cher.test"
[inbound]
local_domains = ["ok.test", "bü_cher.test", "xn--zz.test", "XN--MLLER-KVA.TEST", "`+strings.Repeat("ü", 60)+`.test"]
[pickup]
default_domain = "-bücher.test"
`))
	checkProblems(t, err, "", []string{
		`mb.toml:1: hostname = "mail.bü cher.test": must be a host name such as mail.example.com (not a valid internationalized name: disallowed rune U+0020)`,
		`mb.toml:3: inbound.local_domains: item 2 ("bü_cher.test"): must be a domain such as example.com (not a valid internationalized name: disallowed rune U+005F)`,
		`mb.toml:3: inbound.local_domains: item 3 ("xn--zz.test"): must be a domain such as example.com ("xn--zz" is not a valid xn-- label)`,
		`mb.toml:3: inbound.local_domains: item 5 ("` + strings.Repeat("ü", 60) + `.test"): must be a domain such as example.com (empty or over-long label), in its ASCII form "xn--`,
		`mb.toml:5: pickup.default_domain = "-bücher.test": must be a domain such as example.com (not a valid internationalized name: invalid label "-bücher")`,
	})
	// DNS's absolute form, and a wildcard, get what to write instead.
	_, err = Parse("mb.toml", []byte("hostname = \"mail.example.com.\"\n[inbound]\nlocal_domains = [\"*.example.net\", \"Example.org.\"]\n"))
	checkProblems(t, err, "", []string{
		`mb.toml:1: hostname = "mail.example.com.": must be a host name such as mail.example.com, without the dot at its end: write "mail.example.com"`,
		`mb.toml:3: inbound.local_domains: item 1 ("*.example.net"): must be a domain such as example.com, not a pattern (no wildcards: name each one)`,
		`mb.toml:3: inbound.local_domains: item 2 ("Example.org."): must be a domain such as example.com, without the dot at its end: write "Example.org"`,
	})
}

// TestHeaderText: what the Received header and the greeting carry must be
// printable ASCII on one line, or a CR LF in the configuration would start
// a header of its own in every Drop file ("Bcc: ..."); the problem names
// the key, the value (escaped, on one line) and the line.
func TestHeaderText(t *testing.T) {
	c, err := Parse("mb.toml", []byte("[compat]\nproduct = \"Acme Mail Gateway\"\nversion = \"6.2-rc.1 build 7\"\n"))
	if err != nil || c.Compat.Product != "Acme Mail Gateway" || c.Compat.Version != "6.2-rc.1 build 7" {
		t.Fatalf("%v %+v", err, c)
	}
	for _, tt := range []struct{ toml, want string }{
		{`product = "Foo\r\nBcc: x"`, `mb.toml:3: compat.product = "Foo\r\nBcc: x": must be on one line: it is written into the Received header`},
		{`version = "10.0\r\nBcc: x"`, `mb.toml:3: compat.version = "10.0\r\nBcc: x": must be on one line: it is written into the Received header and the greeting`},
		{`version = "10.0\n"`, `mb.toml:3: compat.version = "10.0\n": must be on one line`},
		{`product = """Foo
Bcc: x"""`, `mb.toml:3: compat.product = "Foo\nBcc: x": must be on one line`},
		{`product = "Foo\tBar"`, `mb.toml:3: compat.product = "Foo\tBar": must be printable ASCII: it is written into the Received header, and the control character U+0009 is not allowed`},
		{`product = "Foo\u0000"`, `mb.toml:3: compat.product = "Foo\x00": must be printable ASCII`},
		{`product = "Micrösoft SMTPSVC"`, `mb.toml:3: compat.product = "Micrösoft SMTPSVC": must be printable ASCII: it is written into the Received header, and 'ö' is not ASCII`},
		{`version = "10.0); x"`, `mb.toml:3: compat.version = "10.0); x": must not hold ')'`},
		{`product = "A;B"`, `mb.toml:3: compat.product = "A;B": must not hold ';'`},
		{`product = " "`, `mb.toml:3: compat.product = " ": must not be empty`},
	} {
		_, err := Parse("mb.toml", []byte("# header text\n[compat]\n"+tt.toml+"\n"))
		checkProblems(t, err, "", []string{tt.want})
	}
	// Without hostname, the machine's name is used: it is checked as well.
	for _, tt := range []struct{ name, want string }{
		{"mail.example.com", ""},
		{"build_box", ""},
		{"my box", `mb.toml: hostname: is not set, and this machine's name "my box" must be a host name such as mail.example.com (' ' is not allowed); set hostname`},
		{"box\r\nBcc: x", `mb.toml: hostname: is not set, and this machine's name "box\r\nBcc: x" must be a host name`},
	} {
		l := &loader{file: "mb.toml"}
		l.machineName(tt.name)
		if got := l.errs.Error(); tt.want == "" && got != "" || !strings.HasPrefix(got, tt.want) {
			t.Errorf("machine name %q: got %q, want %q...", tt.name, got, tt.want)
		}
	}
}

// TestWindowsPathInDoubleQuotes: in double quotes a backslash starts a
// TOML escape. The syntax errors this makes say how to write a Windows
// path; the escapes that are valid (\t, \n, \b, \f, \r) make control
// characters no path holds, refused with the path as intended.
func TestWindowsPathInDoubleQuotes(t *testing.T) {
	const hint = `in double quotes a backslash starts an escape: for a Windows path use single quotes ('C:\inetpub\mailroot') or double each backslash ("C:\\inetpub\\mailroot")`
	for _, tt := range []struct{ toml, want string }{
		{`root = "C:\inetpub\mailroot"`, `mb.toml:3: TOML syntax: invalid escape in string '\i'; ` + hint},
		{`root = "C:\Users\mail\root"`, `mb.toml:3: TOML syntax: '\U' starts an escape for a character given by its number in hexadecimal; ` + hint},
		{`root = "C:\users\mail\root"`, `mb.toml:3: TOML syntax: '\u' starts an escape for a character given by its number in hexadecimal; ` + hint},
		{`root = "\\server\share\mailroot"`, `mb.toml:3: TOML syntax: invalid escape in string '\s'; ` + hint},
		{`drop = "D:\"`, `mb.toml:3: TOML syntax: strings cannot contain newlines; ` + hint},
		{`root = "C:\temp\new"`, `mb.toml:3: mailroot.root = "C:\temp\new": holds the control character U+0009: in double quotes \t, \n, \r, \b and \f are escapes, not part of a path; write it in single quotes, 'C:\temp\new', or double each backslash`},
		{`badmail = "E:\mail\badmail"`, `mb.toml:3: TOML syntax: invalid escape in string '\m'; ` + hint},
		{`badmail = "E:\\mail\badmail"`, `mb.toml:3: mailroot.badmail = "E:\\mail\badmail": holds the control character U+0008: in double quotes \t, \n, \r, \b and \f are escapes, not part of a path; write it in single quotes, 'E:\mail\badmail'`},
	} {
		_, err := Parse("mb.toml", []byte("# paths\n[mailroot]\n"+tt.toml+"\n"))
		checkProblems(t, err, "", []string{tt.want})
	}
	// The ways that work: the path arrives as meant. Outside Windows it
	// is then refused as a Windows path (pathForm), which it can only be
	// if it arrived whole.
	for _, tt := range []struct{ toml, path string }{
		{`'C:\inetpub\mailroot'`, `C:\inetpub\mailroot`},
		{`"C:\\inetpub\\mailroot"`, `C:\inetpub\mailroot`},
		{`'\\server\share\mailroot'`, `\\server\share\mailroot`},
	} {
		c, err := Parse("mb.toml", []byte("[mailroot]\nroot = "+tt.toml+"\n"))
		if runtime.GOOS != "windows" {
			checkProblems(t, err, "", []string{"mb.toml:2: mailroot.root = '" + tt.path + "': is a Windows path"})
			continue
		}
		if err != nil || c.Mailroot.Root != tt.path {
			t.Errorf("root = %s: %v %+v", tt.toml, err, c)
		}
	}
	// A syntax error elsewhere gets no such advice (but the quoting one).
	_, err := Parse("mb.toml", []byte("[inbound]\nbind = 127.0.0.1\n"))
	if err == nil || strings.Contains(err.Error(), "a backslash starts an escape") || !strings.Contains(err.Error(), "text values go in quotes") {
		t.Errorf("got %v", err)
	}
}

// TestBuiltInDefaults: without a file (Load("")) the defaults are checked
// as a file's values are. The machine's name, the default hostname, may be
// no host name; it is then reported as a bad hostname in a file is, with
// no file or line to name, saying where the value came from and how to
// set another. The defaults' derived keys are filled in as for a file.
func TestBuiltInDefaults(t *testing.T) {
	for _, tt := range []struct{ machine, hostname, want string }{
		{"mail.example.com", "mail.example.com", ""},
		{"build_box", "build_box", ""},
		{"mail.bücher.test", "mail.xn--bcher-kva.test", ""},
		{"my box", "", `built-in default: hostname = "my box": must be a host name such as mail.example.com (' ' is not allowed); this machine's name is used when no configuration file sets hostname: write hostname = "...", the name clients know this server by, in `},
		{"box\r\nBcc: x", "", `built-in default: hostname = "box\r\nBcc: x": must be a host name such as mail.example.com ('\r' is not allowed); this machine's name is used`},
	} {
		t.Run(tt.machine, func(t *testing.T) {
			c, err := parse("", "", nil, tt.machine)
			if tt.want != "" {
				checkProblems(t, err, "", []string{tt.want})
				// On Windows the file read when it exists is named.
				where := "in a configuration file, given with --config FILE"
				if f := DefaultFile(); f != "" {
					where = "in " + f + " (read when it exists), or in a file given with --config FILE"
				}
				if !strings.HasSuffix(err.Error(), where) {
					t.Errorf("%v\nwant it to end %q", err, where)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.File != "" || c.Hostname != tt.hostname || c.Pickup.DefaultDomain != tt.hostname || c.Mailroot != defaults(tt.machine).Mailroot {
				t.Errorf("file %q, hostname %q, default_domain %q, folders %+v; want hostname and default_domain %q, folders %+v",
					c.File, c.Hostname, c.Pickup.DefaultDomain, c.Mailroot, tt.hostname, defaults(tt.machine).Mailroot)
			}
		})
	}
	// Load("") is that check, on this machine.
	c, err := Load("")
	if _, nameErr := hostName(machineName()); nameErr != nil {
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "built-in default: hostname = ") {
			t.Fatalf("this machine's name %q is no host name; Load(\"\"): %v", machineName(), err)
		}
		return
	}
	if err != nil || c.File != "" || c.Pickup.DefaultDomain == "" || c.Pickup.DefaultDomain != c.Hostname {
		t.Fatalf("Load(\"\") = %+v, %v; want the defaults, default_domain the hostname", c, err)
	}
}

// TestFoldersOfTheirOwn: folders that would read each other's files as
// mail are refused, on the line that set the second of them.
func TestFoldersOfTheirOwn(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string
	}{
		{"badmail is pickup", "[mailroot]\nroot = \"mr\"\nbadmail = \"mr/Pickup\"\n", []string{
			`mb.toml:3: mailroot.badmail = "mr/Pickup": is the Pickup folder: Badmail must be a folder of its own`}},
		{"badmail is drop, written otherwise", "[mailroot]\nroot = \"mr\"\nbadmail = \"mr/./Drop/\"\n", []string{
			`mb.toml:3: mailroot.badmail = "mr/./Drop/": is the Drop folder`}},
		{"badmail is queue", "[mailroot]\nroot = \"mr\"\nqueue = \"q\"\nbadmail = \"q\"\n", []string{
			`mb.toml:4: mailroot.badmail = "q": is the Queue folder`}},
		{"drop is pickup", "[mailroot]\nroot = \"mr\"\ndrop = \"mr/Pickup\"\n", []string{
			`mb.toml:3: mailroot.drop = "mr/Pickup": is the Pickup folder`}},
		{"queue is drop", "[mailroot]\nroot = \"mr\"\nqueue = \"mr/Drop\"\n", []string{
			`mb.toml:3: mailroot.queue = "mr/Drop": is the Drop folder: Queue must be a folder of its own`}},
		{"sorttemp is pickup", "[mailroot]\nroot = \"mr\"\nsorttemp = \"mr/Pickup\"\n", []string{
			`mb.toml:3: mailroot.sorttemp = "mr/Pickup": is the Pickup folder: SortTemp must be a folder of its own`}},
		// The key the file wrote is named, not the one it left to its
		// default (found from outside: drop = "mr/Queue" was reported as
		// mailroot.queue, on no line).
		{"drop is queue", "[mailroot]\nroot = \"mr\"\ndrop = \"mr/Queue\"\n", []string{
			`mb.toml:3: mailroot.drop = "mr/Queue": is the Queue folder: Queue must be a folder of its own; choose another folder`}},
		{"pickup is drop", "[mailroot]\nroot = \"mr\"\npickup = \"mr/Drop\"\n", []string{
			`mb.toml:3: mailroot.pickup = "mr/Drop": is the Drop folder: received mail would be relayed out again; choose another folder`}},
		{"pickup is sorttemp", "[mailroot]\nroot = \"mr\"\npickup = \"mr/SortTemp\"\n", []string{
			`mb.toml:3: mailroot.pickup = "mr/SortTemp": is the SortTemp folder: SortTemp must be a folder of its own`}},
		{"queue is badmail", "[mailroot]\nroot = \"mr\"\nqueue = \"mr/Badmail\"\n", []string{
			`mb.toml:3: mailroot.queue = "mr/Badmail": is the Badmail folder: Badmail must be a folder of its own`}},
		{"both written", "[mailroot]\npickup = \"p\"\ndrop = \"p\"\n", []string{
			`mb.toml:3: mailroot.drop = "p": is the Pickup folder`}},
		// Found from outside: with both written, it said what was wrong
		// and not what to do.
		{"both written, what to do", "[mailroot]\ndrop = \"x/q\"\nqueue = \"x/q/\"\n", []string{
			`mb.toml:3: mailroot.queue = "x/q/": is the Drop folder: Queue must be a folder of its own; choose another folder`}},
		// A log in Pickup would be sent as mail, file by file, each
		// refusal logged in turn.
		{"log file in pickup", "[mailroot]\nroot = \"mr\"\n[log]\nfile = \"mr/Pickup/mb.log\"\n", []string{
			`mb.toml:4: log.file = "mr/Pickup/mb.log": is in the Pickup folder (` + filepath.Join("mr", "Pickup") + `): every log file closed there would be taken for a message`}},
		{"w3c_dir under pickup", "[mailroot]\npickup = \"p\"\n[log]\nw3c_dir = \"p/./w3c/\"\n", []string{
			`mb.toml:4: log.w3c_dir = "p/./w3c/": is in the Pickup folder (p)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mb.toml", []byte(tt.toml))
			checkProblems(t, err, "", tt.want)
		})
	}
	// From a file, a relative folder is quoted as written, not as
	// resolved against the file's folder.
	dir := testdir.New(t)
	path := filepath.Join(dir, "mb.toml")
	os.WriteFile(path, []byte("[mailroot]\nroot = \"mr\"\nqueue = \"mr/Drop\"\n"), 0o644)
	_, err := Load(path)
	checkProblems(t, err, path, []string{`:3: mailroot.queue = "mr/Drop": is the Drop folder: Queue must be a folder of its own`})
	// Badmail under Pickup, or SortTemp's, is no problem: Pickup is not
	// read recursively, and SortTemp's cleaning removes its own files only.
	for _, ok := range []string{"badmail = \"mr/Pickup/Badmail\"\n", "badmail = \"mr/SortTemp\"\n"} {
		if _, err := Parse("mb.toml", []byte("[mailroot]\nroot = \"mr\"\n"+ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestCoversAll(t *testing.T) {
	for _, tt := range []struct {
		list       string
		all4, all6 bool
	}{
		{"", false, false},
		{"0.0.0.0/0", true, false},
		{"::/0", false, true},
		{"0.0.0.0/0 ::/0", true, true},
		{"10.0.0.0/8 0.0.0.0/1 128.0.0.0/1", true, false},
		{"0.0.0.0/2 64.0.0.0/2 128.0.0.0/2 192.0.0.0/3 224.0.0.0/3", true, false},
		{"0.0.0.0/2 64.0.0.0/2 128.0.0.0/2 192.0.0.0/3", false, false},
		{"0.0.0.0/1 128.0.0.0/2 192.0.0.0/2 255.255.255.255/32", true, false},
		{"0.0.0.0/1 128.0.0.0/2 192.0.0.0/3 224.0.0.0/4 240.0.0.0/5 248.0.0.0/6 252.0.0.0/7 254.0.0.0/8 255.0.0.0/9 255.128.0.0/9", true, false},
		{"0.0.0.0/1 128.0.0.1/32 128.0.0.0/2 192.0.0.0/2", true, false},
		{"1.0.0.0/8 0.0.0.0/1 128.0.0.0/1", true, false},
		{"1.0.0.0/1 128.0.0.0/1", true, false}, // 1.0.0.0/1 is 0.0.0.0/1 once masked
		{"127.0.0.1 10.0.0.0/8", false, false},
		{"::ffff:0:0/96", true, false},
		{"::ffff:0:0/97 128.0.0.0/1", true, false},
		{"::/1 8000::/1", false, true},
		{"::/1 8000::/2", false, false},
	} {
		var ps []netip.Prefix
		for _, s := range strings.Fields(tt.list) {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a := netip.MustParseAddr(s)
				p = netip.PrefixFrom(a, a.BitLen())
			}
			ps = append(ps, p)
		}
		if all4, all6 := CoversAll(ps); all4 != tt.all4 || all6 != tt.all6 {
			t.Errorf("CoversAll(%s) = %v, %v; want %v, %v", tt.list, all4, all6, tt.all4, tt.all6)
		}
	}
}

// A float is shown as a float, and a key written twice gets advice
// (found from outside: "port = 2525: must be a whole number").
func TestFloatShownAndDuplicateAdvice(t *testing.T) {
	_, err := Parse("mb.toml", []byte("[inbound]\nport = 2525.0\n"))
	if err == nil || !strings.Contains(err.Error(), "mb.toml:2: inbound.port = 2525.0: must be a whole number") {
		t.Errorf("got %v", err)
	}
	_, err = Parse("mb.toml", []byte("[inbound]\nport = 2525\nport = 2526\n"))
	if err == nil || !strings.Contains(err.Error(), "mb.toml:3: TOML syntax") || !strings.Contains(err.Error(), "remove one of them") {
		t.Errorf("got %v", err)
	}
}

// defaultRoot is the default mail root of a file in dir.
func defaultRoot(dir string) string {
	if r := Default().Mailroot.Root; !filepath.IsAbs(r) {
		return filepath.Join(dir, r)
	}
	return Default().Mailroot.Root
}

// FolderProblem names the key that gave a folder its path, with its line:
// the folder's own, or else mailroot.root, set or the default.
func TestFolderProblem(t *testing.T) {
	dir := testdir.New(t)
	path := filepath.Join(dir, "mailbridge.toml")
	for _, tc := range []struct {
		name, data, folder, want string
	}{
		{"own key", "[mailroot]\nroot = 'mr'\ndrop = 'd'\n", "Drop",
			path + `:3: mailroot.drop = "d": the Drop folder ` + filepath.Join(dir, "d") + `: gone`},
		{"own key absolute", "[mailroot]\nroot = 'mr'\ndrop = " + show(filepath.Join(dir, "d")) + "\n", "Drop",
			path + `:3: mailroot.drop = ` + show(filepath.Join(dir, "d")) + `: the Drop folder: gone`},
		{"root's key", "hostname = \"mx.test\"\n[mailroot]\nroot = 'mr'\ndrop = 'd'\n", "Pickup",
			path + `:3: mailroot.root = "mr": the Pickup folder ` + filepath.Join(dir, "mr", "Pickup") + `: gone`},
		{"root not written", "[mailroot]\nqueue = 'q'\n", "SortTemp",
			path + `: mailroot.root = ` + show(defaultRoot(dir)) + ` (not set: the default): the SortTemp folder `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.FolderProblem(tc.folder, "gone").String(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	c, err := Load("")
	if err != nil {
		t.Skipf("the built-in defaults do not load on this machine: %v", err)
	}
	if got, want := c.FolderProblem("Drop", "gone").String(), "built-in default: mailroot.root = "; !strings.HasPrefix(got, want) || strings.Contains(got, "not set") {
		t.Errorf("got %s, want it to start %q", got, want)
	}
}

// The advice on writing Windows paths in TOML goes with paths only (found
// from outside: "bind = 127" was told about single quotes and backslashes).
func TestStringTypeHints(t *testing.T) {
	_, err := Parse("mb.toml", []byte("[inbound]\nbind = 127\n[log]\nfile = 5\n"))
	checkProblems(t, err, "", []string{
		`mb.toml:2: inbound.bind = 127: must be a string in quotes`,
		`mb.toml:4: log.file = 5: must be a string in quotes (for a Windows path use single quotes`,
	})
	if strings.Contains(err.Error(), "bind = 127: must be a string in quotes (") {
		t.Errorf("bind got the path advice: %v", err)
	}
}

// The words of tls and level are read in any case, and kept as the
// program knows them (found from outside: "STARTTLS" was refused).
func TestChoicesInAnyCase(t *testing.T) {
	c, err := Parse("mb.toml", []byte("[inbound]\ntls = \"None\"\n[outbound]\nserver = \"relay.test\"\ntls = \"STARTTLS\"\n[log]\nlevel = \"Debug\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Inbound.TLS != "none" || c.Outbound.TLS != "starttls" || c.Log.Level != "debug" {
		t.Errorf("inbound.tls %q, outbound.tls %q, log.level %q", c.Inbound.TLS, c.Outbound.TLS, c.Log.Level)
	}
	_, err = Parse("mb.toml", []byte("[outbound]\ntls = true\n"))
	checkProblems(t, err, "", []string{`mb.toml:2: outbound.tls = true: must be a string in quotes: one of none, opportunistic, starttls, implicit`})
}

// A duration past Go's limit is too long, not malformed.
func TestDurationTooLong(t *testing.T) {
	_, err := Parse("mb.toml", []byte("[inbound]\ndata_timeout = \"3000000h\"\ncommand_timeout = \"5 min\"\n"))
	checkProblems(t, err, "", []string{
		`mb.toml:2: inbound.data_timeout = "3000000h": is too long: a duration is at most about 290 years`,
		`mb.toml:3: inbound.command_timeout = "5 min": not a duration`,
	})
}

// The waits of queued mail are at most 10 years: a retry of Go's largest
// duration overflowed once its random tenth was added, and the message was
// tried again at once, without end (found from outside).
func TestQueueWaitsBounded(t *testing.T) {
	_, err := Parse("mb.toml", []byte("[outbound]\nretry = [\"15m\", \"2562047h\"]\nexpiration = \"87601h\"\ndelay_notification = \"3000000h\"\n"))
	checkProblems(t, err, "", []string{
		`mb.toml:2: outbound.retry: item 2 ("2562047h"): must be at most 87600h (10 years)`,
		`mb.toml:3: outbound.expiration = "87601h": must be at most 87600h (10 years)`,
		`mb.toml:4: outbound.delay_notification = "3000000h": must be at most 87600h (10 years)`,
	})
	c, err := Parse("mb.toml", []byte("[outbound]\nretry = [\"87600h\"]\nexpiration = \"87600h\"\n"))
	if err != nil || c.Outbound.Retry[0] != 87600*time.Hour {
		t.Fatal(c, err)
	}
}

// A user name written in double quotes with a backslash escape ("CORP\tom"
// holds a tab) is refused with the spelling intended.
func TestUserNameEscapes(t *testing.T) {
	_, err := Parse("mb.toml", []byte("[outbound]\nserver = \"relay.test\"\nusername = \"CORP\\tom\"\npassword = \"x\"\n"))
	checkProblems(t, err, "", []string{`mb.toml:3: outbound.username = "CORP\tom": holds the control character U+0009: in double quotes \t, \n, \r, \b and \f are escapes, not part of a user name; write it in single quotes, 'CORP\tom', or double each backslash`})
	if _, err := Parse("mb.toml", []byte("[outbound]\nserver = \"relay.test\"\nusername = 'CORP\\tom'\npassword = \"x\"\n")); err != nil {
		t.Fatal(err)
	}
}

// A password_file or password_env that gives no password is said once, on
// its own line: found from outside, an unreadable password_file also got
// "username needs a password: set ... password_file".
func TestOutboundPasswordSourceProblems(t *testing.T) {
	dir := testdir.New(t)
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("\r\n"), 0o644)
	t.Setenv("MB_TEST_EMPTY_PW", "")
	for _, tt := range []struct{ name, toml, want string }{
		{"file missing", "password_file = '" + filepath.Join(dir, "nope.txt") + "'", `mb.toml:3: outbound.password_file = ` + show(filepath.Join(dir, "nope.txt")) + `: cannot be read`},
		{"file empty", "password_file = '" + empty + "'", `mb.toml:3: outbound.password_file = ` + show(empty) + `: is empty: outbound.username needs a password, and the file holds none`},
		{"env empty", "password_env = \"MB_TEST_EMPTY_PW\"", `mb.toml:3: outbound.password_env = "MB_TEST_EMPTY_PW": names an empty environment variable`},
	} {
		_, err := Parse("mb.toml", []byte("[outbound]\nusername = \"u\"\n"+tt.toml+"\n"))
		var ps Errors
		if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want one problem, %q", tt.name, err, tt.want)
		}
	}
}

// Text without its quotes is a TOML syntax error that says how to write
// it (found from outside: "expected value but found \"mail\"" alone).
func TestUnquotedTextHint(t *testing.T) {
	for _, in := range []string{"hostname = mail.example.com\n", "[mailroot]\nroot = C:\\inetpub\\mailroot\n",
		"[mailroot]\nroot = /var/mail\n", "[inbound]\nbind = 127.0.0.1\n", "[inbound]\nbind = ::1\n",
		"[inbound]\nmax_message_size = 30MB\n", "[outbound]\nexpiration = 48h # two days\n",
		"[outbound]\nretry = [15m, 30m]\n", "[log]\nlevel = info\n",
		"[inbound]\nrelay_from = [\n  \"10.0.0.0/8\",\n  10.1.0.0/16,\n]\n"} {
		_, err := Parse("mb.toml", []byte(in))
		if err == nil || !strings.Contains(err.Error(), "TOML syntax: ") || !strings.Contains(err.Error(), "; text values go in quotes (hostname = \"mail.example.com\"") {
			t.Errorf("%q: %v", in, err)
		}
	}
	for _, in := range []string{"[inbound]\nintercept = yes\n", "[inbound]\nintercept = True\n"} {
		if _, err := Parse("mb.toml", []byte(in)); err == nil || !strings.Contains(err.Error(), "TOML writes a yes or no as true or false") || strings.Contains(err.Error(), "text values go in quotes") {
			t.Errorf("%q: %v", in, err)
		}
	}
	for _, in := range []string{"hostname = \n", "[inbound]\nport = \"25\" x\n"} {
		if _, err := Parse("mb.toml", []byte(in)); err == nil || strings.Contains(err.Error(), "text values go in quotes") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// An Outbound Server that is this mailbridge's own listener is refused:
// found from outside (a port edited by mistake), Pickup mail logged as
// sent landed in Drop. Another port, or a loopback smart host while the
// listener is bound to another address, is not.
func TestOutboundIsOwnListener(t *testing.T) {
	for _, tt := range []struct {
		name, toml string
		refused    bool
	}{
		{"loopback, all addresses", "hostname = \"mb.test\"\n[inbound]\nport = 2525\n[outbound]\nserver = \"127.0.0.1\"\nport = 2525\n", true},
		{"bracketed", "hostname = \"mb.test\"\n[inbound]\nport = 2525\n[outbound]\nserver = \"[127.0.0.1]\"\nport = 2525\n", true},
		{"localhost", "hostname = \"mb.test\"\n[inbound]\nport = 2525\n[outbound]\nserver = \"localhost\"\nport = 2525\n", true},
		{"own name", "hostname = \"mb.test\"\n[inbound]\nport = 2525\n[outbound]\nserver = \"MB.test\"\nport = 2525\n", true},
		{"tls port", "hostname = \"mb.test\"\n[inbound]\nport = 2525\ntls_port = 4650\npfx_path = 'x.pfx'\n[outbound]\nserver = \"::1\"\nport = 4650\n", true},
		{"bound address", "hostname = \"mb.test\"\n[inbound]\nbind = \"127.0.0.1\"\nport = 2525\n[outbound]\nserver = \"127.0.0.1\"\nport = 2525\n", true},
		{"bound to localhost", "hostname = \"mb.test\"\n[inbound]\nbind = \"localhost\"\nport = 2525\n[outbound]\nserver = \"127.0.0.1\"\nport = 2525\n", true},
		{"bound to 127.0.0.1, server localhost", "hostname = \"mb.test\"\n[inbound]\nbind = \"127.0.0.1\"\nport = 2525\n[outbound]\nserver = \"localhost\"\nport = 2525\n", true},
		{"bound to 127.0.0.1, server 127.0.0.2", "hostname = \"mb.test\"\n[inbound]\nbind = \"127.0.0.1\"\nport = 2525\n[outbound]\nserver = \"127.0.0.2\"\nport = 2525\n", false},
		{"other port", "hostname = \"mb.test\"\n[inbound]\nport = 2525\n[outbound]\nserver = \"127.0.0.1\"\nport = 25\n", false},
		{"other host", "hostname = \"mb.test\"\n[inbound]\nport = 25\n[outbound]\nserver = \"relay.corp.test\"\nport = 25\n", false},
		{"bound elsewhere", "hostname = \"mb.test\"\n[inbound]\nbind = \"10.0.0.5\"\nport = 25\n[outbound]\nserver = \"127.0.0.1\"\nport = 25\n", false},
	} {
		_, err := Parse("mb.toml", []byte(tt.toml))
		got := err != nil && strings.Contains(err.Error(), "is this mailbridge's own inbound listener")
		if got != tt.refused {
			t.Errorf("%s: refused %v, want %v: %v", tt.name, got, tt.refused, err)
		}
	}
}

// An unspecified address is no smart host: a connection to it reaches
// this machine (found from outside: with the listener bound to 127.0.0.1,
// server = "0.0.0.0" on its port "sent" Pickup mail into Drop).
func TestOutboundUnspecifiedAddress(t *testing.T) {
	for _, server := range []string{"0.0.0.0", "::", "[::]", "[0.0.0.0]"} {
		_, err := Parse("mb.toml", []byte("[inbound]\nbind = \"127.0.0.1\"\nport = 2525\n[outbound]\nserver = \""+server+"\"\nport = 25\n"))
		if err == nil || !strings.Contains(err.Error(), "is no address to connect to") {
			t.Errorf("%s: %v", server, err)
		}
	}
}

// max_connections_per_ip is half of max_connections unless set (found
// from outside: one client could hold every session).
func TestMaxConnectionsPerIPDefault(t *testing.T) {
	for _, tt := range []struct {
		toml string
		want int
	}{
		{"", 100},
		{"max_connections = 7\n", 4},
		{"max_connections = 1\n", 1},
		{"max_connections = 50\nmax_connections_per_ip = 50\n", 50},
		{"max_connections_per_ip = 3\n", 3},
	} {
		c, err := Parse("mb.toml", []byte("[inbound]\n"+tt.toml))
		if err != nil {
			t.Fatal(err)
		}
		if c.Inbound.MaxConnectionsPerIP != tt.want {
			t.Errorf("%q: %d, want %d", tt.toml, c.Inbound.MaxConnectionsPerIP, tt.want)
		}
	}
	if _, err := Parse("mb.toml", []byte("[inbound]\nmax_connections_per_ip = 0\n")); err == nil || !strings.Contains(err.Error(), "inbound.max_connections_per_ip = 0: must be from 1 to 1000000") {
		t.Errorf("0: %v", err)
	}
}

// Slips an administrator coming from IIS and INI files makes get a hint
// that says what to write (found from outside: each got the bare rule, or
// a hint about quotes that did not apply).
func TestHintsForCommonSlips(t *testing.T) {
	utf16 := []byte{}
	for _, r := range "[inbound]\nport = 2525\n" {
		utf16 = append(utf16, byte(r), 0)
	}
	for _, tc := range []struct {
		name, text string
		want, not  string
	}{
		{"top-level key in a section", "[inbound]\nhostname = \"a.test\"\n",
			`mb.toml:2: inbound.hostname = "a.test": unknown key; hostname is a top-level key: move it above the first [section] heading`, ""},
		{"number in quotes", "[inbound]\nport = \"2525\"\n",
			`mb.toml:2: inbound.port = "2525": must be a whole number from 1 to 65535, written without quotes`, ""},
		{"IIS's SSL", "[inbound]\ntls = \"ssl\"\n",
			`mb.toml:2: inbound.tls = "ssl": must be one of none, starttls, implicit: implicit is TLS from the first byte (IIS's SSL`, ""},
		{"IIS's TLS, outbound", "[outbound]\nserver = \"smtp.example.com\"\ntls = \"TLS\"\n",
			`mb.toml:3: outbound.tls = "TLS": must be one of none, opportunistic, starttls, implicit: implicit is`, ""},
		{"a section twice", "[inbound]\nport = 2525\n[inbound]\nport = 2526\n",
			`mb.toml:3: TOML syntax: Key 'inbound' has already been defined.`, "text values go in quotes"},
		{"UTF-16 without its mark", string(utf16),
			`mb.toml:1: TOML syntax: files cannot contain NULL bytes`, "text values go in quotes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("mb.toml", []byte(tc.text))
			checkProblems(t, err, "", []string{tc.want})
			if tc.not != "" && err != nil && strings.Contains(err.Error(), tc.not) {
				t.Errorf("a hint that does not apply: %v", err)
			}
		})
	}
}
