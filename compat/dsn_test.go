package compat

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestDSNGolden(t *testing.T) {
	zone := time.FixedZone("", 3600)
	arrival := time.Date(2026, 11, 27, 9, 5, 0, 0, zone)
	last := time.Date(2026, 11, 29, 9, 5, 1, 0, zone)
	orig := []byte("From: \"The App\" <app@corp.test>\r\nTo: one@dest.test, two@dest.test\r\nSubject: Invoice\r\n\r\nbody\r\n")
	tests := []struct {
		name string
		r    Report
	}{
		{"dsn-failure.eml", Report{
			Hostname: "bridge.corp.test", To: "app@corp.test", Arrival: arrival, Date: last,
			MessageID: "<NDR1@bridge.corp.test>", Boundary: "=_mailbridge_1",
			Recipients: []ReportRecipient{
				{Addr: "one@dest.test", Status: "5.1.1", Diagnostic: "550 5.1.1 <one@dest.test>: Recipient address rejected: User unknown", RemoteMTA: "relay.corp.test", LastAttempt: last},
				{Addr: "two@dest.test", Status: StatusFor(0, ""), Diagnostic: "dial tcp 10.0.0.5:25: connect: connection refused; gave up after 48h0m0s", RemoteMTA: "relay.corp.test", LastAttempt: last},
			},
			Original: orig,
		}},
		{"dsn-delay.eml", Report{
			Hostname: "bridge.corp.test", To: "app@corp.test", Delay: true, Arrival: arrival, Date: last,
			MessageID: "<DLY1@bridge.corp.test>", Boundary: "=_mailbridge_2",
			Recipients: []ReportRecipient{
				{Addr: "one@dest.test", Status: "4.3.0", Diagnostic: "451 4.3.0 Temporary failure", RemoteMTA: "relay.corp.test", LastAttempt: last, WillRetryUntil: arrival.Add(48 * time.Hour)},
			},
			Original: orig,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DSN(tt.r)
			golden(t, tt.name, got)
			// It is a well-formed multipart/report a MIME reader takes apart.
			e, err := message.Read(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			ct, params, _ := e.Header.ContentType()
			if ct != "multipart/report" || params["report-type"] != "delivery-status" {
				t.Fatalf("content type %s %v", ct, params)
			}
			mr := e.MultipartReader()
			var types []string
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				pt, _, _ := p.Header.ContentType()
				types = append(types, pt)
			}
			if len(types) != 3 || types[1] != "message/delivery-status" || types[2] != "text/rfc822-headers" {
				t.Fatalf("parts %v", types)
			}
		})
	}
}

func TestHeaderBlock(t *testing.T) {
	for in, want := range map[string]string{
		"A: 1\r\nB: 2\r\n\r\nbody": "A: 1\r\nB: 2\r\n",
		"A: 1":                     "A: 1\r\n",
		"\r\nbody":                 "",
	} {
		if got := string(HeaderBlock([]byte(in))); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
