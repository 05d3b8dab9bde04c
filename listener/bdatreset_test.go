package listener

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A BDAT transaction abandoned by RSET or a new EHLO (RFC 3030 section 2:
// the message is discarded) must not answer for the next one: its reply is
// the next message's own, and every message acknowledged is in Drop, once.
// go-smtp v0.25.1 delivered the abandoned message's result ("554 ...
// message transmission aborted") to the next BDAT LAST, after storing it
// (third_party/go-smtp/PATCHES.md).
func TestBDATAbandonedThenAnother(t *testing.T) {
	for _, tc := range []struct{ name, abandon, abandonReply string }{
		{"RSET", "RSET\r\n", "250 2.0.0"},
		{"EHLO", "EHLO again.test\r\n", "250"},
		{"empty chunk then RSET", "", "250 2.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, testConfig())
			c := dial(t, ts.addr)
			c.hello()
			const rounds = 20
			for i := range rounds {
				first := "BDAT 5\r\nabcde"
				abandon := tc.abandon
				if abandon == "" {
					first, abandon = "BDAT 0\r\n", "RSET\r\n"
				}
				body := fmt.Sprintf("Subject: kept %d\r\n\r\nbody %d\r\n", i, i)
				// One write: the abandoned transaction and the next,
				// pipelined (RFC 2920), as a client in a hurry sends them.
				c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n" + first + abandon +
					"MAIL FROM:<c@x.test>\r\nRCPT TO:<d@y.test>\r\n" + fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
				c.replies("250", "250", "250 2.0.0", tc.abandonReply, "250", "250")
				if r := c.reply(); !strings.HasPrefix(r, "250 2.6.0") {
					t.Fatalf("round %d: the kept message got %q", i, r)
				}
			}
			names := ts.dropFiles(t)
			if len(names) != rounds {
				t.Fatalf("Drop holds %d files, want %d", len(names), rounds)
			}
			for _, n := range names {
				b, err := os.ReadFile(filepath.Join(ts.drop, n))
				if err != nil {
					t.Fatal(err)
				}
				if s := string(b); !strings.HasPrefix(s, "x-sender: c@x.test\r\nx-receiver: d@y.test\r\n") || !strings.Contains(s, "Subject: kept ") {
					t.Fatalf("%s holds %q", n, s)
				}
			}
		})
	}
}
