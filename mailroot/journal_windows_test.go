package mailroot

import (
	"path/filepath"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

// An NTFS folder is not one to warn of (Wine reports its drives as NTFS):
// the call reaches the volume's file system name and finds a journal.
func TestUnjournaledNTFS(t *testing.T) {
	dir := testdir.New(t)
	if got := Unjournaled(dir); got != "" {
		t.Fatalf("Unjournaled = %q, want none", got)
	}
	if got := Unjournaled(filepath.Join(dir, "no", "such")); got != "" {
		t.Fatalf("a folder that is not there: %q", got)
	}
}
