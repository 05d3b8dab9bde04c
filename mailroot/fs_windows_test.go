//go:build windows

package mailroot

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

// What a power cut would lose cannot be shown without cutting the power
// of an NTFS disk; these tests check that the calls that make a rename
// durable are made and work: the folder is really opened and flushed (it
// was a no-op, which succeeded even for a folder that does not exist),
// and the written-through rename behaves as os.Rename.

func TestSyncDirFlushesTheFolder(t *testing.T) {
	d := testdir.New(t)
	if err := syncDir(d); err != nil {
		t.Fatalf("syncDir(%s): %v", d, err)
	}
	missing := filepath.Join(d, "missing")
	if err := syncDir(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("syncDir of a missing folder = %v; want an error matching fs.ErrNotExist", err)
	}
}

func TestRenameFileWritesThrough(t *testing.T) {
	d := testdir.New(t)
	src, dst := filepath.Join(d, "a"), filepath.Join(d, "sub", "b")
	if err := os.WriteFile(src, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	var le *os.LinkError
	if err := renameFile(src, dst); !errors.As(err, &le) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("rename into a missing folder = %v; want a *os.LinkError matching fs.ErrNotExist", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// WriteFile replaces state files: the rename replaces.
	if err := renameFile(src, dst); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "new" {
		t.Fatalf("after the rename %s holds %q, %v", dst, b, err)
	}
	if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the source is still there: %v", err)
	}
}

// A mail root deeper than MAX_PATH still renames and syncs.
func TestRenameAndSyncLongPaths(t *testing.T) {
	d := testdir.New(t)
	deep := filepath.Join(d, strings.Repeat("x", 120), strings.Repeat("y", 120))
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	src, dst := filepath.Join(deep, "a.tmp"), filepath.Join(deep, "a.eml")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := renameFile(src, dst); err != nil {
		t.Fatal(err)
	}
	if err := syncDir(deep); err != nil {
		t.Fatal(err)
	}
}
