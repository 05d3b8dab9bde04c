package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// The reason a service logged for not starting is read back from its log
// file, from where the log ended when `service start` began.
func TestStartFailure(t *testing.T) {
	path := filepath.Join(testDir(t), "mailbridge.log")
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Error(startFailedMsg, "error", errors.New(`an earlier start: "old"`))
	offset := int64(buf.Len())
	log.Info("mailbridge starting", "config", `C:\mb cfg\mailbridge.toml`)
	want := `inbound port: listen tcp 127.0.0.1:39026: bind: Only one usage of each socket address is normally permitted.: port 39026 is held by python.exe (pid 42); stop that program, or set [inbound] port to a free port`
	log.Error(startFailedMsg, "error", errors.New(want))
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := startFailure(path, offset); got != want {
		t.Errorf("startFailure = %q\nwant %q", got, want)
	}
	// Nothing logged since the offset: no reason.
	if got := startFailure(path, int64(buf.Len())); got != "" {
		t.Errorf("startFailure past every record = %q, want none", got)
	}
	// The file rotated meanwhile (shorter than the offset): read from 0.
	if got := startFailure(path, int64(buf.Len())+100); got != want {
		t.Errorf("startFailure after a rotation = %q, want %q", got, want)
	}
	if got := startFailure(filepath.Join(testDir(t), "none.log"), 0); got != "" {
		t.Errorf("startFailure of a missing file = %q", got)
	}
	if got := textAttr("time=x level=ERROR msg=m error=short", "error"); got != "short" {
		t.Errorf("unquoted value = %q", got)
	}
}
