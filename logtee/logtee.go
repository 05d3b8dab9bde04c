// Package logtee copies the log records an administrator must see to a
// second sink: on Windows the Event Log, where a service's start, stop,
// configuration errors and storage failures are looked for first.
//
// Handler passes every record to the next handler (the log file) unchanged
// and, for records at or above a level (warnings and errors by default),
// also writes one line "message key=value ..." to the Sink with an event ID
// by severity. Sink failures are ignored: the log file has the record.
package logtee

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
)

// Sink is where copies go. *eventlog.Log from
// golang.org/x/sys/windows/svc/eventlog satisfies it.
type Sink interface {
	Info(eid uint32, msg string) error
	Warning(eid uint32, msg string) error
	Error(eid uint32, msg string) error
}

// Event IDs by severity. Sources registered with eventlog.InstallAsEventCreate
// accept IDs 1 to 1000.
const (
	EventInfo    uint32 = 1
	EventWarning uint32 = 2
	EventError   uint32 = 3
)

// maxMessage keeps a copy under the Event Log's limit of 31,839 characters
// per string.
const maxMessage = 30000

// Handler is an slog.Handler that tees records to a Sink.
type Handler struct {
	next slog.Handler
	sink Sink
	min  slog.Level
	ops  []func(slog.Handler) slog.Handler // WithAttrs/WithGroup calls to replay
}

// New returns a Handler passing records to next and copying those at level
// min or above to sink.
func New(next slog.Handler, sink Sink, min slog.Level) *Handler {
	return &Handler{next: next, sink: sink, min: min}
}

// Enabled reports whether either destination wants records at level l.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min || h.next.Enabled(ctx, l)
}

// Handle passes r on and copies it to the sink when it is important enough.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level >= h.min {
		msg := h.format(ctx, r)
		switch {
		case r.Level >= slog.LevelError:
			_ = h.sink.Error(EventError, msg)
		case r.Level >= slog.LevelWarn:
			_ = h.sink.Warning(EventWarning, msg)
		default:
			_ = h.sink.Info(EventInfo, msg)
		}
	}
	return err
}

// format renders r as "message key=value ...", without time and level: the
// Event Log records both itself.
func (h *Handler) format(ctx context.Context, r slog.Record) string {
	var buf bytes.Buffer
	var th slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug - 100,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	for _, op := range h.ops {
		th = op(th)
	}
	_ = th.Handle(ctx, r)
	s := strings.TrimSuffix(buf.String(), "\n")
	// The text handler writes msg="..." first; the Event Log reads better
	// with the bare message.
	if rest, ok := strings.CutPrefix(s, "msg="); ok {
		if len(rest) > 0 && rest[0] == '"' {
			if end := closingQuote(rest); end > 0 {
				s = unquote(rest[:end+1]) + rest[end+1:]
			}
		} else {
			s = rest
		}
	}
	if len(s) > maxMessage {
		s = s[:maxMessage] + " ..."
	}
	return s
}

// WithAttrs returns a Handler whose records carry attrs.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := h.clone()
	c.next = h.next.WithAttrs(attrs)
	c.ops = append(c.ops, func(th slog.Handler) slog.Handler { return th.WithAttrs(attrs) })
	return c
}

// WithGroup returns a Handler that puts later attributes in group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := h.clone()
	c.next = h.next.WithGroup(name)
	c.ops = append(c.ops, func(th slog.Handler) slog.Handler { return th.WithGroup(name) })
	return c
}

func (h *Handler) clone() *Handler {
	c := *h
	c.ops = append([]func(slog.Handler) slog.Handler(nil), h.ops...)
	return &c
}
