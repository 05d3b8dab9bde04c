//go:build !windows

package config

import (
	"errors"
	"strings"
	"testing"
)

// TestWindowsPathsRefused: outside Windows a Windows path (a drive letter
// and a slash or backslash, or \\server\share) names a relative folder
// with that odd name, which check would create and call ok: it is a
// problem naming the file, line, key and value, in every path key.
func TestWindowsPathsRefused(t *testing.T) {
	const msg = "and this is not Windows: here it would be taken as a relative path, under the configuration file's folder; write a path of this system, such as /var/spool/mailbridge for a folder or /var/log/mailbridge/mailbridge.log for a file"
	tests := []struct {
		name, section, key, value string
		want                      string // "" for accepted
	}{
		{"drive and backslash", "mailroot", "root", `C:\Inetpub\mailroot`, `is a Windows path (it starts with a drive letter), ` + msg},
		{"drive and slash", "mailroot", "root", `d:/mail/root`, `is a Windows path (it starts with a drive letter), ` + msg},
		{"drive root", "mailroot", "drop", `E:\`, `is a Windows path (it starts with a drive letter)`},
		{"UNC", "mailroot", "pickup", `\\fileserver\mail\Pickup`, `is a Windows path (it starts with \\, a server's share), ` + msg},
		{"queue", "mailroot", "queue", `C:\q`, `is a Windows path`},
		{"badmail", "mailroot", "badmail", `C:\b`, `is a Windows path`},
		{"sorttemp", "mailroot", "sorttemp", `C:\s`, `is a Windows path`},
		{"pfx_path", "inbound", "pfx_path", `C:\certs\mail.pfx`, `is a Windows path`},
		{"pfx_password_file", "inbound", "pfx_password_file", `\\dc\secrets\pfx.txt`, `is a Windows path`},
		{"ca_file", "outbound", "ca_file", `C:\certs\ca.pem`, `is a Windows path`},
		{"password_file", "outbound", "password_file", `C:\secrets\pw.txt`, `is a Windows path`},
		{"log file", "log", "file", `C:\logs\mailbridge.log`, `is a Windows path`},
		{"w3c_dir", "log", "w3c_dir", `C:\Windows\System32\LogFiles\SMTPSVC1`, `is a Windows path`},
		// What this system's paths may hold is still taken.
		{"absolute", "mailroot", "root", `/var/spool/mailbridge`, ""},
		{"relative", "mailroot", "root", `mailroot`, ""},
		{"two slashes", "mailroot", "root", `//srv/mail`, ""},
		{"colon in a name", "mailroot", "root", `spool/C:\x`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := "hostname = \"mb.example.com\"\n[" + tt.section + "]\n" + tt.key + " = '" + tt.value + "'\n"
			_, err := Parse("x.toml", []byte(data))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("%s = %q: %v", tt.key, tt.value, err)
				}
				return
			}
			checkProblems(t, err, "", []string{"x.toml:3: " + tt.section + "." + tt.key + " = " + show(tt.value) + ": " + tt.want})
			// import-iis tells these from the problems it must not make.
			var errs Errors
			if errors.As(err, &errs) && (len(errs) != 1 || !errs[0].Is(ErrWindowsPath)) {
				t.Errorf("%v: not ErrWindowsPath", err)
			}
		})
	}
	// A control character (a TOML escape in double quotes) is the
	// problem to fix first: it is named, not the drive letter.
	_, err := Parse("x.toml", []byte("[mailroot]\nroot = \"C:\\temp\"\n"))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || !strings.Contains(err.Error(), "holds the control character U+0009") || errs[0].Is(ErrWindowsPath) {
		t.Errorf("got %v", err)
	}
}
