package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/internal/testpki"
	"github.com/mailbridge/mailbridge/internal/testtool"
	"github.com/mailbridge/mailbridge/mailroot"
)

// writeTLSConfig writes a configuration listening on 127.0.0.1:port with
// STARTTLS and an implicit-TLS listener on tlsPort, its certificate made
// by pfx, its mail root in a temporary folder.
func writeTLSConfig(t *testing.T, port, tlsPort int, pfx func(path string)) string {
	t.Helper()
	dir := testDir(t)
	pfx(filepath.Join(dir, "cert.pfx"))
	conf := filepath.Join(dir, "mailbridge.toml")
	text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\ntls = \"starttls\"\ntls_port = %d\npfx_path = 'cert.pfx'\npfx_password = \"pw\"\n", port, tlsPort)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// A busy tls_port is reported, by check and by run, with the advice to
// set tls_port, not port.
func TestBusyTLSPortNamesItsKey(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tlsPort := busy.Addr().(*net.TCPAddr).Port
	pki := testpki.New(t, "test CA")
	conf := writeTLSConfig(t, testtool.FreePort(t), tlsPort, func(p string) { pki.PFX(t, p, "pw", "mail.test") })
	for cmd, prefix := range map[string]string{
		"check": ": inbound.tls_port = " + strconv.Itoa(tlsPort) + ": 127.0.0.1:" + strconv.Itoa(tlsPort) + ": ",
		"run":   ": inbound.tls_port = " + strconv.Itoa(tlsPort) + ": 127.0.0.1:" + strconv.Itoa(tlsPort) + ": ",
	} {
		code, out, errs := runCmd(t, cmd, "--config", conf)
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", cmd, code, out, errs)
		}
		if !strings.Contains(errs, prefix) || !strings.Contains(errs, "set [inbound] tls_port to a free port") || strings.Contains(errs, "set [inbound] port") {
			t.Errorf("%s: stderr:\n%s\nwant %q and the advice to set [inbound] tls_port", cmd, errs, prefix)
		}
	}
}

// check lists both listeners, and the certificate's names; a certificate
// without subject alternative names gets its common name and the warning
// that clients checking names will refuse it, not an empty line.
func TestCheckListsListenersAndNames(t *testing.T) {
	pki := testpki.New(t, "test CA")
	for _, tt := range []struct {
		name  string
		pfx   func(t *testing.T, path string)
		names string
	}{
		{"names", func(t *testing.T, p string) { pki.PFX(t, p, "pw", "mail.test", "smtp.mail.test", "127.0.0.1") },
			"  names:   mail.test, smtp.mail.test, 127.0.0.1\n"},
		{"common name only", func(t *testing.T, p string) { pki.PFXCommonName(t, p, "pw", "mail.test") },
			"  names:   (none; only the subject's common name \"mail.test\", which clients that check names ignore: they will refuse this certificate; reissue it with mail.test as a DNS name)\n"},
		{"no name at all", func(t *testing.T, p string) { pki.PFXCommonName(t, p, "pw", "") },
			"  names:   (none: clients that check names will refuse this certificate; reissue it with this server's name as a DNS name)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ports := testtool.FreePorts(t, 2)
			port, tlsPort := ports[0], ports[1]
			conf := writeTLSConfig(t, port, tlsPort, func(p string) { tt.pfx(t, p) })
			code, out, errs := runCmd(t, "check", "--config", conf)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			listen := fmt.Sprintf("listen: 127.0.0.1:%d (STARTTLS), 127.0.0.1:%d (tls_port, implicit TLS)\n", port, tlsPort)
			for _, want := range []string{listen, tt.names} {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// check warns about verify_certificate = false only when there is a smart
// host whose certificate would go unchecked where a check protects
// something: TLS required (starttls, implicit) or a password sent.
// Without [outbound] server nothing is relayed, and opportunistic TLS
// without AUTH, the default, is unverified by design (RFC 7435).
func TestCheckVerifyCertificateWarning(t *testing.T) {
	const warning = "verify_certificate = false"
	for _, tt := range []struct {
		name, outbound string
		warn           bool
	}{
		{"no outbound section", "", false},
		{"outbound without a server", "[outbound]\ntls = \"opportunistic\"\n", false},
		{"outbound without a server, set explicitly", "[outbound]\nverify_certificate = false\n", false},
		{"smart host, opportunistic TLS (the default)", "[outbound]\nserver = \"relay.example.com\"\n", false},
		{"smart host, opportunistic TLS, set explicitly", "[outbound]\nserver = \"relay.example.com\"\nverify_certificate = false\n", false},
		{"smart host, verified", "[outbound]\nserver = \"relay.example.com\"\ntls = \"starttls\"\n", false},
		{"smart host, STARTTLS unverified", "[outbound]\nserver = \"relay.example.com\"\ntls = \"starttls\"\nverify_certificate = false\n", true},
		{"smart host, implicit TLS unverified", "[outbound]\nserver = \"relay.example.com\"\ntls = \"implicit\"\nverify_certificate = false\n", true},
		{"smart host, opportunistic with AUTH, unverified", "[outbound]\nserver = \"relay.example.com\"\nusername = \"u\"\npassword = \"p\"\nverify_certificate = false\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := writeTestConfig(t, `hostname = "mail.test"`, tt.outbound)
			code, out, errs := runCmd(t, "check", "--config", conf)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			if got := strings.Contains(out, warning); got != tt.warn {
				t.Errorf("warning shown: %v, want %v\nstdout:\n%s", got, tt.warn, out)
			}
		})
	}
}

// check warns when relay_from lets every IPv4 or every IPv6 address
// relay, whether written as one range or as ranges that add up to it.
func TestCheckOpenRelayWarning(t *testing.T) {
	for _, tt := range []struct {
		relay, want string
	}{
		{`["127.0.0.1", "10.0.0.0/8"]`, ""},
		{`["0.0.0.0/0"]`, "relay_from holds every IPv4 address"},
		{`["::/0"]`, "relay_from holds every IPv6 address"},
		{`["0.0.0.0/1", "128.0.0.0/1", "::/0"]`, "relay_from holds every IPv4 and every IPv6 address"},
	} {
		t.Run(tt.relay, func(t *testing.T) {
			conf := writeTestConfig(t, `hostname = "mail.test"`, "relay_from = "+tt.relay+"\n")
			code, out, errs := runCmd(t, "check", "--config", conf)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			if tt.want == "" && strings.Contains(out, "relay_from") || tt.want != "" && !strings.Contains(out, "warning: [inbound] "+tt.want) {
				t.Errorf("want warning %q\nstdout:\n%s", tt.want, out)
			}
		})
	}
}

// check says that Pickup mail for local_domains goes to Drop: an
// administrator who listed them for inbound SMTP may expect it at the
// Outbound Server.
func TestCheckLocalDomainsNote(t *testing.T) {
	for _, tt := range []struct{ more, want string }{
		{"", ""},
		{`local_domains = ["fax.example.com", "example.org"]` + "\n", "note: Pickup mail for mail.test, fax.example.com, example.org is delivered to Drop"},
		// An internationalized name as written, and as config keeps it.
		{`local_domains = ["Bücher.example", "xn--mller-kva.example"]` + "\n", "note: Pickup mail for mail.test, bücher.example (xn--bcher-kva.example), müller.example (xn--mller-kva.example) is delivered to Drop"},
		// The hostname among them is named once.
		{`local_domains = ["MAIL.test", "example.org"]` + "\n", "note: Pickup mail for mail.test, example.org is delivered to Drop"},
		// The default domain is local too, as IIS's was.
		{`local_domains = ["example.org"]` + "\n[pickup]\ndefault_domain = \"corp.test\"\n", "note: Pickup mail for mail.test, corp.test, example.org is delivered to Drop"},
		// A name in capitals is shown as written, not as an IDN pair.
		{`local_domains = ["EXAMPLE.ORG"]` + "\n[pickup]\ndefault_domain = \"CORP.TEST\"\n", "note: Pickup mail for mail.test, CORP.TEST, EXAMPLE.ORG is delivered to Drop"},
	} {
		conf := writeTestConfig(t, `hostname = "mail.test"`, tt.more)
		code, out, errs := runCmd(t, "check", "--config", conf)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		if tt.want == "" && strings.Contains(out, "Pickup mail for") || tt.want != "" && !strings.Contains(out, tt.want) {
			t.Errorf("%q: want %q\nstdout:\n%s", tt.more, tt.want, out)
		}
	}
}

// check warns when deny_from refuses every client: what import-iis
// writes where IIS's IPSecurity cannot be carried over.
func TestCheckDenyAllWarning(t *testing.T) {
	for _, tt := range []struct {
		deny, want string
	}{
		{`["203.0.113.0/24"]`, ""},
		{`["0.0.0.0/0", "::/0"]`, "deny_from holds every IPv4 and every IPv6 address: every such client is refused"},
	} {
		t.Run(tt.deny, func(t *testing.T) {
			conf := writeTestConfig(t, `hostname = "mail.test"`, "deny_from = "+tt.deny+"\n")
			code, out, errs := runCmd(t, "check", "--config", conf)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			if tt.want == "" && strings.Contains(out, "deny_from") || tt.want != "" && !strings.Contains(out, "warning: [inbound] "+tt.want) {
				t.Errorf("want warning %q\nstdout:\n%s", tt.want, out)
			}
		})
	}
}

// check finds what would stop run at start: a log file or a W3C log
// folder that cannot be written (run exits 2 or 1 with them). A clear-text
// AUTH warning needs a smart host to send the password to.
func TestCheckLogDestinations(t *testing.T) {
	dir := testDir(t)
	blocker := filepath.Join(dir, "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, log string
		problem   string // "" for none
	}{
		{"log file under a file", "[log]\nfile = '" + filepath.Join(blocker, "x.log") + "'\n", ":8: log.file = " + config.Quote(filepath.Join(blocker, "x.log")) + ": its folder: " + blocker + " is a file, not a folder"},
		{"log file is a folder", "[log]\nfile = '" + dir + "'\n", ":8: log.file = " + config.Quote(dir) + ": cannot be appended to"},
		{"w3c_dir under a file", "[log]\nw3c_dir = '" + filepath.Join(blocker, "w3c") + "'\n", ":8: log.w3c_dir = " + config.Quote(filepath.Join(blocker, "w3c")) + ": cannot be created: " + blocker + " is a file, not a folder"},
		{"good log file and w3c_dir", "[log]\nfile = 'logs/mb.log'\nw3c_dir = 'logs/w3c'\n", ""},
		{"clear-text AUTH without a server", "[outbound]\ntls = \"none\"\nusername = \"app\"\npassword = \"pw\"\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := writeTestConfig(t, `hostname = "mail.test"`, tt.log)
			os.Chmod(conf, 0o640) // a password in it: not for every account
			code, out, errs := runCmd(t, "check", "--config", conf)
			if tt.problem == "" {
				// Save the folders made, said when the test runs as root,
				// and a test folder's disk without a journal.
				other := regexp.MustCompile(`(?m)^warning: (check runs as root|.* without a journal: ).*\n`).ReplaceAllString(out, "")
				if code != 0 || strings.Contains(other, "warning: ") {
					t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
				}
				return
			}
			if code != 1 || !strings.Contains(errs, tt.problem) {
				t.Fatalf("exit %d, want 1 and %q\nstdout:\n%s\nstderr:\n%s", code, tt.problem, out, errs)
			}
		})
	}
}

// check warns when delay_notification is not shorter than expiration: the
// message is in Badmail before its delay notice is due, so none is ever
// sent. "0s" (no notice) is no such mistake. A warning, not a problem:
// check exits 0.
func TestCheckDelayNotificationWarning(t *testing.T) {
	const never = `: a message not delivered by then goes to Badmail, with a non-delivery report to its sender, before its delay notice is due, so no delay notice is ever sent; set delay_notification below expiration (IIS had "12h" and "48h"), or to "0s" for no delay notice`
	for _, tt := range []struct {
		name, outbound, want string
	}{
		{"defaults", "", ""},
		{"longer", "delay_notification = \"72h\"\nexpiration = \"48h\"\n", `warning: [outbound] delay_notification = "72h" is not shorter than expiration = "48h"` + never},
		{"equal, written otherwise", "delay_notification = \"2880m\"\n", `warning: [outbound] delay_notification = "48h" is not shorter than expiration = "48h"`},
		{"expiration under the default", "expiration = \"6h\"\n", `warning: [outbound] delay_notification = "12h" is not shorter than expiration = "6h"`},
		{"no notice", "delay_notification = \"0s\"\nexpiration = \"1h\"\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := writeTestConfig(t, `hostname = "mail.test"`, "[outbound]\n"+tt.outbound)
			code, out, errs := runCmd(t, "check", "--config", conf)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			if tt.want == "" && strings.Contains(out, "delay_notification") || tt.want != "" && !strings.Contains(out, tt.want) {
				t.Errorf("want warning %q\nstdout:\n%s", tt.want, out)
			}
		})
	}
}

// check warns of a hostname written in the file that is not a fully
// qualified domain name: it loads (IIS took it), and check exits 0.
func TestCheckHostnameWarning(t *testing.T) {
	const uses = `it names this server in the greeting, in EHLO to the smart host, in Received headers and in the Message-IDs added to messages`
	for _, tt := range []struct {
		name, top, pickup, want string
	}{
		{"full name", `hostname = "mail.test"`, "", ""},
		{"localhost", `hostname = "localhost"`, "",
			`warning: hostname "localhost" is not a fully qualified domain name (it has no dot): ` + uses + `, and as [pickup] default_domain it completes addresses written without a domain (in Pickup files, and in MAIL FROM and RCPT TO received over SMTP), where receivers and spam filters expect a name such as mail.example.com; set hostname to the full name clients know this server by` + "\n"},
		{"computer name, default_domain set", `hostname = "WEB01"`, "[pickup]\ndefault_domain = \"corp.example\"\n",
			`warning: hostname "WEB01" is not a fully qualified domain name (it has no dot): ` + uses + `, where receivers`},
		{"IP address", `hostname = "192.0.2.5"`, "",
			`warning: hostname "192.0.2.5" is an IP address, not a fully qualified domain name: ` + uses},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := writeTestConfig(t, tt.top, tt.pickup)
			code, out, errs := runCmd(t, "check", "--config", conf)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			if tt.want == "" && strings.Contains(out, "fully qualified") || tt.want != "" && !strings.Contains(out, tt.want) {
				t.Errorf("want warning %q\nstdout:\n%s", tt.want, out)
			}
		})
	}
}

// A configuration problem does not hide the machine's: check goes on with
// the sections without problems, and says which it left out (found from
// outside: one bad key hid a Drop that was a file, and a busy port, until
// it was fixed).
func TestCheckGoesOnAfterConfigProblems(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	dir := testDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "mr"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mr", "Drop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, extra string
		want        []string
		not         []string
	}{
		{"a problem in [outbound]", "[outbound]\nretry = []\n",
			[]string{"outbound.retry = []", "mailroot.root = ", "the Drop folder: ", "is a file, not a folder", ": inbound.port = " + strconv.Itoa(port) + ": 127.0.0.1:" + strconv.Itoa(port), "not checked until the configuration's problems in their sections are fixed: the Outbound Server's settings ([outbound])", "3 problem(s) found"},
			nil},
		{"a problem in [inbound]", "max_recipients = 0\n",
			[]string{"inbound.max_recipients = 0", "the Drop folder: ", "the ports and the certificate ([inbound])", "2 problem(s) found"},
			[]string{"inbound.port = "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := filepath.Join(dir, "mailbridge.toml")
			text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\n%s", port, tc.extra)
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCmd(t, "check", "--config", conf)
			if code != 1 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(errs, w) {
					t.Errorf("stderr has %q:\n%s", w, errs)
				}
			}
		})
	}
}

// A hostname with a problem is not shown as the machine's name, which
// check puts in its place to go on (found from outside: "hostname: vm"
// above the problem of "mail example.com").
func TestCheckBadHostnameNotShown(t *testing.T) {
	dir := testDir(t)
	conf := filepath.Join(dir, "mailbridge.toml")
	text := fmt.Sprintf("hostname = \"mail example.com\"\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\n", testtool.FreePort(t))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "check", "--config", conf)
	if code != 1 || !strings.Contains(errs, `mailbridge.toml:1: hostname = "mail example.com": `) || strings.Contains(out, "hostname: ") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// A folder that cannot be made is named by the key that set its path, with
// its line, by check and by run: the folder's own key, or else
// mailroot.root, written or the default (found from outside: "problem:
// Drop folder D:\x: ..." left the administrator to find the key).
func TestFolderProblemsNameTheirKey(t *testing.T) {
	dir := testDir(t)
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Two folders that are one through a link (found from outside: the
	// only folder problems said without file, line and key). Each key is
	// quoted as the file wrote it, relative (found from outside: quoted
	// as the absolute path it became, which the file does not hold).
	real, link, toDrop := filepath.Join(dir, "real"), filepath.Join(dir, "link"), filepath.Join(dir, "todrop")
	if err := os.MkdirAll(filepath.Join(dir, "mr", "Drop"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	linked := os.Symlink(real, link) == nil && os.Symlink(filepath.Join(dir, "mr", "Drop"), toDrop) == nil
	if linked {
		// Wine 8's CreateSymbolicLinkW reports success and makes nothing
		// (see TestLogInPickupThroughALink): links count only when
		// they lead to their folder.
		a, errA := os.Stat(link)
		b, errB := os.Stat(real)
		linked = errA == nil && errB == nil && os.SameFile(a, b)
	}
	port := testtool.FreePort(t)
	for _, tc := range []struct {
		name, mailroot string
		want           []string
		links          bool
	}{
		{name: "one folder through a link", mailroot: "root = 'mr'\npickup = 'real'\ndrop = 'link'\n", links: true,
			want: []string{":6: mailroot.drop = \"link\": the Drop folder: Drop (" + link + ", through a link to " + realPath(t, real) + ") and Pickup (" + real + ") are one folder"}},
		{name: "one folder through a link, the other's key", mailroot: "root = 'mr'\npickup = 'todrop'\n", links: true,
			want: []string{":5: mailroot.pickup = \"todrop\": the Pickup folder: Drop (" + filepath.Join(dir, "mr", "Drop") + ") and Pickup (" + toDrop + ", through a link to " + realPath(t, filepath.Join(dir, "mr", "Drop")) + ") are one folder"}},
		{name: "the folder's own key", mailroot: "root = 'mr'\ndrop = 'afile'\n",
			want: []string{":5: mailroot.drop = \"afile\": the Drop folder: " + file + " is a file, not a folder: move the file away, or set another folder"}},
		{name: "a parent that is a file", mailroot: "root = 'mr'\nqueue = 'afile/Queue'\n",
			want: []string{":5: mailroot.queue = \"afile/Queue\": the Queue folder " + filepath.Join(file, "Queue") + ": cannot be created: " + file + " is a file, not a folder"}},
		{name: "the root's key", mailroot: "root = 'afile'\n",
			want: []string{":4: mailroot.root = \"afile\": the mail root: " + file + " is a file, not a folder"}},
		{name: "the root's key, from check once", mailroot: "root = 'afile/mr'\n",
			want: []string{":4: mailroot.root = \"afile/mr\": the mail root " + filepath.Join(file, "mr") + ": cannot be created: " + file + " is a file, not a folder"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.links && !linked {
				t.Skip("symbolic links cannot be made here")
			}
			conf := filepath.Join(dir, "mailbridge.toml")
			text := fmt.Sprintf("hostname = \"mail.test\"\n\n[mailroot]\n%s[inbound]\nbind = \"127.0.0.1\"\nport = %d\n", tc.mailroot, port)
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"check", "run"} {
				code, out, errs := runCmd(t, cmd, "--config", conf)
				if code != 1 {
					t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", cmd, code, out, errs)
				}
				if cmd == "run" {
					errs = unquoteLog(errs) // run's log line quotes the error
				}
				if n := strings.Count(errs, "mailroot.root = "); cmd == "check" && n > 1 {
					t.Errorf("check: the mail root reported %d times, want once:\n%s", n, errs)
				}
				for _, w := range tc.want {
					if !strings.Contains(errs, conf+w) && !strings.Contains(errs, w) || !strings.Contains(errs, conf+":") {
						t.Errorf("%s: stderr lacks %q after the file's name:\n%s", cmd, w, errs)
					}
				}
			}
		})
	}
}

// A smart host named by its IP address, its certificate checked without
// server_name, gets a warning (found from outside: check said ok, and
// every message was deferred).
func TestCheckIPServerWarning(t *testing.T) {
	for _, tc := range []struct {
		outbound string
		warn     bool
	}{
		{"server = \"[192.0.2.5]\"\ntls = \"starttls\"", true},
		{"server = \"192.0.2.5\"\ntls = \"implicit\"", true},
		{"server = \"[192.0.2.5]\"\ntls = \"starttls\"\nserver_name = \"smtp.example.com\"", false},
		{"server = \"[192.0.2.5]\"\ntls = \"starttls\"\nverify_certificate = false", false},
		{"server = \"[192.0.2.5]\"\ntls = \"opportunistic\"", false},
		{"server = \"smtp.example.com\"\ntls = \"starttls\"", false},
	} {
		dir := testDir(t)
		conf := filepath.Join(dir, "mailbridge.toml")
		text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\n[outbound]\n%s\n", testtool.FreePort(t), tc.outbound)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, out, errs := runCmd(t, "check", "--config", conf)
		if got := strings.Contains(out, "is an IP address, and the smart host's certificate is checked"); got != tc.warn {
			t.Errorf("%q: warning %v, want %v\nstdout:\n%s\nstderr:\n%s", tc.outbound, got, tc.warn, out, errs)
		}
	}
}

// A smart host whose name DNS does not know gets a warning (found from
// outside: check said ok for "smarthost.invalid"). Where this machine has
// no DNS, the warning says the lookup failed.
func TestCheckUnresolvedServerWarning(t *testing.T) {
	dir := testDir(t)
	conf := filepath.Join(dir, "mailbridge.toml")
	text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\n[outbound]\nserver = \"smarthost.invalid\"\n", testtool.FreePort(t))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "check", "--config", conf)
	if code != 0 || !strings.Contains(out, `warning: [outbound] server = "smarthost.invalid" is not found in DNS`) &&
		!strings.Contains(out, `warning: [outbound] server = "smarthost.invalid" could not be looked up in DNS`) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// The W3C log's s-sitename follows its folder, as IIS's instance name
// named both (found from outside: a second site's log said SMTPSVC1).
func TestW3CSiteName(t *testing.T) {
	for dir, want := range map[string]string{
		`C:\inetpub\logs\LogFiles\SMTPSVC2`: "SMTPSVC2",
		"/var/log/mailbridge/smtpsvc12":     "SMTPSVC12",
		`D:\logs\SMTPSVC1\`:                 "SMTPSVC1",
		"/var/log/mailbridge":               "SMTPSVC1",
		`C:\logs\SMTPSVC0`:                  "SMTPSVC1",
	} {
		if got := w3cSiteName(dir); got != want {
			t.Errorf("w3cSiteName(%q) = %q, want %q", dir, got, want)
		}
	}
}

// A key written above every section stops only the checks of the sections
// it belongs to (found from outside: "port = 25" at the top stopped them
// all), and a misspelt [Inbound] that of [inbound], without showing its
// default port.
func TestCheckStrayKeyBlocksItsSections(t *testing.T) {
	dir := testDir(t)
	conf := filepath.Join(dir, "mailbridge.toml")
	for _, tc := range []struct {
		text, want, not string
	}{
		{"port = 25\nhostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n",
			"not checked until the configuration's problems in their sections are fixed: the ports and the certificate ([inbound]), the Outbound Server's settings ([outbound])", "the folders"},
		{"colour = 1\nhostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"127.0.0.1\"\nport = 0\n", "1 problem(s) found", "not checked"},
		{"hostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n[Inbound]\nport = 2525\n", "the ports and the certificate ([inbound])", "the folders"},
	} {
		if err := os.WriteFile(conf, []byte(strings.Replace(tc.text, "port = 0", fmt.Sprintf("port = %d", testtool.FreePort(t)), 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCmd(t, "check", "--config", conf)
		if code != 1 || !strings.Contains(errs, tc.want) || strings.Contains(errs, tc.not) || !strings.Contains(out, "Pickup:") {
			t.Errorf("%q: exit %d\nstdout:\n%s\nstderr:\n%s\nwant %q, not %q", tc.text, code, out, errs, tc.want, tc.not)
		}
		if strings.Contains(tc.text, "[Inbound]") && strings.Contains(out, "listen:") {
			t.Errorf("listen shown for a misspelt [Inbound]:\n%s", out)
		}
	}
}

// A log file in Pickup through a link is found by check and refused by run
// before the file is made (found from outside: config compares paths as
// written, and the rotated log files went to Badmail).
func TestLogInPickupThroughALink(t *testing.T) {
	dir := testDir(t)
	pickup := filepath.Join(dir, "mr", "Pickup")
	if err := os.MkdirAll(pickup, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "lp")
	if err := os.Symlink(pickup, link); err != nil {
		// Windows: creating one needs a privilege (or developer mode).
		t.Skipf("no symbolic links here: %v", err)
	}
	if fi, err := os.Stat(link); err != nil || !fi.IsDir() {
		// Wine 8's CreateSymbolicLinkW is a stub: it reports success and
		// makes nothing (nor does mklink /j make a junction), so run
		// would make lp as a plain folder and the log would not be in
		// Pickup at all.
		t.Skipf("os.Symlink reported success but %s is no link to a folder (%v): symbolic links are not made here", link, err)
	}
	conf := filepath.Join(dir, "mailbridge.toml")
	text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\n[log]\nfile = 'lp/mb.log'\n", testtool.FreePort(t))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// check first: run, not refusing, would serve until the test binary
	// times out.
	for _, tc := range []struct {
		cmd  string
		code int
	}{{"check", 1}, {"run", 2}} {
		got, out, errs := runCmd(t, tc.cmd, "--config", conf)
		if got != tc.code || !strings.Contains(errs, ":8: log.file = ") || !strings.Contains(errs, "is in the Pickup folder") {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.cmd, got, tc.code, out, errs)
		}
	}
	if entries, _ := os.ReadDir(pickup); len(entries) != 0 {
		t.Errorf("Pickup holds %d files", len(entries))
	}
}

// --config given twice is an error, not the last one silently (found from
// outside).
func TestConfigGivenTwice(t *testing.T) {
	for _, cmd := range []string{"check", "run"} {
		code, _, errs := runCmd(t, cmd, "--config", "a.toml", "--config", "b.toml")
		if code != 2 || !strings.Contains(errs, "mailbridge "+cmd+": invalid value \"b.toml\" for flag --config: given twice (a.toml, then b.toml)") {
			t.Errorf("%s: exit %d, stderr:\n%s", cmd, code, errs)
		}
	}
}

// Flag mistakes are said with the flags as the help writes them, and a
// configuration file given without --config gets the command that takes
// it (found from outside: "flag -config", "parse error", and "mailbridge
// run my.toml" answered "unexpected argument" alone).
func TestFlagMistakeWording(t *testing.T) {
	dir := testDir(t)
	cfg := filepath.Join(dir, "my.toml")
	os.WriteFile(cfg, []byte("[inbound]\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"run", cfg}, "mailbridge run: unexpected argument " + strconv.Quote(cfg) + ": to use it as the configuration, run mailbridge run --config " + cfg + "\n"},
		{[]string{"check", "nothing-here.toml"}, "mailbridge check: unexpected argument \"nothing-here.toml\"\n"},
		{[]string{"check", "--bogus"}, "mailbridge check: flag provided but not defined: --bogus\n"},
		{[]string{"run", "--config"}, "mailbridge run: flag needs an argument: --config\n"},
		{[]string{"import-iis", "--site", "x", cfg}, "mailbridge import-iis: invalid value \"x\" for flag --site: not a whole number\n"},
	} {
		code, _, errs := runCmd(t, tt.args...)
		if code != 2 || !strings.HasPrefix(errs, tt.want) {
			t.Errorf("%q: exit %d, stderr:\n%s\nwant it to begin %q", tt.args, code, errs, tt.want)
		}
	}
}

// run says in plain words that a file is in the way of a log folder, as
// check does (found from outside: mkdir's "not a directory").
func TestRunLogFolderUnderAFile(t *testing.T) {
	dir := testDir(t)
	blocker := filepath.Join(dir, "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for key, log := range map[string]string{
		"log.file":    "[log]\nfile = '" + filepath.Join(blocker, "x.log") + "'\n",
		"log.w3c_dir": "[log]\nw3c_dir = '" + filepath.Join(blocker, "w3c") + "'\n",
	} {
		conf := writeTestConfig(t, `hostname = "mail.test"`, log)
		code, _, errs := runCmd(t, "run", "--config", conf)
		errs = unquoteLog(errs) // the log line quotes the error
		if code == 0 || !strings.Contains(errs, key+" = ") || !strings.Contains(errs, blocker+" is a file, not a folder") {
			t.Errorf("%s: exit %d, stderr:\n%s", key, code, errs)
		}
	}
}

// check makes no file in Drop or Pickup: a program polling Drop must see
// only whole messages, and a running mailbridge takes any file in Pickup
// for a message (found from outside, with ignore = []: the probe file went
// to Badmail). The folders' modification times tell.
func TestCheckLeavesDropAndPickupAlone(t *testing.T) {
	conf := writeTestConfig(t, "", "")
	root := filepath.Join(filepath.Dir(conf), "mr")
	if code, out, errs := runCmd(t, "check", "--config", conf); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, f := range []string{"Drop", "Pickup"} {
		if err := os.Chtimes(filepath.Join(root, f), past, past); err != nil {
			t.Fatal(err)
		}
	}
	if code, out, errs := runCmd(t, "check", "--config", conf); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, f := range []string{"Drop", "Pickup"} {
		fi, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(past) {
			t.Errorf("%s changed by check (modified %v)", f, fi.ModTime())
		}
	}
}

// A TZ that Go cannot read leaves the local time in UTC: check says so
// (found from outside with a POSIX rule).
func TestTimeZoneWarning(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows takes its time zone from the system, not TZ")
	}
	for _, tt := range []struct {
		tz   string
		warn bool
	}{
		{"", false},
		{"America/New_York", false},
		{":Europe/Berlin", false},
		{"UTC", false},
		{"EST5EDT,M3.2.0,M11.1.0", true},
		{"<+0530>-5:30", true},
		{"Mars/Olympus", true},
		{":/usr/share/zoneinfo/America/New_York", false},
		{"/nonexistent/zone", true},
	} {
		if got := timeZoneWarning(tt.tz); (got != "") != tt.warn || tt.warn && !strings.Contains(got, "are in UTC") {
			t.Errorf("TZ=%q: %q", tt.tz, got)
		}
	}
}

// A mail root on a file system without a journal is warned of, once for
// its folders, by check and at run's start: a power cut there can lose
// mail acknowledged with 250 (found by a power-cut test: nothing said it).
// A journaled one is not.
func TestCheckNoJournalWarning(t *testing.T) {
	const want = "Pickup, Drop, Queue and Badmail are on ext4 without a journal: a power cut can undo changes to folders there, and mail acknowledged with 250 is then found by fsck in lost+found, or not at all; put them on a journaled file system: give ext4 its journal (`tune2fs -O has_journal DEVICE`, while it is unmounted), or use XFS"
	for _, tt := range []struct {
		name    string
		journal bool
	}{{"without a journal", false}, {"with its journal", true}} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-q", "-F"}
			if !tt.journal {
				args = append(args, "-O", "^has_journal")
			}
			mnt, _ := testtool.LoopFS(t, "mkfs.ext4", "e2fsprogs", args...)
			conf := writeTestConfig(t, "", "")
			raw, _ := os.ReadFile(conf)
			os.WriteFile(conf, []byte(strings.Replace(string(raw), "root = 'mr'", "root = '"+filepath.Join(mnt, "mr")+"'", 1)), 0o644)
			code, out, errs := runCmd(t, "check", "--config", conf)
			if code != 0 || strings.Contains(out, "warning: "+want) == tt.journal || strings.Count(out, "without a journal") > 1 {
				t.Fatalf("exit %d\n%s%s", code, out, errs)
			}
			cfg, err := config.Load(conf)
			if err != nil {
				t.Fatal(err)
			}
			logs := startLog(t, cfg)
			if strings.Contains(logs, "level=WARN msg=\""+want) == tt.journal {
				t.Fatalf("run's log:\n%s", logs)
			}
		})
	}
}

// A mail root on tmpfs is warned of: mail acknowledged there does not
// survive a restart of the machine (found from outside: no word).
func TestCheckMemoryFileSystemWarning(t *testing.T) {
	mnt := testtool.Tmpfs(t, "4m")
	conf := writeTestConfig(t, "", "")
	raw, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.Replace(string(raw), "root = 'mr'", "root = '"+filepath.Join(mnt, "mr")+"'", 1)), 0o644)
	code, out, errs := runCmd(t, "check", "--config", conf)
	if code != 0 || !strings.Contains(out, "warning: Drop is on a file system held in memory (tmpfs)") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	// 4 MB free: less than max_message_size (30 MB), a warning.
	if !strings.Contains(out, "/Drop has 4.0 MB free, less than a message of [inbound] max_message_size (30.0 MB) needs") {
		t.Fatalf("no warning of the space left:\n%s", out)
	}
	// And run says both at its start (found from outside: check alone
	// did, where a service is started without it).
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	logs := startLog(t, cfg)
	for _, want := range []string{
		`level=WARN msg="folder on a file system held in memory (tmpfs): its files are lost when the machine restarts, mail acknowledged with 250 too" folder=Drop`,
		`less than a message of [inbound] max_message_size (30.0 MB) needs" folder=Drop`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("run's log lacks %q:\n%s", want, logs)
		}
	}
}

// checkedConfigOn writes a configuration whose mail root is on the volume
// mounted at mnt, and checks it while the volume has room.
func checkedConfigOn(t *testing.T, mnt string) string {
	t.Helper()
	conf := writeTestConfig(t, "", "")
	raw, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.Replace(string(raw), "root = 'mr'", "root = '"+filepath.Join(mnt, "mr")+"'", 1)), 0o644)
	if code, out, errs := runCmd(t, "check", "--config", conf); code != 0 {
		t.Fatalf("before filling: exit %d\n%s%s", code, out, errs)
	}
	return conf
}

// A full volume is a problem for check, not only for the mail that then
// gets 451 (found from outside: "ok: no problems found").
func TestCheckFullVolume(t *testing.T) {
	mnt := testtool.Tmpfs(t, "1m")
	conf := checkedConfigOn(t, mnt)
	f, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = f.Write(make([]byte, 64<<10))
	}
	f.Close()
	code, out, errs := runCmd(t, "check", "--config", conf)
	if all := out + errs; code != 1 || !strings.Contains(all, "/Drop is full (0 bytes free): no message can be stored there") ||
		!strings.Contains(all, "/Queue is full") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// A volume with space but no inode left: every folder's problem says so,
// not "no space left on device" alone where df shows space (found from
// outside, for Queue, Badmail and SortTemp, whose check creates a file).
func TestCheckNoInodeLeft(t *testing.T) {
	mnt := testtool.Tmpfs(t, "8m,nr_inodes=64")
	conf := checkedConfigOn(t, mnt)
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(mnt, fmt.Sprint("filler", i)))
		if err != nil {
			break
		}
		f.Close()
	}
	code, out, errs := runCmd(t, "check", "--config", conf)
	all := out + errs
	for _, name := range []string{"Drop", "Queue", "Badmail", "SortTemp"} {
		if !regexp.MustCompile(`volume of \S+/` + name + ` has (\S+ \S+ free but )?no free inode`).MatchString(all) {
			t.Errorf("%s: the missing inode not said", name)
		}
	}
	if code != 1 || t.Failed() {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// check says what a start would leave alone in Queue (found from outside:
// a mail root full of IIS's leftovers passed without a word), as
// warnings: they stop nothing.
func TestCheckForeignQueueFiles(t *testing.T) {
	conf := writeTestConfig(t, "", "")
	queue := filepath.Join(filepath.Dir(conf), "mr", "Queue")
	if err := os.MkdirAll(filepath.Join(queue, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"NTFS_01.EML": "From: a@x.test\r\nTo: b@y.test\r\n\r\nx\r\n",
		"NTFS_02.eml": "",
		"Thumbs.db":   "x",
	} {
		if err := os.WriteFile(filepath.Join(queue, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := runCmd(t, "check", "--config", conf)
	for _, want := range []string{"NTFS_01.EML: a file in Queue that mailbridge did not queue", "it has no x-receiver lines", "NTFS_02.eml: a file in Queue that mailbridge did not queue, left alone: it is empty", "sub: a folder in Queue, left alone"} {
		if !strings.Contains(out, "warning: "+filepath.Join(queue, "")) || !strings.Contains(out, want) {
			t.Errorf("not said: %s", want)
		}
	}
	if code != 0 || strings.Contains(out, "Thumbs.db") || t.Failed() {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// Folders whose names differ from the layout's in case only are said by
// check and at start, and a folder made at start is logged: found from
// outside, an IIS mail root copied as pickup/, DROP/, queue/ passed check,
// and their mail stayed there without a word.
func TestCaseTwinFolders(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("names differing in case only are one folder on Windows")
	}
	conf := writeTestConfig(t, "", "")
	mr := filepath.Join(filepath.Dir(conf), "mr")
	for _, d := range []string{"pickup", "DROP", "Queue"} {
		if err := os.MkdirAll(filepath.Join(mr, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(mr, "pickup", "waiting.eml"), []byte("From: a@x.test\r\nTo: b@y.test\r\n\r\nx\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "check", "--config", conf)
	for _, want := range []string{filepath.Join(mr, "pickup") + " is a folder of its own beside the Pickup folder " + filepath.Join(mr, "Pickup"), filepath.Join(mr, "DROP") + " is a folder of its own beside the Drop folder", "set [mailroot] drop to it"} {
		if !strings.Contains(out, "warning: "+want) && !strings.Contains(out, want) {
			t.Errorf("not said: %s", want)
		}
	}
	if code != 0 || t.Failed() {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if strings.Count(out, "differing in case only") != 2 {
		t.Fatalf("want 2 warnings:\n%s", out)
	}
	os.RemoveAll(filepath.Join(mr, "Badmail"))
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	logs := startLog(t, cfg)
	if !strings.Contains(logs, "level=INFO msg=\"folder created\" folder=Badmail") || strings.Contains(logs, "folder=Queue") ||
		strings.Count(logs, "level=WARN msg=\""+filepath.Join(mr, "pickup")+" is a folder of its own") != 1 {
		t.Fatalf("log:\n%s", logs)
	}
}

// check run as root says which folders it made, owned by root: found from
// outside, `sudo mailbridge check` said ok, and the service, under its own
// account, could not start in them.
func TestCheckAsRootSaysFoldersMade(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no root account on Windows")
	}
	if os.Geteuid() != 0 {
		testtool.Missing(t, "root (the test runs check as root)")
	}
	conf := writeTestConfig(t, "", "")
	code, out, errs := runCmd(t, "check", "--config", conf)
	if code != 0 || !strings.Contains(out, "warning: check runs as root and created ") || !strings.Contains(out, filepath.Join(filepath.Dir(conf), "mr")+", "+filepath.Join(filepath.Dir(conf), "mr", "Pickup")) {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	// Once made, not said again.
	if _, out, _ := runCmd(t, "check", "--config", conf); strings.Contains(out, "check runs as root") {
		t.Fatalf("said again:\n%s", out)
	}
}

// check beside the mailbridge running with the same configuration (before
// a restart) finds notes, not problems; a port the running one does not
// hold is a problem still. Found from outside: check failed while the
// service ran, and later took a port held by another program for the
// running instance's.
func TestCheckBesideRunningInstance(t *testing.T) {
	conf := writeTestConfig(t, `hostname = "mail.test"`, "")
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	stop := startRun(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	defer stop()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "msg=listening"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not listening:\n%s", logs.String())
		}
	}
	code, out, errs := runCmd(t, "check", "--config", conf)
	if code != 0 || !strings.Contains(out, "note: a mailbridge is running with this mail root") || !strings.Contains(out, fmt.Sprintf("note: inbound.port %d is held by the mailbridge running with this mail root", cfg.Inbound.Port)) {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	// The same mail root, another port, held by another program.
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	raw, _ := os.ReadFile(conf)
	port := other.Addr().(*net.TCPAddr).Port
	os.WriteFile(conf, []byte(strings.Replace(string(raw), fmt.Sprintf("port = %d", cfg.Inbound.Port), fmt.Sprintf("port = %d", port), 1)), 0o644)
	code, out, errs = runCmd(t, "check", "--config", conf)
	if code != 1 || !strings.Contains(errs, fmt.Sprintf("inbound.port = %d", port)) || strings.Contains(out, "is held by the mailbridge running") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	// The same mail root, another port, free: run would fail on the
	// lock, and check says so (found from outside: "ok", then run failed).
	other.Close()
	code, out, errs = runCmd(t, "check", "--config", conf)
	want := fmt.Sprintf("warning: another mailbridge is running with this mail root, listening on 127.0.0.1:%d, not where this configuration listens: `mailbridge run` with this configuration cannot start while it runs", cfg.Inbound.Port)
	if code != 0 || !strings.Contains(out, want) || strings.Contains(out, "note: a mailbridge is running") || !strings.HasSuffix(out, fmt.Sprintf("ok: no problems found, but %d warning(s) above\n", 1+len(journalWarnings(cfg)))) {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	// The same port on another bind address: another instance too.
	os.WriteFile(conf, []byte(strings.Replace(string(raw), `bind = "127.0.0.1"`, `bind = "127.0.0.2"`, 1)), 0o644)
	if code, out, errs = runCmd(t, "check", "--config", conf); code != 0 || !strings.Contains(out, want) {
		t.Fatalf("another bind address: exit %d\n%s%s", code, out, errs)
	}
}

// An Outbound Server that is one of this machine's own addresses, on the
// inbound port, is mailbridge itself: a problem for check (found from
// outside: a LAN address passed, where loopback ones were refused).
func TestCheckOutboundIsThisMachine(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	own := ""
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			own = n.IP.String()
			break
		}
	}
	if own == "" {
		t.Skip("this machine has no address but loopback ones")
	}
	conf := writeTestConfig(t, `hostname = "mail.test"`, "")
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(conf)
	// Bound to every address, as by default.
	text := strings.Replace(string(raw), `bind = "127.0.0.1"`, `bind = ""`, 1) + fmt.Sprintf("[outbound]\nserver = %q\nport = %d\n", own, cfg.Inbound.Port)
	os.WriteFile(conf, []byte(text), 0o644)
	code, out, errs := runCmd(t, "check", "--config", conf)
	if code != 1 || !strings.Contains(errs, "is this mailbridge's own inbound listener (an address of this machine)") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// An Outbound Server given by a name that resolves to this machine (here
// the machine's own name, through /etc/hosts or DNS) is mailbridge too
// (found from outside: only addresses, localhost and hostname were
// refused).
func TestCheckOutboundNameIsThisMachine(t *testing.T) {
	name, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	ips, err := lookupHost(name)
	if err != nil || len(ips) == 0 {
		t.Skipf("this machine's name %q does not resolve: %v", name, err)
	}
	conf := writeTestConfig(t, `hostname = "mail.test"`, "")
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(conf)
	text := strings.Replace(string(raw), `bind = "127.0.0.1"`, `bind = ""`, 1) + fmt.Sprintf("[outbound]\nserver = %q\nport = %d\n", name, cfg.Inbound.Port)
	os.WriteFile(conf, []byte(text), 0o644)
	code, out, errs := runCmd(t, "check", "--config", conf)
	if code != 1 || !strings.Contains(errs, "an address of this machine: with outbound.port") || strings.Count(errs, "outbound.server") != 1 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

func TestOwnListenerProblem(t *testing.T) {
	own := func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("10.0.0.20").To4(), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("2001:db8::20"), Mask: net.CIDRMask(64, 128)},
		}, nil
	}
	dns := map[string][]netip.Addr{
		"self.test":       {netip.MustParseAddr("10.0.0.20")},
		"self6.test":      {netip.MustParseAddr("2001:db8::20")},
		"debian.test":     {netip.MustParseAddr("127.0.1.1")},
		"relay.test":      {netip.MustParseAddr("10.0.0.5")},
		"roundrobin.test": {netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.20")},
		"mapped.test":     {netip.MustParseAddr("::ffff:10.0.0.20")},
	}
	lookup := func(host string) ([]netip.Addr, error) {
		if ips, ok := dns[host]; ok {
			return ips, nil
		}
		return nil, errors.New("no such host")
	}
	for _, c := range []struct {
		server, bind string
		port         int
		want         string // in the problem; "" none
	}{
		{"self.test", "", 25, "resolves to 10.0.0.20"},
		{"self6.test", "::", 25, "resolves to 2001:db8::20"},
		{"debian.test", "", 25, "resolves to 127.0.1.1"},
		{"roundrobin.test", "", 25, "resolves to 10.0.0.20"},
		{"mapped.test", "0.0.0.0", 25, "resolves to 10.0.0.20"},
		{"self.test", "10.0.0.20", 25, "resolves to 10.0.0.20"},
		{"debian.test", "localhost", 25, ""}, // only 127.0.0.1 is bound
		{"self.test", "127.0.0.1", 25, ""},
		{"self.test", "", 587, ""},
		{"relay.test", "", 25, ""},
		{"unknown.test", "", 25, ""}, // the delivery attempts say it
		{"10.0.0.20", "", 25, "an address of this machine"},
		{"[10.0.0.20]", "", 25, "an address of this machine"},
		{"10.0.0.5", "", 25, ""},
	} {
		cfg := &config.Config{}
		cfg.Inbound.Port, cfg.Inbound.Bind = 25, c.bind
		cfg.Outbound.Server, cfg.Outbound.Port = c.server, c.port
		got := ownListenerProblem(cfg, own, lookup)
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("server %q bind %q port %d: %q, want %q", c.server, c.bind, c.port, got, c.want)
		}
	}
}

// check warns of a configuration file that holds a password and that
// every account may read, and of folders others may change (found from
// outside: silent, with the README's steps leaving the file 0644).
func TestCheckUnsafePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows' ACLs are not read")
	}
	conf := writeTestConfig(t, `hostname = "mail.test"`, "[outbound]\nserver = \"relay.test\"\nusername = \"app\"\npassword = \"hunter2\"\n")
	os.Chmod(conf, 0o644)
	mr := filepath.Join(filepath.Dir(conf), "mr")
	if code, out, errs := runCmd(t, "check", "--config", conf); !strings.Contains(out, "holds outbound.password and every account may read it (mode 0644)") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	os.Chmod(conf, 0o640)
	os.Chmod(filepath.Join(mr, "Pickup"), 0o777)
	os.Chmod(filepath.Join(mr, "Drop"), fs.ModeSticky|0o777)
	os.Chmod(filepath.Join(mr, "Queue"), 0o770)
	os.Chmod(mr, 0o777)
	code, out, errs := runCmd(t, "check", "--config", conf)
	for _, want := range []string{"the Pickup folder " + filepath.Join(mr, "Pickup") + " may be written by every account (mode 0777)", "the Drop folder " + filepath.Join(mr, "Drop") + " may be written by every account (mode 1777)",
		"the Queue folder " + filepath.Join(mr, "Queue") + " may be written by its group (mode 0770)", "the folder " + mr + ", which holds the Pickup folder, may be written by every account (mode 0777)"} {
		if !strings.Contains(out, want) {
			t.Errorf("not said: %s", want)
		}
	}
	if strings.Contains(out, "every account may read it") || strings.Contains(out, "hunter2") || t.Failed() {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// A layout folder owned by another account than the one mailbridge runs
// as is said (found from outside: a Queue another account made in a 1777
// mail root was used without a word), to run as root too; not to check
// run by root, which sees the service's folders.
func TestFolderOwnedByAnother(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows' owners are not read")
	}
	l := madeLayout(t)
	own := os.Geteuid()
	for _, w := range folderAccessWarnings(l, own, nil, nil) {
		if strings.Contains(w, "belongs to another account") {
			t.Fatalf("said of its own folders: %s", w)
		}
	}
	other := own + 1 // the folders are not that account's
	var said []string
	for _, w := range folderAccessWarnings(l, other, nil, nil) {
		if strings.Contains(w, "belongs to another account than the one mailbridge runs as") {
			said = append(said, w)
		}
	}
	if len(said) != 5 || !strings.Contains(said[2], "the Queue folder "+l.Queue) {
		t.Fatalf("%q", said)
	}
	// Not again for a folder check found not writable: its problem
	// says so.
	said = nil
	for _, w := range folderAccessWarnings(l, other, nil, func(path string) bool { return path == l.Queue }) {
		if strings.Contains(w, "belongs to another account") {
			said = append(said, w)
		}
	}
	if len(said) != 4 || strings.Contains(strings.Join(said, ""), l.Queue) {
		t.Fatalf("with Queue's problem said: %q", said)
	}
	checkAsRoot := func(string) bool { return true }
	if ws := folderAccessWarnings(l, 0, nil, checkAsRoot); len(ws) != 0 && strings.Contains(strings.Join(ws, ""), "belongs to another") {
		t.Fatalf("said to check as root: %q", ws)
	}
	if own != 0 {
		t.Log("not root: the folders cannot be given to another account, run as root not tried")
		return
	}
	// A root daemon with a Queue another account owns: that account may
	// put links to any file there.
	if err := os.Chown(l.Queue, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	said = nil
	for _, w := range folderAccessWarnings(l, 0, nil, nil) {
		if strings.Contains(w, "belongs to another account") {
			said = append(said, w)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], "the Queue folder "+l.Queue) {
		t.Fatalf("run as root: %q", said)
	}
}

// A folder with the set-group-ID bit whose group mailbridge's account is
// not in is said: files mailbridge moves there cannot be given its group
// (found from outside: Drop files from Pickup that the router could not
// read). Not said for root, who may give any group.
func TestSetgidFolderOfAnotherGroup(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows' groups are not read")
	}
	l := madeLayout(t)
	if err := os.Chmod(l.Drop, fs.ModeSetgid|0o770); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(l.Drop)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := mailroot.Group(fi)
	uid := os.Geteuid()
	said := func(groups []int) []string {
		var out []string
		for _, w := range folderAccessWarnings(l, uid, groups, nil) {
			if strings.Contains(w, "set-group-ID") {
				out = append(out, w)
			}
		}
		return out
	}
	if ws := said([]int{gid + 1}); len(ws) != 1 || !strings.Contains(ws[0], "the Drop folder "+l.Drop) || !strings.Contains(ws[0], "usermod -aG") {
		t.Fatalf("not in Drop's group: %q", ws)
	}
	if ws := said([]int{gid + 1, gid}); len(ws) != 0 {
		t.Fatalf("in Drop's group: %q", ws)
	}
	if ws := said(nil); len(ws) != 0 {
		t.Fatalf("root: %q", ws)
	}
}

// A Drop folder that lets its group in, where mailbridge's files would not
// be readable by that group (no set-group-ID bit, or a umask taking the
// group's read access), is said (found from outside: check said ok, and
// the router could not read a single message).
func TestDropReadWarnings(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows' groups are not read")
	}
	egid := os.Getegid()
	gid, ok := testtool.OtherGroup()
	if !ok {
		t.Skip("no second group to give the folder")
	}
	drop := filepath.Join(t.TempDir(), "Drop")
	if err := os.Mkdir(drop, 0o770); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(drop, -1, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(drop, 0o770); err != nil {
		t.Fatal(err)
	}
	groups := []int{egid, gid}
	if ws := dropReadWarnings(drop, groups, egid, 0o007); len(ws) != 1 || !strings.Contains(ws[0], "has no set-group-ID bit") || !strings.Contains(ws[0], "chmod g+s") {
		t.Fatalf("without setgid: %q", ws)
	}
	if ws := dropReadWarnings(drop, nil, egid, 0o007); len(ws) != 0 {
		t.Fatalf("for root: %q", ws)
	}
	if err := os.Chmod(drop, fs.ModeSetgid|0o770); err != nil {
		t.Fatal(err)
	}
	if ws := dropReadWarnings(drop, groups, egid, 0o007); len(ws) != 0 {
		t.Fatalf("as README sets it up: %q", ws)
	}
	if ws := dropReadWarnings(drop, groups, egid, 0o077); len(ws) != 1 || !strings.Contains(ws[0], "umask is 0077") {
		t.Fatalf("umask 0077: %q", ws)
	}
	if err := os.Chmod(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	if ws := dropReadWarnings(drop, groups, egid, 0o077); len(ws) != 0 {
		t.Fatalf("a folder its group may not enter: %q", ws)
	}
}

// madeLayout makes the five folders of a mail root, 0700, in a new folder.
func madeLayout(t *testing.T) mailroot.Layout {
	t.Helper()
	root := t.TempDir()
	l := mailroot.Layout{Pickup: filepath.Join(root, "Pickup"), Drop: filepath.Join(root, "Drop"), Queue: filepath.Join(root, "Queue"), Badmail: filepath.Join(root, "Badmail"), SortTemp: filepath.Join(root, "SortTemp")}
	for _, f := range l.Folders() {
		if err := os.Mkdir(f.Path, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// A ca_file holding the smart host's own certificate with its name in the
// CN alone gets a warning from check (found from outside: check said ok,
// and every message was deferred). Made by openssl as an administrator
// makes one: `req -x509` adds no subjectAltName unless told.
func TestCheckCAFileWarning(t *testing.T) {
	ossl := testtool.Path(t, "openssl", "openssl")
	dir := testDir(t)
	for _, tc := range []struct {
		name  string
		extra []string
		warn  bool
	}{
		{"CN alone", nil, true},
		{"with a subjectAltName", []string{"-addext", "subjectAltName=DNS:smtp.corp.test"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".pem")
			args := append([]string{"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
				"-subj", "/CN=smtp.corp.test", "-days", "30", "-keyout", filepath.Join(dir, "key.pem"), "-out", ca}, tc.extra...)
			if out, err := exec.Command(ossl, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl: %v\n%s", err, out)
			}
			conf := filepath.Join(dir, "mailbridge.toml")
			text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\n[outbound]\nserver = \"127.0.0.1\"\nserver_name = \"smtp.corp.test\"\ntls = \"starttls\"\nca_file = %q\n", testtool.FreePort(t), ca)
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCmd(t, "check", "--config", conf)
			got := strings.Contains(out, `warning: [outbound] ca_file's certificate "smtp.corp.test" names the smart host smtp.corp.test in its subject's CN alone`)
			if code != 0 || got != tc.warn {
				t.Fatalf("exit %d, warning %v, want %v\nstdout:\n%s\nstderr:\n%s", code, got, tc.warn, out, errs)
			}
		})
	}
}

// realPath is path with its links resolved, as a problem names where a
// link leads.
func realPath(t *testing.T, path string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(path)
	if err != nil {
		return path // not made yet: no link test runs then
	}
	return r
}
