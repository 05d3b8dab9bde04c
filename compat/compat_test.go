package compat

import (
	"testing"
	"time"
)

// The reference's example, taken from a real IIS header, is exact.
func TestOriginalArrivalTimeVector(t *testing.T) {
	at := time.Date(2008, 12, 1, 23, 49, 35, 618_900_000, time.UTC)
	want := "X-OriginalArrivalTime: 01 Dec 2008 23:49:35.0618 (UTC) FILETIME=[77199E20:01C9540F]\r\n"
	if got := OriginalArrivalTime(at); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	// Any zone prints as UTC.
	if got := OriginalArrivalTime(at.In(time.FixedZone("X", -7*3600))); got != want {
		t.Fatalf("zone: got %q", got)
	}
}

func TestReceived(t *testing.T) {
	at := time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", -7*3600))
	tests := []struct {
		name string
		in   ReceivedInfo
		want string
	}{
		{"plain", ReceivedInfo{Helo: "client.test", ClientIP: "192.0.2.7", Server: "mail.example.com", Product: "Microsoft SMTPSVC", Version: "10.0.17763.1697", Time: at},
			"Received: from client.test ([192.0.2.7]) by mail.example.com with Microsoft SMTPSVC(10.0.17763.1697);\r\n\t Mon, 2 Jan 2006 15:04:05 -0700\r\n"},
		{"tls", ReceivedInfo{Helo: "c", ClientIP: "::1", Server: "m.test", TLS: true, Product: "P", Version: "1", Time: at.AddDate(0, 0, 10)},
			"Received: from c ([::1]) by m.test over TLS secured channel with P(1);\r\n\t Thu, 12 Jan 2006 15:04:05 -0700\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Received(tt.in); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestPickupReceived: the line as it reads in IIS-relayed Pickup mail.
func TestPickupReceived(t *testing.T) {
	at := time.Date(2013, 5, 28, 14, 38, 59, 6200000, time.FixedZone("", -5*3600))
	want := "Received: from mail pickup service by WEB03.example.com with Microsoft SMTPSVC;\r\n\t Tue, 28 May 2013 14:38:59 -0500\r\n"
	if got := PickupReceived("WEB03.example.com", "Microsoft SMTPSVC", at); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestEnvelope(t *testing.T) {
	tests := []struct {
		from string
		to   []string
		want string
	}{
		{"a@x.test", []string{"b@y.test", "c@y.test"}, "x-sender: a@x.test\r\nx-receiver: b@y.test\r\nx-receiver: c@y.test\r\n"},
		{"", []string{"b@y.test"}, "x-sender: \r\nx-receiver: b@y.test\r\n"},
	}
	for _, tt := range tests {
		if got := Envelope(tt.from, tt.to); got != tt.want {
			t.Errorf("Envelope(%q, %q) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestGreeting(t *testing.T) {
	at := time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", -7*3600))
	want := "mail.example.com Microsoft ESMTP MAIL Service, Version: 10.0.17763.1697 ready at  Mon, 2 Jan 2006 15:04:05 -0700 "
	if got := Greeting("mail.example.com", "10.0.17763.1697", at); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
