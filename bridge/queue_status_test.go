package bridge

import "testing"

// TestStatusOf: the RFC 3463 status a report gives a recipient, from the
// last reply, or from our own failure's status when there was no reply.
func TestStatusOf(t *testing.T) {
	for _, tt := range []struct {
		reply string
		delay bool
		want  string
	}{
		{"550 5.1.1 no such user", false, "5.1.1"},
		{"550 no such user", false, "5.0.0"},
		{"451 4.7.1 try later", true, "4.7.1"},
		{"451 try later", true, "4.0.0"},
		{"dial tcp 127.0.0.1:25: connection refused", true, "4.4.1"},
		{"5.3.4 not sent: the message is larger than the smart host's SIZE", false, "5.3.4"},
		{"5.6.7 not sent: the smart host does not offer SMTPUTF8", false, "5.6.7"},
		{"1.2.3 is not a status", false, "4.4.1"},
		{"451 4.4.2 timeout (expiration)", false, "5.4.7"},
	} {
		if got := statusOf(tt.reply, tt.delay); got != tt.want {
			t.Errorf("statusOf(%q, %v) = %q, want %q", tt.reply, tt.delay, got, tt.want)
		}
	}
}
