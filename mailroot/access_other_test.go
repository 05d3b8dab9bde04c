//go:build !windows

package mailroot

import (
	"os/user"
	"strings"
	"syscall"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

// TestAccessAdvice: a folder that may not be written is said with the
// account mailbridge runs as, the folder's owner and mode, and what to do;
// an immutable folder (EPERM) and a read-only volume are said as such.
func TestAccessAdvice(t *testing.T) {
	dir := testdir.New(t)
	u, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	got := AccessAdvice(dir, syscall.EACCES)
	want := " (mailbridge runs as " + u.Username + "; " + dir + " is owned by " + u.Username + ", mode drwx"
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ": give "+u.Username+" write access to it, with chown, chmod or a group both share)") {
		t.Errorf("got  %q\nwant %q...", got, want)
	}
	if got := AccessAdvice(dir, syscall.EPERM); !strings.Contains(got, "immutable") {
		t.Errorf("EPERM: %q", got)
	}
	if got := AccessAdvice(dir, syscall.EROFS); got != " (the volume is mounted read-only)" {
		t.Errorf("EROFS: %q", got)
	}
	if got := AccessAdvice(dir, syscall.ENOSPC); got != "" {
		t.Errorf("ENOSPC: %q", got)
	}
}
