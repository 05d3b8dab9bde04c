package bridge

import (
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/mailroot"
	"github.com/mailbridge/mailbridge/sender"
)

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

// TestProblem: the .BDR headline quotes the Outbound Server's reply only
// when there was one; a failure decided here (5.3.4 too big for its SIZE,
// 5.6.7 SMTPUTF8 not offered) or without a reply is worded as such.
func TestProblem(t *testing.T) {
	b := &Bridge{cfg: Config{Sender: sender.Config{Host: "127.0.0.1", Port: 2951}, Expiration: time.Hour}}
	big := "5.3.4 not sent: the message is 11766 bytes, larger than the 100 bytes the smart host accepts (SIZE in its EHLO reply, RFC 1870)"
	utf := "5.6.7 not sent: the smart host does not offer SMTPUTF8"
	exp := b.expired(&state{})
	for _, tt := range []struct {
		name    string
		failed  []mailroot.BadRecipient
		expired int
		want    string
	}{
		{"reply", []mailroot.BadRecipient{{Addr: "a@x.test", Reply: "550 5.1.1 no such user"}}, 0,
			`the Outbound Server 127.0.0.1:2951 replied "550 5.1.1 no such user" for <a@x.test>`},
		{"too big", []mailroot.BadRecipient{{Addr: "a@x.test", Reply: big}}, 0,
			"mailbridge itself did not send the message for <a@x.test> (the Outbound Server 127.0.0.1:2951 was not asked): " + big},
		{"SMTPUTF8", []mailroot.BadRecipient{{Addr: "j\u00fcrgen@x.test", Reply: utf}}, 0,
			"mailbridge itself did not send the message for <j\u00fcrgen@x.test> (the Outbound Server 127.0.0.1:2951 was not asked): " + utf},
		{"replies", []mailroot.BadRecipient{{Addr: "a@x.test", Reply: "550 5.1.1 no"}, {Addr: "b@x.test", Reply: "550 5.1.1 no"}}, 0,
			"the Outbound Server 127.0.0.1:2951 refused 2 of 3 recipients"},
		{"ours only", []mailroot.BadRecipient{{Addr: "a@x.test", Reply: big}, {Addr: "b@x.test", Reply: big}}, 0,
			"mailbridge itself did not send the message for 2 of 3 recipients (the Outbound Server 127.0.0.1:2951 was not asked)"},
		{"both", []mailroot.BadRecipient{{Addr: "a@x.test", Reply: "550 5.1.1 no"}, {Addr: "b@x.test", Reply: utf}}, 0,
			"the Outbound Server 127.0.0.1:2951 refused 1 of 3 recipients, and mailbridge itself did not send the message for 1 more (the Outbound Server was not asked)"},
		{"expired after a reply", []mailroot.BadRecipient{{Addr: "a@x.test", Reply: "451 4.2.0 busy" + exp}}, 1,
			"the message could not be delivered within 1h0m0s (expiration); last reply from the Outbound Server 127.0.0.1:2951: 451 4.2.0 busy"},
		{"expired without a reply", []mailroot.BadRecipient{{Addr: "a@x.test", Reply: "the smart host closed the connection after our EHLO" + exp}}, 1,
			"the message could not be delivered within 1h0m0s (expiration); last attempt at the Outbound Server 127.0.0.1:2951, without a reply: the smart host closed the connection after our EHLO"},
		{"refused and expired", []mailroot.BadRecipient{{Addr: "a@x.test", Reply: big}, {Addr: "b@x.test", Reply: "451 4.2.0 busy" + exp}}, 1,
			"mailbridge itself did not send the message for 1 of 3 recipients (the Outbound Server 127.0.0.1:2951 was not asked), and 1 could not be delivered within 1h0m0s (expiration)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.problem(&state{}, tt.failed, 3, tt.expired); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// A refusal at MAIL FROM is said to be about the sender only when it is
// about an address (found from outside: a message too large, refused by
// mailbridge before MAIL FROM or by the host's 552 5.3.4, blamed the
// sender).
func TestRefusalAtMailFrom(t *testing.T) {
	const bySender = " (the reply to MAIL FROM: the sender <a@x.test> was refused, not the recipient)"
	for _, tt := range []struct {
		name string
		e    sender.Error
		want string
	}{
		{"bad sender", sender.Error{Stage: "MAIL FROM", Code: 553, Enhanced: "5.1.7", Reply: "malformed address"}, "553 5.1.7 malformed address" + bySender},
		{"policy", sender.Error{Stage: "MAIL FROM", Code: 550, Enhanced: "5.7.1", Reply: "not allowed"}, "550 5.7.1 not allowed" + bySender},
		{"no enhanced code", sender.Error{Stage: "MAIL FROM", Code: 550, Reply: "sender rejected"}, "550 sender rejected" + bySender},
		{"552 without an enhanced code", sender.Error{Stage: "MAIL FROM", Code: 552, Reply: "Message size exceeds maximum permitted"}, "552 Message size exceeds maximum permitted (the reply to MAIL FROM, for the whole message)"},
		{"relay refused at MAIL FROM", sender.Error{Stage: "MAIL FROM", Code: 554, Enhanced: "5.7.1", Reply: "<a@x.test>: Relay access denied"}, "554 5.7.1 <a@x.test>: Relay access denied (the reply to MAIL FROM, for the whole message)"},
		{"too large, from the host", sender.Error{Stage: "MAIL FROM", Code: 552, Enhanced: "5.3.4", Reply: "message too big"}, "552 5.3.4 message too big (the reply to MAIL FROM, for the whole message)"},
		{"too large, decided here", sender.Error{Stage: "MAIL FROM", Enhanced: "5.3.4", Reply: "not sent: the message is 9 bytes"}, "5.3.4 not sent: the message is 9 bytes"},
		{"a recipient", sender.Error{Stage: "RCPT TO", Code: 550, Enhanced: "5.1.1", Reply: "no such user"}, "550 5.1.1 no such user"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusal(&tt.e, "a@x.test"); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// A queued time read back from disk is given the monotonic clock of the
// run, its age by the wall clock kept, and no age when it is in the future.
func TestAnchored(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name string
		age  time.Duration // of the time on disk, by the wall clock
		want time.Duration
	}{
		{"an hour ago", time.Hour, time.Hour},
		{"just now", 0, 0},
		{"in the future", -10 * time.Hour, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			onDisk := now.Add(-tt.age).Round(0) // as JSON reads it back: no monotonic reading
			got := anchored(onDisk, now)
			if !strings.Contains(got.String(), " m=") {
				t.Fatalf("%v has no monotonic reading", got)
			}
			if age := now.Sub(got); age != tt.want {
				t.Fatalf("age %v, want %v", age, tt.want)
			}
		})
	}
}
