//go:build windows

package config

import "path/filepath"

// defaultMailroot is where IIS SMTP kept its folders.
func defaultMailroot() string { return `C:\inetpub\mailroot` }

func isAbs(p string) bool { return filepath.IsAbs(p) || filepath.VolumeName(p) != "" }

func joinPath(dir, name string) string { return filepath.Join(dir, name) }
