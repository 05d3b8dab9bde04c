package logtee

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

type entry struct {
	kind string
	eid  uint32
	msg  string
}

// memorySink records what an Event Log would receive.
type memorySink struct {
	mu      sync.Mutex
	entries []entry
	fail    bool
}

func (m *memorySink) add(kind string, eid uint32, msg string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, entry{kind, eid, msg})
	if m.fail {
		return errors.New("event log full")
	}
	return nil
}

func (m *memorySink) Info(eid uint32, msg string) error    { return m.add("info", eid, msg) }
func (m *memorySink) Warning(eid uint32, msg string) error { return m.add("warning", eid, msg) }
func (m *memorySink) Error(eid uint32, msg string) error   { return m.add("error", eid, msg) }

func TestTee(t *testing.T) {
	var file bytes.Buffer
	sink := &memorySink{}
	log := slog.New(New(slog.NewTextHandler(&file, &slog.HandlerOptions{Level: slog.LevelInfo}), sink, slog.LevelWarn))

	log.Debug("not logged anywhere")
	log.Info("mailbridge starting", "listen", ":25")
	log.Warn("rename retried", "path", `C:\inetpub\mailroot\Drop\a b.eml`, "attempts", 3)
	log.With("id", "0001").WithGroup("smtp").Error("storing a message failed", "error", "disk full")

	want := []entry{
		{"warning", EventWarning, `rename retried path="C:\\inetpub\\mailroot\\Drop\\a b.eml" attempts=3`},
		{"error", EventError, `storing a message failed id=0001 smtp.error="disk full"`},
	}
	if len(sink.entries) != len(want) {
		t.Fatalf("sink got %d entries %+v; want %d", len(sink.entries), sink.entries, len(want))
	}
	for i := range want {
		if sink.entries[i] != want[i] {
			t.Errorf("entry %d = %+v\nwant        %+v", i, sink.entries[i], want[i])
		}
	}
	lines := strings.Split(strings.TrimSpace(file.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("file has %d lines; want 3 (info, warn, error):\n%s", len(lines), file.String())
	}
	if !strings.Contains(lines[2], "level=ERROR") || !strings.Contains(lines[2], "id=0001") {
		t.Errorf("file line = %q", lines[2])
	}
}

func TestTeeLevelBelowNext(t *testing.T) {
	// The file logs only errors, the sink takes info and up: Enabled must
	// let info records through for the sink alone.
	var file bytes.Buffer
	sink := &memorySink{}
	log := slog.New(New(slog.NewTextHandler(&file, &slog.HandlerOptions{Level: slog.LevelError}), sink, slog.LevelInfo))
	log.Info("service started")
	if file.Len() != 0 {
		t.Errorf("file got %q", file.String())
	}
	if len(sink.entries) != 1 || sink.entries[0] != (entry{"info", EventInfo, "service started"}) {
		t.Errorf("sink got %+v", sink.entries)
	}
}

func TestSinkFailureIgnoredAndLongMessagesCut(t *testing.T) {
	var file bytes.Buffer
	sink := &memorySink{fail: true}
	h := New(slog.NewTextHandler(&file, nil), sink, slog.LevelWarn)
	log := slog.New(h)
	log.Error(strings.Repeat("x", 40000))
	if len(sink.entries) != 1 || len(sink.entries[0].msg) > maxMessage+4 {
		t.Fatalf("sink entry length %d; want at most %d", len(sink.entries[0].msg), maxMessage+4)
	}
	if file.Len() < 40000 {
		t.Errorf("the file must have the whole record; has %d bytes", file.Len())
	}
}
