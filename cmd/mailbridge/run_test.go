package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/internal/portholder"
	"github.com/mailbridge/mailbridge/internal/testlog"
	"github.com/mailbridge/mailbridge/internal/testpki"
	"github.com/mailbridge/mailbridge/internal/testtool"
	"github.com/mailbridge/mailbridge/portowner"
)

func TestMain(m *testing.M) {
	portholder.Main()
	os.Exit(m.Run())
}

// holdPort starts this test binary as a separate process holding a port on
// 127.0.0.1 and returns its PID, its process name and the port.
func holdPort(t *testing.T) (pid int, name string, port int) {
	t.Helper()
	if runtime.GOOS != "linux" && runtime.GOOS != "windows" {
		t.Skip("port owners are found on Linux and Windows")
	}
	pid, port = portholder.Self(t)
	if runtime.GOOS == "windows" {
		if owners, err := portowner.Listeners(port); err == nil && len(owners) > 0 && owners[0].PID == 0 {
			t.Skip("this Windows (Wine) lists sockets without their owning process")
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Linux names a process after its file, cut to 15 bytes.
	name = filepath.Base(exe)
	if runtime.GOOS == "linux" && len(name) > 15 {
		name = name[:15]
	}
	return pid, name, port
}

func TestExplainListenNamesHolder(t *testing.T) {
	pid, name, port := holdPort(t)
	_, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err == nil {
		t.Fatal("the port is not taken")
	}
	msg := explainListen(err, port, "port").Error()
	want := fmt.Sprintf("port %d is held by %s (PID %d) on 127.0.0.1:%d; stop that program", port, name, pid, port)
	if !strings.Contains(msg, want) {
		t.Fatalf("got %q\nwant it to contain %q", msg, want)
	}
	if !errors.Is(explainListen(err, port, "port"), syscall.EADDRINUSE) && runtime.GOOS == "linux" {
		t.Fatal("the original error is not wrapped")
	}
}

// writeConfig writes a configuration listening on 127.0.0.1:port with its
// mail root in a temporary folder.
func writeConfig(t *testing.T, port int) string {
	t.Helper()
	dir := testDir(t)
	cfg := filepath.Join(dir, "mailbridge.toml")
	text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = %q\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\n", filepath.Join(dir, "mailroot"), port)
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// `mailbridge check` and `mailbridge run` both name the program that holds
// the port.
func TestCheckAndRunNameHolder(t *testing.T) {
	pid, name, port := holdPort(t)
	cfg := writeConfig(t, port)
	want := fmt.Sprintf("held by %s (PID %d)", name, pid)

	var out, errb bytes.Buffer
	if code := realMain([]string{"check", "--config", cfg}, &out, &errb); code != 1 {
		t.Fatalf("check: exit %d, want 1\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), ": inbound.port = "+strconv.Itoa(port)+": 127.0.0.1:"+strconv.Itoa(port)) || !strings.Contains(errb.String(), want) {
		t.Fatalf("check: stderr %q lacks %q", errb.String(), want)
	}

	out.Reset()
	errb.Reset()
	if code := realMain([]string{"run", "--config", cfg}, &out, &errb); code != 1 {
		t.Fatalf("run: exit %d, want 1\nstderr: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), startFailedMsg) || !strings.Contains(errb.String(), want) {
		t.Fatalf("run: log %q lacks %q", errb.String(), want)
	}
	// Said plainly as well as in the log record, whose quotes are
	// escaped, with how to see every problem at once (found from
	// outside: run named the first only).
	if !strings.Contains(errb.String(), "\n"+startFailedMsg+": ") || !strings.Contains(errb.String(), "mailbridge check --config "+cfg+" lists every problem at once\n") {
		t.Fatalf("run: stderr %q", errb.String())
	}
}

// With the log in a file, a start that fails says why on stderr too (the
// terminal, or a systemd unit's journal), and the log file, which a
// running instance may share, says it could not start, not "stopped".
func TestStartFailureWithLogFile(t *testing.T) {
	// Not holdPort: the holder is not named here, so a system that lists
	// sockets without their process (Wine) runs this test too.
	_, port := portholder.Self(t)
	cfg := writeConfig(t, port)
	logPath := filepath.Join(filepath.Dir(cfg), "mailbridge.log")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[log]\nfile = %q\n", logPath)
	f.Close()
	var out, errb bytes.Buffer
	if code := realMain([]string{"run", "--config", cfg}, &out, &errb); code != 1 {
		t.Fatalf("run: exit %d, want 1\nstderr: %s", code, errb.String())
	}
	if !strings.HasPrefix(errb.String(), "mailbridge cannot start: ") || !strings.Contains(errb.String(), strconv.Itoa(port)) || !strings.Contains(errb.String(), "(log: "+logPath+")") ||
		!strings.HasSuffix(errb.String(), " lists every problem at once\n") {
		t.Errorf("stderr: %q", errb.String())
	}
	logText, _ := os.ReadFile(logPath)
	if !strings.Contains(string(logText), startFailedMsg) || strings.Contains(string(logText), "mailbridge stopped") {
		t.Errorf("log file:\n%s", logText)
	}
	// The effective configuration is logged, the relay rules with it.
	if !strings.Contains(string(logText), `msg=configuration `) || !strings.Contains(string(logText), ` local_domains="every domain" relay_from=[] `) {
		t.Errorf("no configuration line:\n%s", logText)
	}
}

// A bind address that is not this machine's (an old server's, copied by
// import-iis) says so and what to set, not only the system's words, and
// check and run file it under bind, on bind's line (found from outside:
// it was inbound.port's problem, on port's line).
func TestBindAddressNotHere(t *testing.T) {
	_, err := net.Listen("tcp", "192.0.2.1:0") // TEST-NET-1 (RFC 5737)
	if err == nil {
		t.Skip("192.0.2.1 is an address of this machine")
	}
	msg := explainListen(err, 25, "port").Error()
	if !strings.Contains(msg, "not one of this machine's") || !strings.Contains(msg, "[inbound] bind") {
		t.Fatalf("%s", msg)
	}
	dir := testDir(t)
	conf := filepath.Join(dir, "mailbridge.toml")
	port := testtool.FreePort(t)
	// With a tls_port too: one problem, not one per port.
	pki := testpki.New(t, "test CA")
	pki.PFX(t, filepath.Join(dir, "cert.pfx"), "pw", "mail.test")
	text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"192.0.2.1\"\nport = %d\ntls_port = %d\npfx_path = 'cert.pfx'\npfx_password = \"pw\"\n", port, testtool.FreePort(t))
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	want := `mailbridge.toml:5: inbound.bind = "192.0.2.1": ` + cause(err) + `: the address is not one of this machine's`
	for _, cmd := range []string{"check", "run"} {
		code, out, errs := runCmd(t, cmd, "--config", conf)
		if code != 1 {
			t.Fatalf("%s: exit %d, want 1\nstdout:\n%s\nstderr:\n%s", cmd, code, out, errs)
		}
		if strings.Count(errs, want) != 1 || strings.Contains(errs, "inbound.port") || cmd == "check" && !strings.Contains(errs, "\n1 problem(s) found") {
			t.Errorf("%s: stderr:\n%s\nwant %q once", cmd, errs, want)
		}
	}
}

func TestPortTakenMessages(t *testing.T) {
	addr := netip.MustParseAddrPort("0.0.0.0:25")
	inUse := &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	hiddenHint := "ss -ltnp 'sport = :25'"
	if runtime.GOOS == "windows" {
		hiddenHint = "netstat -abno | findstr :25"
	}
	winInUse := errors.New("listen tcp :25: bind: Only one usage of each socket address (protocol/network address/port) is normally permitted.")
	tests := []struct {
		name   string
		err    error
		owners []portowner.Owner
		lerr   error
		want   []string
	}{
		{"IIS by name", winInUse, []portowner.Owner{{Addr: addr, PID: 2044, Name: "inetinfo.exe", UID: -1}},
			nil, []string{"Only one usage", "port 25 is held by inetinfo.exe (PID 2044), the IIS SMTP Service (SMTPSVC)", "`sc stop smtpsvc`", "`sc config smtpsvc start= disabled`", "Stop-Service SMTPSVC; Set-Service SMTPSVC -StartupType Disabled"}},
		{"IIS by service", inUse, []portowner.Owner{{Addr: addr, PID: 900, Name: "svchost.exe", UID: -1, Services: []string{"SMTPSVC"}}},
			nil, []string{"svchost.exe (PID 900), the IIS SMTP Service", "sc stop smtpsvc"}},
		{"another mailbridge", inUse, []portowner.Owner{{Addr: addr, PID: 77, Name: "mailbridge.exe", UID: -1}},
			nil, []string{"another mailbridge (PID 77) on 0.0.0.0:25, which is already running"}},
		{"two sockets", inUse, []portowner.Owner{{Addr: addr, PID: 5, Name: "master", UID: 0}, {Addr: netip.MustParseAddrPort("[::]:25"), PID: 5, Name: "master", UID: 0}},
			nil, []string{"held by master (PID 5) on 0.0.0.0:25, master (PID 5) on [::]:25; stop that program"}},
		{"other user", inUse, []portowner.Owner{{Addr: addr, UID: 108, User: "postfix"}},
			nil, []string{"held by a process of user postfix (UID 108) on 0.0.0.0:25, which this user may not inspect", hiddenHint}},
		{"unknown", inUse, nil, errors.New("portowner: not supported on this operating system"),
			[]string{"another program holds port 25 (it could not be identified: portowner: not supported", "sc stop smtpsvc"}},
		{"privileges", &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EACCES)}, nil, nil,
			[]string{"permission denied", "ports below 1024 need privileges", "setcap cap_net_bind_service=+ep"}},
	}
	for _, tt := range tests {
		// The advice to move the port names the key that set it.
		for _, key := range []string{"port", "tls_port"} {
			t.Run(tt.name+"/"+key, func(t *testing.T) {
				got := explainListenWith(tt.err, 25, key, func(int) ([]portowner.Owner, error) { return tt.owners, tt.lerr })
				if !errors.Is(got, tt.err) {
					t.Errorf("%v does not wrap %v", got, tt.err)
				}
				for _, w := range tt.want {
					if !strings.Contains(got.Error(), w) {
						t.Errorf("got %q\nlacks %q", got, w)
					}
				}
				if n := strings.Count(got.Error(), "set [inbound] "); n != strings.Count(got.Error(), "set [inbound] "+key+" ") || n == 0 && !strings.Contains(tt.name, "IIS") {
					t.Errorf("got %q\nwant the advice to set [inbound] %s", got, key)
				}
			})
		}
	}
}

// check warns when AUTH would go in clear text, and never prints the
// password; bridgeConfig hands TLS and AUTH to the sender.
func TestCheckWarnsClearTextAuth(t *testing.T) {
	dir := testDir(t)
	conf := filepath.Join(dir, "mailbridge.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf(`hostname = "bridge.test"
[mailroot]
root = "mr"
[inbound]
bind = "127.0.0.1"
port = %d
[outbound]
server = "relay.test"
tls = "none"
username = 'CORP\app'
password = "hunter2-secret"
`, testtool.FreePort(t))), 0o644)
	var out, errb bytes.Buffer
	if code := realMain([]string{"check", "--config", conf}, &out, &errb); code != 0 {
		t.Fatalf("check: exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), `warning: [outbound] tls = "none" with a username and password: AUTH sends the password in clear text`) {
		t.Fatalf("no clear-text warning in:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `outbound: relay.test port 25, tls none, verify_certificate n/a (tls none), AUTH as 'CORP\app'`) {
		t.Fatalf("no outbound line in:\n%s", out.String())
	}
	if strings.Contains(out.String()+errb.String(), "hunter2-secret") {
		t.Fatal("the password was printed")
	}
	cfg, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	s := bridgeConfig(cfg, nil).Sender
	if s.TLS != "none" || s.Username != `CORP\app` || s.Password != "hunter2-secret" || s.InsecureSkipVerify {
		t.Fatalf("%+v", s)
	}
}

// A PFX problem is a configuration problem: check lists it with the file,
// line, key and value among the others (exit 1), and run refuses to start
// with exit status 2 before it opens a port; a good PFX is described.
func TestPFXProblemsInCheckAndRun(t *testing.T) {
	dir := testDir(t)
	pfx := filepath.Join(dir, "cert.pfx")
	testpki.New(t, "test CA").PFX(t, pfx, "right", "mail.example.com")
	conf := filepath.Join(dir, "mailbridge.toml")
	write := func(pfxLines string) {
		t.Helper()
		os.WriteFile(conf, []byte(fmt.Sprintf("[mailroot]\nroot = \"mr\"\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\ntls = \"starttls\"\n%s\n", testtool.FreePort(t), pfxLines)), 0o644)
	}
	write("pfx_path = 'cert.pfx'\npfx_password = \"right\"")
	if code, out, errs := runCmd(t, "check", "--config", conf); code != 0 || !strings.Contains(out, "certificate: "+pfx+"\n  subject: CN=mail.example.com") {
		t.Fatalf("good PFX: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	write("pfx_path = 'missing.pfx'\npfx_password = \"right\"\npfx_password_env = \"HOME\"\nmax_recipients = 0")
	want := []string{
		"mailbridge: the configuration has 3 problem(s):",
		conf + `:7: inbound.pfx_path = ` + config.Quote(filepath.Join(dir, "missing.pfx")) + `: cannot be read: `,
		conf + `:8: inbound.pfx_password: set only one of pfx_password, pfx_password_file and pfx_password_env`,
		conf + `:10: inbound.max_recipients = 0: must be from 1 to 1000000`,
	}
	for cmd, wantCode := range map[string]int{"check": 1, "run": 2} {
		code, out, errs := runCmd(t, cmd, "--config", conf)
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", cmd, code, wantCode, out, errs)
		}
		for _, w := range want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, w, errs)
			}
		}
		if strings.Contains(errs, "problem: inbound TLS") || strings.Contains(errs, "right") {
			t.Errorf("%s: stderr:\n%s", cmd, errs)
		}
	}
}

// -h asks for help: exit 0, the command's own usage on standard output
// (as `mailbridge help run` gives it), without the --service flag the
// service manager uses; an unknown flag is a usage error (2), on standard
// error.
func TestRunCheckHelp(t *testing.T) {
	for _, cmd := range []string{"run", "check", "import-iis"} {
		var out, errb bytes.Buffer
		if code := realMain([]string{cmd, "-h"}, &out, &errb); code != 0 {
			t.Errorf("%s -h: exit %d", cmd, code)
		}
		if help := out.String(); !strings.Contains(help, "usage: mailbridge "+cmd+" [") || strings.Contains(help, "service") || errb.Len() > 0 {
			t.Errorf("%s -h: standard output %q, standard error %q", cmd, help, errb.String())
		}
		out.Reset()
		errb.Reset()
		if code := realMain([]string{cmd, "--bogus"}, &out, &errb); code != 2 || out.Len() > 0 || !strings.Contains(errb.String(), "bogus") {
			t.Errorf("%s --bogus: exit %d, standard output %q, standard error %q", cmd, code, out.String(), errb.String())
		}
	}
}

// version takes no argument, help only a command's name: a word more is a
// usage error (2), as for run and check.
func TestVersionAndHelpArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, 0, "mailbridge "},
		{[]string{"help"}, 0, "usage"},
		{[]string{"version", "extra"}, 2, `mailbridge version: unexpected argument "extra"`},
		{[]string{"help", "run"}, 0, "usage: mailbridge run [--config FILE]"},
		// Every command's help, as the usage promises (found from outside).
		{[]string{"help", "version"}, 0, "usage: mailbridge version"},
		{[]string{"version", "-h"}, 0, "usage: mailbridge version"},
		{[]string{"version", "--help"}, 0, "usage: mailbridge version"},
		{[]string{"version", "-help"}, 0, "usage: mailbridge version"}, // as Go's flags take it for run's
		{[]string{"help", "help"}, 0, "usage: mailbridge <command>"},
		{[]string{"help", "check"}, 0, "usage: mailbridge check [--config FILE]"},
		{[]string{"help", "import-iis"}, 0, "import-iis"},
		{[]string{"help", "service"}, 0, "service"},
		{[]string{"--help", "runn"}, 2, `mailbridge --help: unknown command "runn"`},
		{[]string{"help", "run", "x"}, 2, `mailbridge help: unexpected argument "x"`},
		{[]string{"--config", "x.toml", "check"}, 2, "mailbridge: the command comes first: mailbridge check --config x.toml"},
	} {
		var out, errb bytes.Buffer
		code := realMain(tc.args, &out, &errb)
		got := out.String()
		if code != 0 {
			got = errb.String() // errors on standard error, help on standard output
		}
		if code != tc.code || !strings.Contains(got, tc.out) {
			t.Errorf("mailbridge %v: exit %d, output %q%q", tc.args, code, out.String(), errb.String())
		}
	}
}

// TestDefaultFileUnreachable: without --config, a default configuration
// file that may exist but cannot be looked at is an error naming it; only
// one that does not exist lets the built-in defaults apply.
func TestDefaultFileUnreachable(t *testing.T) {
	dir := testDir(t)
	missing := filepath.Join(dir, "none", "mailbridge.toml")
	if _, err := loadConfigOr("", missing); err != nil && strings.Contains(err.Error(), missing) {
		t.Fatalf("missing default file: %v, want the built-in defaults", err)
	}
	if runtime.GOOS == "windows" {
		// Linux says ENOTDIR; Windows, ERROR_PATH_NOT_FOUND, which Go
		// takes for fs.ErrNotExist: no file can be there, and the
		// built-in defaults rightly apply, as for a missing one.
		t.Skip("Windows reports a path through a file as not found, not as one that cannot be looked at")
	}
	blocker := filepath.Join(dir, "mailbridge") // a file where the folder should be
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(blocker, "mailbridge.toml")
	if _, err := loadConfigOr("", def); err == nil || !strings.Contains(err.Error(), def) {
		t.Fatalf("default file behind a file: %v, want an error naming %s", err, def)
	}
}

// writeTestConfig writes a configuration listening on a free port of
// 127.0.0.1, its mail root in a temporary folder, with top (TOML) before
// its [mailroot] and more at its end (in [inbound] unless it opens a
// section), and returns its path.
func writeTestConfig(t *testing.T, top, more string) string {
	t.Helper()
	conf := filepath.Join(testDir(t), "mailbridge.toml")
	text := fmt.Sprintf("%s\n[mailroot]\nroot = 'mr'\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\n%s", top, testtool.FreePort(t), more)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// loggedValue matches a value the log's text handler quoted: after "=",
// in double quotes, with Go's escapes.
var loggedValue = regexp.MustCompile(`="(?:[^"\\]|\\.)*"`)

// unquoteLog returns the log text with each quoted value as it was logged:
// error="C:\\mr: \"x\"" reads error=C:\mr: "x". The handler doubles a
// Windows path's backslashes in a quoted value, so a test looking for a
// path there looks in this text.
func unquoteLog(s string) string {
	return loggedValue.ReplaceAllStringFunc(s, func(q string) string {
		if u, err := strconv.Unquote(q[1:]); err == nil {
			return "=" + u
		}
		return q
	})
}

// loadTestConfig loads a configuration written by writeTestConfig.
func loadTestConfig(t *testing.T, top, more string) *config.Config {
	t.Helper()
	cfg, err := config.Load(writeTestConfig(t, top, more))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startLog runs cfg until it listens, stops it, and returns its log.
func startLog(t *testing.T, cfg *config.Config) string {
	t.Helper()
	var logs testlog.Buffer
	stop := startRun(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "msg=listening") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return logs.String()
}

// The start log warns of a delay notice that can never be sent, as check
// does.
func TestStartWarnsDelayNotification(t *testing.T) {
	logs := startLog(t, loadTestConfig(t, `hostname = "mail.test"`, "[outbound]\ndelay_notification = \"72h\"\n"))
	if !strings.Contains(logs, `level=WARN msg="[outbound] delay_notification = \"72h\" is not shorter than expiration = \"48h\"`) {
		t.Fatalf("no warning at start:\n%s", logs)
	}
	logs = startLog(t, loadTestConfig(t, `hostname = "mail.test"`, ""))
	if strings.Contains(logs, "is not shorter than expiration") {
		t.Fatalf("a warning with the defaults:\n%s", logs)
	}
}

// A hostname written in the file that is not a fully qualified domain name
// is a warning at start; the machine's name, the default, is an info line
// (nobody chose it, and IIS used it too: a warning at every start would
// alarm for nothing new).
func TestStartHostnameNotice(t *testing.T) {
	logs := startLog(t, loadTestConfig(t, `hostname = "localhost"`, ""))
	if !strings.Contains(logs, `level=WARN msg="hostname \"localhost\" is not a fully qualified domain name (it has no dot)`) {
		t.Fatalf("no warning at start:\n%s", logs)
	}
	cfg := loadTestConfig(t, "", "")
	cfg.Hostname, cfg.Pickup.DefaultDomain = "box", "box" // whatever this machine is called
	logs = startLog(t, cfg)
	if !strings.Contains(logs, `level=INFO msg="hostname is not set, and this machine's name \"box\" is not a fully qualified domain name (it has no dot)`) || strings.Contains(logs, `level=WARN msg="hostname`) {
		t.Fatalf("want an info line, and no warning:\n%s", logs)
	}
	if logs := startLog(t, loadTestConfig(t, `hostname = "mail.test"`, "")); strings.Contains(logs, "fully qualified") {
		t.Fatalf("a notice for a full name:\n%s", logs)
	}
}

// An open-files limit below what the sessions configured may need is a
// warning naming both and the fix; a limit that suffices, or none, is not.
func TestFileLimitWarning(t *testing.T) {
	cfg := loadTestConfig(t, `hostname = "mail.test"`, "max_connections = 200\n")
	for _, tc := range []struct {
		limit uint64
		known bool
		warn  bool
	}{{64, true, true}, {463, true, true}, {464, true, false}, {1 << 20, true, false}, {0, false, false}} {
		w := fileLimitWarning(cfg, tc.limit, tc.known)
		if (w != "") != tc.warn || tc.warn && (!strings.Contains(w, fmt.Sprintf("open-files limit is %d", tc.limit)) || !strings.Contains(w, "max_connections = 200") || !strings.Contains(w, "LimitNOFILE")) {
			t.Errorf("limit %d (known %v): %q", tc.limit, tc.known, w)
		}
	}
	// With an Outbound Server, its connections count too, and are named.
	cfg = loadTestConfig(t, `hostname = "mail.test"`, "max_connections = 200\n[outbound]\nserver = \"127.0.0.1\"\n")
	if w := fileLimitWarning(cfg, 471, true); !strings.Contains(w, "max_connections = 200 (with 4 outbound connections) may need 472") {
		t.Errorf("with a server: %q", w)
	}
}

// intercept = false without local_domains has no effect, and is warned of.
func TestInterceptWarning(t *testing.T) {
	for _, tc := range []struct {
		more string
		warn bool
	}{
		{"relay_from = [\"10.0.0.0/8\"]\nintercept = false\n", true},
		{"relay_from = [\"10.0.0.0/8\"]\nintercept = false\nlocal_domains = [\"corp.test\"]\n", false},
		{"relay_from = [\"10.0.0.0/8\"]\n", false},
	} {
		cfg := loadTestConfig(t, `hostname = "mail.test"`, tc.more)
		if w := interceptWarning(cfg.Inbound); (w != "") != tc.warn {
			t.Errorf("%q: %q", tc.more, w)
		}
	}
	code, out, _ := runCmd(t, "check", "--config", writeTestConfig(t, `hostname = "mail.test"`, "relay_from = [\"10.0.0.0/8\"]\nintercept = false\n"))
	if code != 0 || !strings.Contains(out, "warning: [inbound] intercept = false relays mail") {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
	// relay_from and an Outbound Server with the default intercept: mail
	// for other domains goes to Drop, which check says in a note (found
	// from outside: "ok: no problems found" alone).
	relaying := "relay_from = [\"10.0.0.0/8\"]\nlocal_domains = [\"corp.test\"]\n"
	for _, tc := range []struct {
		more string
		note bool
	}{
		{relaying + "[outbound]\nserver = \"127.0.0.1\"\n", true},
		{relaying + "intercept = false\n[outbound]\nserver = \"127.0.0.1\"\n", false},
		{relaying, false},
	} {
		code, out, _ := runCmd(t, "check", "--config", writeTestConfig(t, `hostname = "mail.test"`, tc.more))
		if code != 0 || strings.Contains(out, "note: [inbound] intercept = true (IIS's Email Interceptor; the default when not set): mail that relay_from clients send to other domains goes to Drop") != tc.note {
			t.Errorf("%q: exit %d\n%s", tc.more, code, out)
		}
	}
}
