package sender

import (
	"context"
	"strings"
	"testing"
)

// With tls = "none" and a user name, a smart host that offers no AUTH gets
// advice that fits it: the mode when it offers STARTTLS (AUTH usually
// comes only after it), the user name or the port otherwise.
func TestNoAUTHOfferedAdvice(t *testing.T) {
	for _, tt := range []struct {
		name     string
		startTLS string // "" offers no STARTTLS
		want     string
		mustNot  string
	}{
		{"STARTTLS offered", "220 2.0.0 go ahead", `set tls = "starttls" (or "opportunistic")`, "remove username"},
		{"nothing offered", "", "remove username and password, or check the smart host's port", "starttls"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := (&scriptHost{StartTLS: tt.startTLS}).start(t)
			cfg := scriptCfg(h) // tls = "none"
			cfg.Username, cfg.Password = "app", "secret"
			s := NewSession(cfg)
			res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(msg))
			s.Close()
			e := res[0].Err
			if e == nil || e.Permanent || e.Stage != "AUTH" || h.Messages() != 0 {
				t.Fatalf("got %+v, %d messages", e, h.Messages())
			}
			if r := e.ReplyLine(); !strings.Contains(r, tt.want) || strings.Contains(r, tt.mustNot) {
				t.Fatalf("reason %q, want %q and not %q", r, tt.want, tt.mustNot)
			}
		})
	}
}
