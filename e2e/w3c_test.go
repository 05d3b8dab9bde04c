//go:build !windows

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// TestW3CLog: with [log] w3c_dir, a swaks session leaves IIS's W3C SMTP log
// (iis-reference section 9) in exYYMMDD.log named by the UTC date: the
// header, one line per command with the HELO name as cs-username, the
// Message-ID on the DATA line, and QUIT with status 240.
func TestW3CLog(t *testing.T) {
	swaks := testtool.Path(t, "swaks", "swaks")
	logDir := filepath.Join(t.TempDir(), "SMTPSVC1")
	d := startDaemon(t, options{extra: fmt.Sprintf("[log]\nw3c_dir = %q\n", logDir)})
	out, code := runCmd(t, time.Minute, swaks, "-s", d.addr, "--helo", "w3c.test", "-f", "s@example.com", "-t", "a@example.org")
	if code != 0 {
		t.Fatalf("swaks exit %d:\n%s", code, out)
	}
	id := regexp.MustCompile(`250 2\.6\.0 (<[^>]+>) Queued`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("no 250 2.6.0 in:\n%s", out)
	}
	d.signal(syscall.SIGTERM)
	d.wait(20 * time.Second)
	path := filepath.Join(logDir, "ex"+time.Now().UTC().Format("060102")+".log")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("W3C log: %v (folder holds %v)", err, listDirMaybe(logDir))
	}
	text := string(raw)
	for _, want := range []string{
		"#Software: Microsoft Internet Information Services 10.0\r\n",
		"#Version: 1.0\r\n",
		"#Fields: date time c-ip cs-username s-sitename s-computername s-ip s-port cs-method cs-uri-stem cs-uri-query sc-status sc-win32-status sc-bytes cs-bytes time-taken cs-version cs-host cs(User-Agent) cs(Cookie) cs(Referer)\r\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("W3C log lacks %q:\n%s", want, text)
		}
	}
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d 127\.0\.0\.1 w3c\.test SMTPSVC1 \S+ 127\.0\.0\.1 0 (\S+) - (\S+) (\d{3}) `)
	got := map[string]string{}
	for _, m := range line.FindAllStringSubmatch(text, -1) {
		got[m[1]] = m[2] + " " + m[3]
	}
	for cmd, want := range map[string]string{
		"MAIL": "+FROM:<s@example.com> 250",
		"RCPT": "+TO:<a@example.org> 250",
		"DATA": id[1] + " 250",
		"QUIT": "w3c.test 240",
	} {
		if got[cmd] != want {
			t.Errorf("%s line: %q, want %q\n%s", cmd, got[cmd], want, text)
		}
	}
}

func listDirMaybe(dir string) []string {
	es, _ := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
