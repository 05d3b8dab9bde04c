package mailroot

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

// A committed file is announced to inotify watchers as written under its
// name (IN_CLOSE_WRITE "NAME"), as a file written under its name and
// closed is, or one renamed into place (IN_MOVED_TO): found from outside,
// a router waiting for close_write or moved_to (inotifywait -e
// close_write,moved_to) never saw mail received over SMTP, linked into
// Drop without a name's close.
func TestCommitAnnouncedToInotify(t *testing.T) {
	l := layoutUnder(testdir.New(t))
	r, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, l.Drop, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.eml", "b.eml"} {
		f, err := r.Create(l.Drop, name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("x-sender: a@x.test\r\n"))
		if _, err := f.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.WriteFile(l.Drop, "c.eml", []byte("x")); err != nil { // through SortTemp
		t.Fatal(err)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 4096)
	for len(seen) < 3 && time.Now().Before(deadline) {
		n, err := unix.Read(fd, buf)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			nameLen := int(binary.NativeEndian.Uint32(buf[off+12:]))
			name := string(buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+nameLen])
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			seen[name] = true
			off += unix.SizeofInotifyEvent + nameLen
		}
	}
	for _, name := range []string{"a.eml", "b.eml", "c.eml"} {
		if !seen[name] {
			t.Errorf("no IN_CLOSE_WRITE or IN_MOVED_TO for %s; events for %v", name, seen)
		}
	}
}
