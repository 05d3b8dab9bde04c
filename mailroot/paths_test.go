package mailroot

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Drop on a volume of its own, with SortTemp (the program reading Drop has
// it on a data drive; found from outside: every folder had to share one
// volume). Inbound files are made in SortTemp, the other folders' in
// Queue; copies bound for Drop wait in SortTemp; Badmail moves and claims
// stay renames on their volume; Queue's leftovers are removed at start.
func TestDropOnItsOwnVolume(t *testing.T) {
	other := testdir.OnOtherVolume(t)
	l := layoutUnder(testdir.New(t))
	l.Drop, l.SortTemp = filepath.Join(other, "Drop"), filepath.Join(other, "SortTemp")
	// A leftover of a crash in Queue.
	if err := os.MkdirAll(l.Queue, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.Queue, tempPrefix+"left"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if errs := CheckVolumes(l); len(errs) > 0 {
		t.Fatalf("CheckVolumes: %v", errs)
	}
	if got := names(t, l.Queue); len(got) != 0 {
		t.Errorf("Queue after Open = %v; want none but the lock", got)
	}
	if r.DropStage() != l.SortTemp {
		t.Errorf("DropStage = %s; want SortTemp", r.DropStage())
	}
	for _, dir := range []string{l.Drop, l.Queue, l.Pickup, l.Badmail, r.DropStage()} {
		for _, unnamed := range []bool{true, false} {
			f, err := r.create(dir, "m.eml", unnamed)
			if err != nil {
				t.Fatal(err)
			}
			if !f.unnamed {
				want := l.SortTemp
				if dir != l.Drop && dir != l.SortTemp {
					want = l.Queue
				}
				if got := filepath.Dir(f.f.Name()); got != want {
					t.Errorf("temporary file for %s made in %s; want %s", dir, got, want)
				}
			}
			f.Write([]byte("message"))
			if _, err := f.Commit(); err != nil {
				t.Fatalf("%s (unnamed %v): %v", dir, unnamed, err)
			}
			if err := os.Remove(filepath.Join(dir, "m.eml")); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A copy waiting in the stage enters Drop by one rename.
	if err := r.WriteFile(r.DropStage(), "ID.todrop", []byte("copy")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Move(filepath.Join(r.DropStage(), "ID.todrop"), l.Drop, "ID.eml"); err != nil {
		t.Fatalf("stage to Drop: %v", err)
	}
	// Pickup to Queue to Badmail.
	if err := os.WriteFile(filepath.Join(l.Pickup, "a.eml"), []byte("To: x@y\r\n\r\nhi\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := r.Claim(filepath.Join(l.Pickup, "a.eml"), l.Queue, "A.in")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.MoveToBadmail(BadInfo{Name: "A", Problem: "test", Time: time.Now()}, in); err != nil {
		t.Fatal(err)
	}
	if got := names(t, l.SortTemp); len(got) != 0 {
		t.Errorf("SortTemp at the end = %v; want none but the lock", got)
	}
}

// Folders that must share a volume and do not are each named.
func TestVolumePairs(t *testing.T) {
	other := testdir.OnOtherVolume(t)
	l := layoutUnder(testdir.New(t))
	for _, f := range l.Folders() {
		if err := os.MkdirAll(f.Path, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		move string
		want []string
	}{
		{"Drop", []string{"SortTemp and Drop"}},
		{"Badmail", []string{"Queue and Badmail"}},
		{"Pickup", []string{"Pickup and Queue"}},
		{"SortTemp", []string{"SortTemp and Drop"}},
	} {
		m := l
		moved := filepath.Join(other, tt.move)
		if err := os.MkdirAll(moved, 0o755); err != nil {
			t.Fatal(err)
		}
		switch tt.move {
		case "Drop":
			m.Drop = moved
		case "Badmail":
			m.Badmail = moved
		case "Pickup":
			m.Pickup = moved
		case "SortTemp":
			m.SortTemp = moved
		}
		var got []string
		for _, err := range CheckVolumes(m) {
			got = append(got, strings.SplitN(err.Error(), ":", 2)[0])
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s on another volume: problems %v; want %v", tt.move, got, tt.want)
		}
	}
}
