//go:build windows

package config

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// TestWindowsPathForms: a path that depends on a current folder (the
// current drive, or a drive's current folder) is a problem naming the
// file, line, key and value, with the absolute spelling to write.
func TestWindowsPathForms(t *testing.T) {
	tests := []struct {
		name, key, value string
		want             string // "" for accepted
	}{
		{"absolute", "root", `C:\mr\mailroot`, ""},
		{"forward slashes", "root", `C:/mr/mailroot`, ""},
		{"UNC", "root", `\\fileserver\mail\mailroot`, ""},
		{"UNC without a share", "root", `\\fileserver`, `mailroot.root = '\\fileserver': names the server fileserver but no share on it; write the share and the folder too, such as '\\fileserver\share\folder'`},
		{"relative", "root", `mailroot`, ""},
		{"root-relative", "root", `\mr7\mailroot`,
			`x.toml:3: mailroot.root = '\mr7\mailroot': starts with a backslash but has no drive letter, so it would depend on the current drive; write the drive too, such as 'C:\mr7\mailroot'`},
		{"drive-relative", "root", `C:mr8`,
			`x.toml:3: mailroot.root = "C:mr8": has a drive letter without a backslash after it, so it would be relative to the current folder of drive C: (C:\Windows\System32 for a service); write it from the root of the drive, such as 'C:\mr8'`},
		{"drive alone", "drop", `D:`, `such as 'D:\'`},
		{"root-relative folder", "pickup", `\inetpub\mailroot\Pickup`, `mailroot.pickup = '\inetpub\mailroot\Pickup': starts with a backslash`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := "hostname = \"mb.example.com\"\n[mailroot]\n" + tt.key + " = '" + tt.value + "'\n"
			_, err := Parse("x.toml", []byte(data))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("%s = %q: %v", tt.key, tt.value, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%s = %q: error %v; want %q", tt.key, tt.value, err, tt.want)
			}
		})
	}
	// The log file and the other paths are checked alike.
	_, err := Parse("x.toml", []byte("hostname = \"mb.example.com\"\n[log]\nfile = '\\logs\\mb.log'\n"))
	if err == nil || !strings.Contains(err.Error(), `x.toml:3: log.file`) {
		t.Errorf("log.file = '\\logs\\mb.log': %v; want a problem on line 3", err)
	}
}

// TestProgramDirIsTheKnownFolder: the default configuration file is under
// the system's ProgramData folder even when the environment says otherwise
// (a service and the console that installed it must read the same file).
func TestProgramDirIsTheKnownFolder(t *testing.T) {
	want, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil {
		t.Skipf("no ProgramData known folder here: %v", err)
	}
	t.Setenv("ProgramData", `C:\somewhere else`)
	if got := DefaultFile(); !strings.EqualFold(got, filepath.Join(want, "mailbridge", "mailbridge.toml")) {
		t.Errorf("DefaultFile() = %q; want it under %s", got, want)
	}
}

// Each service has its own default log file: two instances sharing one
// made every rotation fail.
func TestDefaultServiceLogFile(t *testing.T) {
	for service, want := range map[string]string{
		"mailbridge": `\mailbridge\logs\mailbridge.log`,
		"mb2":        `\mailbridge\logs\mb2.log`,
		"a:b*c":      `\mailbridge\logs\a_b_c.log`,
	} {
		if got := DefaultServiceLogFile(service); !strings.HasSuffix(got, want) {
			t.Errorf("DefaultServiceLogFile(%q) = %s; want ...%s", service, got, want)
		}
	}
}
