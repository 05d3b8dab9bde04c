package sender

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// Connection failures that Go reports in its own words are said in an
// administrator's (found from outside: "write: broken pipe" and "lookup
// NAME on RESOLVER:53: no such host" reached logs and .BDR files as is).
func TestClassifyConnectionFailures(t *testing.T) {
	for _, tc := range []struct {
		stage string
		err   error
		want  string
		note  string
	}{
		{"connect", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "smarthost.invalid", IsNotFound: true}},
			"the smart host's name smarthost.invalid is not found in DNS", "check [outbound] server"},
		{"connect", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", Name: "smart.example", IsTemporary: true}},
			"the smart host's name smart.example could not be looked up in DNS", ""},
		{"DATA", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)},
			"the smart host closed the connection during DATA", ""},
		{"end of data", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
			"the smart host closed the connection before its reply to the end of the message", ""},
	} {
		e := classify("smart.example", tc.stage, tc.err)
		if !strings.HasPrefix(e.Reply, tc.want) || !strings.Contains(e.Note, tc.note) || e.Permanent {
			t.Errorf("%s: %v: reply %q, note %q, permanent %v; want %q and a note with %q", tc.stage, tc.err, e.Reply, e.Note, e.Permanent, tc.want, tc.note)
		}
	}
}
