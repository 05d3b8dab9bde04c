package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

// A log path past 260 characters opens (OpenAppend calls CreateFile
// itself, without os's long-path prefix), and the prefix is added only
// where it is needed.
func TestOpenAppendLongPath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`C:\short\m.log`, `C:\short\m.log`},
		{`C:\` + strings.Repeat(`a\`, 130) + `m.log`, `\\?\C:\` + strings.Repeat(`a\`, 130) + `m.log`},
		{`\\server\share\` + strings.Repeat(`a\`, 130) + `m.log`, `\\?\UNC\server\share\` + strings.Repeat(`a\`, 130) + `m.log`},
		{`\\?\C:\` + strings.Repeat(`a\`, 130) + `m.log`, `\\?\C:\` + strings.Repeat(`a\`, 130) + `m.log`},
		{strings.Repeat(`a\`, 130) + `m.log`, strings.Repeat(`a\`, 130) + `m.log`}, // relative: left to the system
	} {
		if got := longPath(tt.in); got != tt.want {
			t.Errorf("longPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	dir := filepath.Join(testdir.New(t), strings.Repeat("long-folder-name-", 5), strings.Repeat("another-long-name-", 5), strings.Repeat("and-one-more-name-", 5))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mailbridge-with-a-long-name.log")
	if len(path) < 260 {
		t.Fatalf("path of %d characters: not long enough", len(path))
	}
	f, err := OpenAppend(path, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("record\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b, err := os.ReadFile(path); err != nil || string(b) != "record\n" {
		t.Fatalf("%q %v", b, err)
	}
}
