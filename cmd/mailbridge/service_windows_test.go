//go:build windows

package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"

	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/internal/testtool"
	"github.com/mailbridge/mailbridge/mailroot"
)

// TestServiceCmdErrors runs against the real service manager (Windows, or
// Wine's in scripts/test-windows); it changes nothing there.
func TestServiceCmdErrors(t *testing.T) {
	missing := filepath.Join(testdir.New(t), "missing.toml")
	tests := []struct {
		args []string
		rc   int
		want string
	}{
		{nil, 2, "usage: mailbridge service"},
		{[]string{"restart"}, 2, `unknown command "restart"`},
		{[]string{"start", "now"}, 2, `unexpected argument "now"`},
		{[]string{"stop", "--config", "x.toml"}, 2, "flag provided but not defined: --config"},
		{[]string{"status", "--name", "mailbridge-test-absent"}, 1, "no service named \"mailbridge-test-absent\" is installed; install it with `mailbridge service install --name mailbridge-test-absent`"},
		{[]string{"stop", "--name", "mailbridge-test-absent"}, 1, `no service named "mailbridge-test-absent" is installed`},
		{[]string{"uninstall", "--name", "mailbridge-test-absent"}, 1, `no service named "mailbridge-test-absent" is installed`},
		{[]string{"install", "--name", "mailbridge-test-absent", "--config", missing}, 1, "fix the configuration first"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			rc := serviceCmd(tt.args, &stdout, &stderr)
			if rc != tt.rc || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("service %v = %d, stderr %q; want %d and %q", tt.args, rc, stderr.String(), tt.rc, tt.want)
			}
		})
	}
}

// `service help` is asked for: the usage on stdout, and success.
func TestServiceHelp(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help"} {
		var stdout, stderr bytes.Buffer
		if rc := serviceCmd([]string{arg}, &stdout, &stderr); rc != 0 || !strings.Contains(stdout.String(), "usage: mailbridge service") {
			t.Errorf("service %s = %d, stdout %q", arg, rc, stdout.String())
		}
	}
	// A subcommand's -h too: its flags, on stdout, and success.
	var stdout, stderr bytes.Buffer
	if rc := serviceCmd([]string{"install", "-h"}, &stdout, &stderr); rc != 0 || !strings.Contains(stdout.String(), "usage: mailbridge service install [--name NAME] [--config FILE]") || !strings.Contains(stdout.String(), "--name NAME") || stderr.Len() > 0 {
		t.Errorf("service install -h = %d, stdout %q, stderr %q", rc, stdout.String(), stderr.String())
	}
}

func TestServiceRunFromConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the service manager to give up (10 s under Wine)")
	}
	var stderr bytes.Buffer
	rc := realMain([]string{"run", "--service", "mailbridge-test-absent"}, &bytes.Buffer{}, &stderr)
	if rc == 0 || !strings.Contains(stderr.String(), "this command line is for the service manager") {
		t.Errorf("run --service from a console = %d, %q", rc, stderr.String())
	}
}

// TestServiceExecuteRunningOnlyOnceOpen drives the service's Execute as
// the service manager would: Running is reported only once the port
// accepts connections, and a start that fails (the port taken) is
// StartPending, then the exit with exitFailed and the reason in the log,
// never Running.
func TestServiceExecuteRunningOnlyOnceOpen(t *testing.T) {
	elog, err := eventlog.Open("mailbridge-test")
	if err != nil {
		t.Skipf("no Event Log here: %v", err)
	}
	defer elog.Close()
	for _, taken := range []bool{false, true} {
		t.Run(map[bool]string{false: "port free", true: "port taken"}[taken], func(t *testing.T) {
			dir := testdir.New(t)
			port := testtool.FreePort(t)
			logFile := filepath.Join(dir, "mailbridge.log")
			conf := filepath.Join(dir, "mailbridge.toml")
			text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = '%s'\n[inbound]\nbind = \"127.0.0.1\"\nport = %d\nshutdown_timeout = \"1s\"\n[log]\nfile = '%s'\n",
				filepath.Join(dir, "mailroot"), port, logFile)
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			if taken {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
			}
			s := &winService{name: "mailbridge-test", cfgPath: conf, elog: elog}
			req := make(chan svc.ChangeRequest)
			status := make(chan svc.Status)
			type result struct {
				ssec bool
				code uint32
			}
			res := make(chan result, 1)
			go func() {
				ssec, code := s.Execute(nil, req, status)
				res <- result{ssec, code}
			}()
			timeout := time.After(30 * time.Second)
			for {
				select {
				case st := <-status:
					if st.State != svc.Running {
						continue
					}
					if taken {
						t.Fatal("reported Running with its port taken")
					}
					c, err := net.DialTimeout("tcp", addr, 5*time.Second)
					if err != nil {
						t.Fatalf("reported Running before its port accepts connections: %v", err)
					}
					c.Close()
					go func() { req <- svc.ChangeRequest{Cmd: svc.Stop} }()
				case r := <-res:
					if !taken {
						if r.ssec || r.code != 0 {
							t.Fatalf("Execute after a stop = %v, %d; want false, 0", r.ssec, r.code)
						}
						return
					}
					if !r.ssec || r.code != exitFailed {
						t.Fatalf("Execute with the port taken = %v, %d; want true, %d", r.ssec, r.code, exitFailed)
					}
					why := startFailure(logFile, 0)
					if !strings.Contains(why, "inbound.port = ") {
						t.Fatalf("the log gives no reason `service start` can print: %q", why)
					}
					if !strings.Contains(why, "held by") && !strings.Contains(why, "holds port") {
						t.Errorf("the reason does not say that another program holds the port: %q", why)
					}
					return
				case <-timeout:
					t.Fatal("Execute neither ran nor failed within 30 s")
				}
			}
		})
	}
}

// TestServiceInstallPrintsWhatIsRegistered installs a service (Wine's
// service manager in scripts/test-windows; an elevated prompt on Windows)
// and removes it: the command line printed is the one registered, quoted
// so that it can be pasted, and the start type is the one set.
func TestServiceInstallPrintsWhatIsRegistered(t *testing.T) {
	const name = "mailbridge-test-install"
	dir := filepath.Join(testdir.New(t), "mb cfg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "mailbridge.toml")
	port := testtool.FreePort(t)
	text := fmt.Sprintf("hostname = \"mail.test\"\n[mailroot]\nroot = '%s'\n[inbound]\nport = %d\n", filepath.Join(dir, "mailroot"), port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if rc := serviceCmd([]string{"install", "--name", name, "--config", conf}, &stdout, &stderr); rc != 0 {
		if strings.Contains(stderr.String(), "access denied") {
			t.Skip("needs an elevated prompt")
		}
		t.Fatalf("install = %d: %s", rc, stderr.String())
	}
	defer serviceCmd([]string{"uninstall", "--name", name}, &bytes.Buffer{}, &bytes.Buffer{})
	out := stdout.String()
	if want := `--config "` + conf + `"`; !strings.Contains(out, want) {
		t.Errorf("the command printed does not quote the configuration file's path (%s):\n%s", want, out)
	}
	var status bytes.Buffer
	if rc := serviceCmd([]string{"status", "--name", name}, &status, &stderr); rc != 0 {
		t.Fatalf("status = %d: %s", rc, stderr.String())
	}
	_, registered, _ := strings.Cut(status.String(), "command:  ")
	registered, _, _ = strings.Cut(registered, "\n")
	if !strings.Contains(out, "command:       "+registered+"\n") {
		t.Errorf("install printed a command line other than the one registered (%s):\n%s", registered, out)
	}
	if want := `\logs\` + name + ".log"; !strings.Contains(out, want) {
		t.Errorf("install does not name the service's own log file (%s):\n%s", want, out)
	}
	// status reads the service's own configuration: its port, and
	// whether the next start would fail on it.
	if want := fmt.Sprintf("config:   %s\nport:     %d\n", conf, port); !strings.Contains(status.String(), want) {
		t.Errorf("status does not name the service's configuration and port (%q):\n%s", want, status.String())
	}
	if err := os.WriteFile(conf, []byte(text+"max_recipients = \"many\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	status.Reset()
	if rc := serviceCmd([]string{"status", "--name", name}, &status, &stderr); rc != 0 {
		t.Fatalf("status = %d: %s", rc, stderr.String())
	}
	if want := "max_recipients"; !strings.Contains(status.String(), "warning:  the configuration has problems") || !strings.Contains(status.String(), want) {
		t.Errorf("status does not say that the service's configuration is broken (%s):\n%s", want, status.String())
	}
	if want := `mailbridge check --config "` + conf + `"`; !strings.Contains(status.String(), want) {
		t.Errorf("status does not give the check command as it is typed (%s):\n%s", want, status.String())
	}
	// A mail root another mailbridge holds, or a drive this machine
	// lacks, stops the next start as surely (found from outside: status
	// said only "see the Event Log").
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	other, err := mailroot.Open(layout(cfg))
	if err != nil {
		t.Fatal(err)
	}
	status.Reset()
	serviceCmd([]string{"status", "--name", name}, &status, &stderr)
	other.Close()
	if want := "warning:  the service cannot start while another mailbridge runs with its mail root"; !strings.Contains(status.String(), want) {
		t.Errorf("status does not say that the mail root is held (%s):\n%s", want, status.String())
	}
	for c := 'Q'; c <= 'Y'; c++ {
		drive := string(c) + ":"
		if _, err := os.Stat(drive + `\`); err == nil {
			continue
		}
		// Said once for the drive, however its letter is written.
		missing := strings.Replace(text, "root = '"+filepath.Join(dir, "mailroot")+"'", "root = '"+drive+`\mailroot'`+"\ndrop = '"+strings.ToLower(drive)+`\drop'`, 1)
		if err := os.WriteFile(conf, []byte(missing), 0o644); err != nil {
			t.Fatal(err)
		}
		status.Reset()
		serviceCmd([]string{"status", "--name", name}, &status, &stderr)
		if want := "is on drive " + drive + ", which this machine does not have"; !strings.Contains(status.String(), want) || strings.Count(status.String(), "is on drive") != 1 {
			t.Errorf("status does not say once that the drive is missing (%s):\n%s", want, status.String())
		}
		// The log file too (found from outside: start failed, naming only
		// the log file on the missing drive).
		if err := os.WriteFile(conf, []byte(text+"[log]\nfile = '"+drive+`\logs\mb.log'`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		status.Reset()
		serviceCmd([]string{"status", "--name", name}, &status, &stderr)
		if want := "[log] file " + drive + `\logs\mb.log is on drive ` + drive; !strings.Contains(status.String(), want) {
			t.Errorf("status does not say that the log is on a missing drive (%s):\n%s", want, status.String())
		}
		break
	}
	if strings.Contains(out, "does not support delayed start") && strings.Contains(out, "Delayed Start") {
		t.Errorf("install printed delayed start, which was not set:\n%s", out)
	}
	if strings.Contains(out, "does not support restart on failure;") && strings.Contains(out, "restarts on failure") {
		t.Errorf("install printed restarts on failure, which were not set:\n%s", out)
	}
}

// import-iis without a file, where IIS is gone, says where the file must
// come from (found from outside: only "Path not found"). And a service
// not installed is named with its --name in the hint (TestServiceCmdErrors).
func TestImportIISWithoutMetabaseHere(t *testing.T) {
	if _, err := os.Stat(defaultMetabasePath()); err == nil {
		t.Skip("IIS's metabase is on this machine")
	}
	var stdout, stderr bytes.Buffer
	if rc := importIIS(nil, &stdout, &stderr); rc != 1 || !strings.Contains(stderr.String(), "give the path of a MetaBase.xml copied from the IIS server") {
		t.Errorf("import-iis = %d, stderr %q", rc, stderr.String())
	}
}
