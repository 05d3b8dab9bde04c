//go:build windows

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
)

// defaultMailroot is where IIS SMTP kept its folders.
func defaultMailroot() string { return `C:\inetpub\mailroot` }

// isAbs reports whether p names one place whatever the current folder:
// a drive letter and a backslash ('C:\inetpub'), or a UNC path. The two
// forms in between are refused by pathForm before any path is resolved.
func isAbs(p string) bool { return filepath.IsAbs(p) }

// pathForm refuses the Windows paths that depend on a current folder the
// administrator does not see: '\mailroot' is on the current drive (for a
// service, the drive of C:\Windows\System32; for a console, whichever
// drive the prompt is on), and 'C:mailroot' is in the current folder of
// drive C: (System32 again for a service). Neither is what anyone writing
// a configuration file means, so the message spells the absolute form.
// UNC paths (\\server\share) and device paths (\\?\C:\...) are absolute.
func pathForm(p string) error {
	switch vol := filepath.VolumeName(p); {
	case vol == "" && len(p) > 0 && os.IsPathSeparator(p[0]):
		return fmt.Errorf(`starts with a backslash but has no drive letter, so it would depend on the current drive; write the drive too, such as '%s'`, "C:"+p)
	case len(vol) > 2 && os.IsPathSeparator(vol[0]) && os.IsPathSeparator(vol[1]) && !strings.ContainsAny(strings.TrimRight(vol[2:], `\/`), `\/`) && vol[2] != '.' && vol[2] != '?':
		// \\fileserver alone: a server, but no share on it.
		return fmt.Errorf(`names the server %s but no share on it; write the share and the folder too, such as '%s\share\folder'`, strings.TrimRight(vol[2:], `\/`), strings.TrimRight(vol, `\/`))
	case len(vol) == 2 && vol[1] == ':' && (len(p) == 2 || !os.IsPathSeparator(p[2])):
		return fmt.Errorf(`has a drive letter without a backslash after it, so it would be relative to the current folder of drive %s (C:\Windows\System32 for a service); write it from the root of the drive, such as '%s'`, vol, vol+`\`+p[2:])
	}
	return nil
}

func joinPath(dir, name string) string { return filepath.Join(dir, name) }

// programDir is %ProgramData%\mailbridge: machine-wide data that a service
// running as LocalSystem and an administrator's shell both see. The folder
// comes from the system (the ProgramData known folder), not from the
// environment variable, which a user or a launcher may change: a service
// and the console that installed it must agree on the configuration file.
// The variable, then C:\ProgramData, serve where the system cannot say.
func programDir() string {
	pd, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil || pd == "" {
		pd = os.Getenv("ProgramData")
	}
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "mailbridge")
}

// DefaultFile is the configuration file read when none is named:
// %ProgramData%\mailbridge\mailbridge.toml. It need not exist; without it
// the built-in defaults apply.
func DefaultFile() string { return filepath.Join(programDir(), "mailbridge.toml") }

// DefaultServiceLogFile is the log file of the Windows service named
// service when [log] file is not set (a service has no console):
// %ProgramData%\mailbridge\logs\SERVICE.log, mailbridge.log for the
// default name. A second instance (`service install --name`) gets its own:
// sharing one, the two made every rotation fail and their lines could not
// be told apart (found from outside).
func DefaultServiceLogFile(service string) string {
	name := strings.Map(func(r rune) rune {
		if strings.ContainsRune(`<>:"/\|?*`, r) || r < ' ' {
			return '_'
		}
		return r
	}, service)
	return filepath.Join(programDir(), "logs", name+".log")
}

// sameName compares cleaned paths as NTFS does: letter case aside.
func sameName(a, b string) bool { return strings.EqualFold(a, b) }
