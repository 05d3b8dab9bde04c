package mailroot

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

// layoutUnder is the IIS layout under root.
func layoutUnder(root string) Layout {
	return Layout{
		Pickup: filepath.Join(root, "Pickup"), Drop: filepath.Join(root, "Drop"), Queue: filepath.Join(root, "Queue"),
		Badmail: filepath.Join(root, "Badmail"), SortTemp: filepath.Join(root, "SortTemp"),
	}
}

// TestAwkwardPaths runs the whole life of a message (write into Drop, claim
// from Pickup into Queue, delete) under mail roots that IIS installations
// really use: folders with spaces, non-ASCII names, and paths longer than
// Windows' old MAX_PATH of 260 characters.
func TestAwkwardPaths(t *testing.T) {
	// Windows drops trailing spaces of a name: end each with a letter.
	long := strings.TrimSpace(strings.Repeat("long folder name ", 6))
	tests := []struct {
		name string
		rel  []string
	}{
		{"spaces", []string{"Program Files", "mail root"}},
		{"non-ASCII", []string{"Posteingang ÄÖÜ", "メール", "ñ"}},
		{"over 260 characters", []string{long, long, long}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(append([]string{testdir.New(t)}, tt.rel...)...)
			if tt.name == "over 260 characters" && len(root) <= 260 {
				t.Fatalf("root is only %d characters", len(root))
			}
			r, err := Open(layoutUnder(root))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { r.Close() })
			l := r.Layout()
			msg := []byte("Subject: ünïcödé\r\n\r\nbody\r\n")
			f, err := r.Create(l.Drop, "Ä message 1.eml")
			if err != nil {
				t.Fatal(err)
			}
			f.Write(msg)
			dst, err := f.Commit()
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("ReadFile(%s) = %q, %v", dst, got, err)
			}
			src := filepath.Join(l.Pickup, "from app ü.eml")
			if err := os.WriteFile(src, msg, 0o644); err != nil {
				t.Fatal(err)
			}
			q, err := r.Claim(src, l.Queue, "queued ü.eml")
			if err != nil {
				t.Fatalf("Claim: %v", err)
			}
			if _, err := os.Stat(src); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after Claim the Pickup file is still there: %v", err)
			}
			if err := r.Remove(q); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if err := r.Remove(q); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("second Remove = %v; want fs.ErrNotExist", err)
			}
			if IsNetworkPath(root) {
				t.Errorf("IsNetworkPath(%s) = true for a local folder", root)
			}
		})
	}
}
