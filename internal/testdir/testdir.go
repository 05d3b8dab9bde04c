// Package testdir provides temporary folders for tests that also clean up
// when the Windows test binaries run under Wine.
//
// t.TempDir removes its folder with os.RemoveAll. On Windows, Go's
// RemoveAll deletes relative to open folder handles, which Wine 8.0 does not
// implement ("unlinkat ...: Invalid function"), so every test using
// t.TempDir fails there at cleanup. New removes the tree one name at a time
// with os.Remove, deepest first, which works on Windows, Wine and Unix alike.
package testdir

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// New creates a temporary folder removed when tb and its subtests finish.
func New(tb testing.TB) string {
	tb.Helper()
	pattern := strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, tb.Name())
	if len(pattern) > 40 {
		pattern = pattern[:40]
	}
	dir, err := os.MkdirTemp("", pattern+"-")
	if err != nil {
		tb.Fatalf("testdir: %v", err)
	}
	tb.Cleanup(func() {
		if err := Remove(dir); err != nil {
			tb.Errorf("testdir: cleanup: %v", err)
		}
	})
	return dir
}

// Remove deletes the tree at dir: os.RemoveAll where it works, otherwise
// every file, then every folder from the deepest up.
func Remove(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	var files, dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			// A read-only file (a test of permissions) needs write access
			// before Windows deletes it.
			os.Chmod(f, 0o600)
			if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	// Deeper paths are longer than their parents: remove longest first.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
