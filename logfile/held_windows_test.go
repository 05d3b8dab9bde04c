package logfile

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

// hold opens path as a log viewer or scanner does: reading, without
// delete sharing, so that Windows refuses to rename it.
func hold(t *testing.T, path string) (release func()) {
	t.Helper()
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return func() { windows.CloseHandle(h) }
}

// A reader holding the log: rotation fails and is retried, and no old file
// is lost meanwhile (each retry used to delete the oldest).
func TestHeldLogKeepsOldFiles(t *testing.T) {
	path := filepath.Join(testdir.New(t), "m.log")
	l, old := rotatedLog(t, path, 3)
	release := hold(t, path)
	writeRecords(t, l, 40)
	for i := 1; i <= 3; i++ {
		if got := readAll(t, fmt.Sprintf("%s.%d", path, i)); !bytes.Equal(got, old[i]) {
			t.Fatalf("m.log.%d changed while the log was held", i)
		}
	}
	if n := bytes.Count(readAll(t, path), []byte("log rotation failed")); n < 3 {
		t.Fatalf("the log says %d times that rotation failed; want every try", n)
	}
	release()
	writeRecords(t, l, 3)
	for i := 2; i <= 3; i++ {
		if got := readAll(t, fmt.Sprintf("%s.%d", path, i)); !bytes.Equal(got, old[i-1]) {
			t.Errorf("m.log.%d is not the former m.log.%d", i, i-1)
		}
	}
}

// A reader holding an old file: rotation fails and is undone, and no old
// file is lost meanwhile (found from outside: the oldest was deleted
// first); once released, rotation resumes.
func TestHeldOldFileKeepsOldFiles(t *testing.T) {
	path := filepath.Join(testdir.New(t), "m.log")
	l, old := rotatedLog(t, path, 3)
	release := hold(t, path+".2")
	writeRecords(t, l, 40)
	for i := 1; i <= 3; i++ {
		if got := readAll(t, fmt.Sprintf("%s.%d", path, i)); !bytes.Equal(got, old[i]) {
			t.Fatalf("m.log.%d changed while m.log.2 was held", i)
		}
	}
	release()
	writeRecords(t, l, 3)
	for i := 2; i <= 3; i++ {
		if got := readAll(t, fmt.Sprintf("%s.%d", path, i)); !bytes.Equal(got, old[i-1]) {
			t.Errorf("m.log.%d is not the former m.log.%d", i, i-1)
		}
	}
}
