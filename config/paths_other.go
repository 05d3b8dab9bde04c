//go:build !windows

package config

import "path/filepath"

// defaultMailroot is ./mailroot: an ordinary user can run mailbridge without
// any set-up.
func defaultMailroot() string { return "mailroot" }

func isAbs(p string) bool { return filepath.IsAbs(p) }

// pathForm accepts every path: outside Windows a path is absolute or
// relative (to the configuration file's folder), nothing in between.
func pathForm(string) error { return nil }

func joinPath(dir, name string) string { return filepath.Join(dir, name) }

// DefaultFile is the configuration file read when none is named. Outside
// Windows there is none: the built-in defaults apply unless --config is given.
func DefaultFile() string { return "" }

// DefaultServiceLogFile is the log file of the Windows service; outside
// Windows there is no service, and the log goes to standard error unless
// [log] file is set.
func DefaultServiceLogFile() string { return "" }

// sameName compares cleaned paths: file names are case-sensitive here.
func sameName(a, b string) bool { return a == b }
