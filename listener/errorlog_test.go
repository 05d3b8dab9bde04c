package listener

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testlog"
)

// go-smtp's accept loop says "too many open files" once a second while
// the process has no descriptor left: the log says it once (a minute), as
// an error with what to do. Found from outside: the only line named
// neither ulimit nor max_connections. Other errors pass as they are.
func TestErrorLogOutOfDescriptors(t *testing.T) {
	var logs testlog.Buffer
	p := &slogPrinter{log: slog.New(slog.NewTextHandler(&logs, nil))}
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	for i := 0; i < 3; i++ {
		p.Printf("accept error: %s; retrying in %s", emfile, "1s") // as go-smtp's Serve
	}
	p.Printf("something else: %v", errors.New("boom"))
	out := logs.String()
	if n := strings.Count(out, "out of file descriptors"); n != 1 || !strings.Contains(out, "ulimit -n") || !strings.Contains(out, "max_connections") || !strings.Contains(out, "level=ERROR") {
		t.Fatalf("%d hints:\n%s", n, out)
	}
	if !strings.Contains(out, `level=WARN msg=smtp detail="something else: boom"`) {
		t.Fatalf("other errors:\n%s", out)
	}
}

// A client that reset its connection is an INFO line, not a warning: the
// session's own line says what became of its message. Found from outside
// (a soak test's clients that closed with SO_LINGER 0 mid-DATA).
func TestErrorLogClientReset(t *testing.T) {
	var logs testlog.Buffer
	p := &slogPrinter{log: slog.New(slog.NewTextHandler(&logs, nil))}
	p.Printf("error handling %v: %v", "127.0.0.1:50000", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)})
	if out := logs.String(); !strings.Contains(out, `level=INFO msg="connection ended by the client" client=127.0.0.1`) || !strings.Contains(out, "connection reset by peer") {
		t.Fatalf("%s", out)
	}
}
