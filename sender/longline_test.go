package sender

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// A reply line longer than go-smtp's client reads fails with a reason that
// names the smart host and the command, not the bare library error.
func TestReplyLineTooLong(t *testing.T) {
	for _, mode := range []string{TLSNone, TLSOpportunistic} {
		t.Run(mode, func(t *testing.T) {
			h := (&scriptHost{EHLOReply: "250-script.test\r\n250-XXXX-" + strings.Repeat("y", 5000) + "\r\n250 8BITMIME"}).start(t)
			cfg := scriptCfg(h)
			cfg.TLS, cfg.InsecureSkipVerify = mode, true
			s := NewSession(cfg)
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			s.Close()
			e := res[0].Err
			if e == nil || e.Permanent || e.Stage != "EHLO" || !errors.Is(e, smtp.ErrTooLongLine) {
				t.Fatalf("got %+v", e)
			}
			if r := e.ReplyLine(); !strings.Contains(r, cfg.Addr()) || !strings.Contains(r, "in its reply to our EHLO") {
				t.Fatalf("reason %q names neither the smart host nor the stage", r)
			}
		})
	}
}
