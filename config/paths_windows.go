//go:build windows

package config

import (
	"os"
	"path/filepath"
	"strings"
)

// defaultMailroot is where IIS SMTP kept its folders.
func defaultMailroot() string { return `C:\inetpub\mailroot` }

func isAbs(p string) bool { return filepath.IsAbs(p) || filepath.VolumeName(p) != "" }

func joinPath(dir, name string) string { return filepath.Join(dir, name) }

// programDir is %ProgramData%\mailbridge: machine-wide data that a service
// running as LocalSystem and an administrator's shell both see.
func programDir() string {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return filepath.Join(pd, "mailbridge")
}

// DefaultFile is the configuration file read when none is named:
// %ProgramData%\mailbridge\mailbridge.toml. It need not exist; without it
// the built-in defaults apply.
func DefaultFile() string { return filepath.Join(programDir(), "mailbridge.toml") }

// DefaultServiceLogFile is the log file of the Windows service when [log]
// file is not set (a service has no console):
// %ProgramData%\mailbridge\logs\mailbridge.log.
func DefaultServiceLogFile() string { return filepath.Join(programDir(), "logs", "mailbridge.log") }

// sameName compares cleaned paths as NTFS does: letter case aside.
func sameName(a, b string) bool { return strings.EqualFold(a, b) }
