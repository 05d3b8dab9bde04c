//go:build !windows

package config

import "path/filepath"

// defaultMailroot is ./mailroot: an ordinary user can run mailbridge without
// any set-up.
func defaultMailroot() string { return "mailroot" }

func isAbs(p string) bool { return filepath.IsAbs(p) }

func joinPath(dir, name string) string { return filepath.Join(dir, name) }
