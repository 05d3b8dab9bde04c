package sender

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// slowDot starts a sink that holds its reply to the final "." for hold; it
// returns the sink and a channel closed when the final "." has arrived.
func slowDot(t *testing.T, hold time.Duration) (*smtpsink.Sink, chan struct{}) {
	t.Helper()
	dotSeen := make(chan struct{})
	sink := smtpsink.Start(t, smtpsink.Hooks{Data: func(string, []string, []byte) error {
		close(dotSeen)
		time.Sleep(hold)
		return nil
	}})
	return sink, dotSeen
}

// A stop after the final "." waits for the smart host's reply, whatever
// StopTimeout (0 included, and shorter than the reply takes): the message
// is known to be sent, and not sent again after the restart (RFC 5321
// section 6.1). Found from outside: with shutdown_timeout = "0s", Pickup
// mail went out twice.
func TestStopWaitsForReplyToFinalDot(t *testing.T) {
	for _, stopTimeout := range []time.Duration{5 * time.Second, 100 * time.Millisecond, 0} {
		sink, dotSeen := slowDot(t, 500*time.Millisecond)
		cfg := cfgFor(sink)
		cfg.StopTimeout = stopTimeout
		s := NewSession(cfg)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-dotSeen; cancel() }()
		res := s.Send(ctx, "a@x.test", []string{"b@y.test"}, []byte(msg))
		s.Close()
		if res[0].Err != nil || !strings.HasPrefix(res[0].Reply, "250 ") {
			t.Fatalf("StopTimeout %s, stopped after the final dot: %+v", stopTimeout, res[0].Err)
		}
		if n := len(sink.Messages()); n != 1 {
			t.Fatalf("%d messages", n)
		}
	}
}

// endGrace bounds that wait: a smart host that holds its reply longer is
// cut off (transient), and Send returns soon after.
func TestStopTimeoutBoundsTheWait(t *testing.T) {
	sink, dotSeen := slowDot(t, 5*time.Second)
	cfg := cfgFor(sink)
	cfg.StopTimeout = 200 * time.Millisecond
	cfg.endGrace = 300 * time.Millisecond
	s := NewSession(cfg)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stopped time.Time
	go func() { <-dotSeen; stopped = time.Now(); cancel() }()
	res := s.Send(ctx, "a@x.test", []string{"b@y.test"}, []byte(msg))
	if took := time.Since(stopped); took > 2*time.Second {
		t.Fatalf("Send returned %s after the stop", took)
	}
	// Cut while waiting for the reply to the final ".": the message may
	// be with the smart host, and the reason says so.
	if e := res[0].Err; e == nil || e.Permanent || e.Stage != "end of data" || !strings.Contains(e.Error(), "as it stopped") || !strings.Contains(e.Error(), "it may have taken the message") {
		t.Fatalf("%+v", e)
	}
}

// A stop before the transaction starts sends nothing, and a stop between
// two transactions of one message (recipients split) starts no other.
func TestStopStartsNoTransaction(t *testing.T) {
	sink, dotSeen := slowDot(t, 300*time.Millisecond)
	cfg := cfgFor(sink)
	cfg.StopTimeout = 5 * time.Second
	cfg.MaxRecipients = 1
	s := NewSession(cfg)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-dotSeen; cancel() }()
	res := s.Send(ctx, "a@x.test", []string{"1@y.test", "2@y.test"}, []byte(msg))
	if res[0].Err != nil {
		t.Fatalf("first transaction: %+v", res[0].Err)
	}
	if e := res[1].Err; e == nil || e.Permanent || !strings.Contains(e.Reply, "stopping") {
		t.Fatalf("second transaction: %+v", e)
	}
	if msgs := sink.Messages(); len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	res = s.Send(ctx, "a@x.test", []string{"3@y.test"}, []byte(msg))
	if e := res[0].Err; e == nil || e.Permanent {
		t.Fatalf("after the stop: %+v", e)
	}
	if msgs := sink.Messages(); len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
}

// The reply to the final "." is awaited 10 minutes at least, whatever
// CommandTimeout: a smart host scanning the message may take longer than
// a command, and one cut off there has the message and gets it again.
// Found from outside: with command_timeout = "5s" and a smart host that
// took 12 s, every attempt delivered the message once more.
func TestFinalDotOutlastsCommandTimeout(t *testing.T) {
	sink, _ := slowDot(t, 600*time.Millisecond)
	cfg := cfgFor(sink)
	cfg.CommandTimeout = 200 * time.Millisecond
	s := NewSession(cfg)
	defer s.Close()
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
	if res[0].Err != nil || !strings.HasPrefix(res[0].Reply, "250 ") {
		t.Fatalf("%+v", res[0].Err)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

// A stop before any transaction (here during AUTH) closes the connection
// at once, and the reason says so, not that shutdown_timeout ran out
// (found from outside).
func TestStopDuringAuthSaysWhy(t *testing.T) {
	inAuth := make(chan struct{})
	sink := smtpsink.Start(t, smtpsink.Hooks{Auth: func(string, string) error {
		close(inAuth)
		time.Sleep(2 * time.Second)
		return nil
	}})
	cfg := cfgFor(sink)
	cfg.TLS = TLSNone
	cfg.Username, cfg.Password = "u", "p"
	cfg.StopTimeout = 5 * time.Second
	s := NewSession(cfg)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-inAuth; cancel() }()
	res := s.Send(ctx, "a@x.test", []string{"b@y.test"}, []byte(msg))
	e := res[0].Err
	if e == nil || e.Permanent || !strings.HasPrefix(e.Stage, "AUTH") {
		t.Fatalf("%+v", e)
	}
	if r := e.ReplyLine(); !strings.Contains(r, "as it stopped (no message was under way on it yet)") || strings.Contains(r, "shutdown_timeout") {
		t.Fatalf("reason %q", r)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d messages", n)
	}
}
