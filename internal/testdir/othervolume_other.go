//go:build !windows

package testdir

import (
	"os"
	"syscall"
	"testing"
)

// OnOtherVolume creates a temporary folder on another file system than
// New's, removed when tb finishes: under /dev/shm (a tmpfs on Linux). It
// skips tb where there is none: files cannot be renamed between the two,
// which is what the tests that use it are about.
func OnOtherVolume(tb testing.TB) string {
	tb.Helper()
	const shm = "/dev/shm"
	a, errA := os.Stat(os.TempDir())
	b, errB := os.Stat(shm)
	if errA != nil || errB != nil || a.Sys().(*syscall.Stat_t).Dev == b.Sys().(*syscall.Stat_t).Dev {
		tb.Skipf("no file system here other than the temporary folder's (%s is missing or on the same one)", shm)
	}
	dir, err := os.MkdirTemp(shm, "mailbridge-test-")
	if err != nil {
		tb.Skipf("cannot create a folder in %s: %v", shm, err)
	}
	tb.Cleanup(func() {
		if err := Remove(dir); err != nil {
			tb.Errorf("testdir: cleanup: %v", err)
		}
	})
	return dir
}
