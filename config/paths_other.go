//go:build !windows

package config

import (
	"path/filepath"
	"strings"
)

// defaultMailroot is ./mailroot: an ordinary user can run mailbridge without
// any set-up.
func defaultMailroot() string { return "mailroot" }

func isAbs(p string) bool { return filepath.IsAbs(p) }

// pathForm refuses a Windows path: a drive letter followed by a backslash
// or a slash ('C:\Inetpub\mailroot', 'D:/mail'), or a UNC path
// ('\\server\share'). Here it names no drive or server but a relative
// path (a folder named 'C:\Inetpub\mailroot', backslashes and all) under
// the configuration file's folder: a configuration copied from a Windows
// server (or made by import-iis) would seem to work, check creating the
// folders, with the mail in a folder nobody looks in.
// Every other path is taken: outside Windows a path is absolute or
// relative (to the configuration file's folder), nothing in between.
func pathForm(p string) error {
	switch {
	case len(p) >= 3 && isLetter(p[0]) && p[1] == ':' && (p[2] == '\\' || p[2] == '/'):
		return windowsPathError("it starts with a drive letter")
	case strings.HasPrefix(p, `\\`):
		return windowsPathError(`it starts with \\, a server's share`)
	}
	return nil
}

// windowsPathError is pathForm's refusal, saying what makes the path a
// Windows one; it Is ErrWindowsPath.
type windowsPathError string

func (e windowsPathError) Error() string {
	return "is a Windows path (" + string(e) + "), and this is not Windows: here it would be taken as a relative path, under the configuration file's folder; write a path of this system, such as /var/spool/mailbridge for a folder or /var/log/mailbridge/mailbridge.log for a file"
}

func (windowsPathError) Is(target error) bool { return target == ErrWindowsPath }

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func joinPath(dir, name string) string { return filepath.Join(dir, name) }

// DefaultFile is the configuration file read when none is named. Outside
// Windows there is none: the built-in defaults apply unless --config is given.
func DefaultFile() string { return "" }

// DefaultServiceLogFile is the log file of the Windows service; outside
// Windows there is no service, and the log goes to standard error unless
// [log] file is set.
func DefaultServiceLogFile(string) string { return "" }

// sameName compares cleaned paths: file names are case-sensitive here.
func sameName(a, b string) bool { return a == b }
