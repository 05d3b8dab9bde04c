package listener

import (
	"net"
	"strings"
	"testing"
	"time"
)

// A TCP check that connects and resets at once (a load balancer's, a
// monitor's) is no event for the log at INFO, however often it comes:
// found from outside, each logged that a reply could not be written.
func TestPortProbeNotLogged(t *testing.T) {
	ts := startServer(t, testConfig())
	for range 10 { // fewer than max_connections (20), which they hold until they end
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetLinger(0) // a reset, as probes close
		c.Close()
	}
	// A session after them: once it is answered, the probes' sessions
	// have long ended.
	c := dial(t, ts.addr)
	c.hello()
	c.expect("QUIT", "221")
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(ts.logs.String(), "level=INFO msg=\"connection") {
		t.Fatalf("a probe logged at INFO:\n%s", ts.logs.String())
	}
}
