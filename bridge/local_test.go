package bridge

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testdir"
	"github.com/mailbridge/mailbridge/mailroot"
)

// localConfig is baseConfig with local domains, as an AccuRoute server
// has them: its own domain, and the mail for it stays here.
func localConfig(sink *smtpsink.Sink) Config {
	c := baseConfig(sink)
	c.LocalDomains = []string{"fax.corp.test"}
	return c
}

// dropFileRE is a Drop file written from a Pickup file as IIS wrote it:
// the envelope of the local recipients, the "mail pickup service" trace
// header, the message (without a Date here) with a Date, a Message-ID and
// X-OriginalArrivalTime added at the end of its header block,
// dot-unstuffed. Group 1 is the Queue id.
func dropFileRE(envelope, header, body string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(envelope) +
		`Received: from mail pickup service by bridge\.test with Microsoft SMTPSVC;\r\n\t [A-Z][a-z]{2}, [1-9]\d? [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [-+]\d{4}\r\n` +
		regexp.QuoteMeta(header) +
		`Date: [A-Z][a-z]{2}, [1-9]\d? [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [-+]\d{4}\r\n` +
		`Message-ID: <BRIDGE([0-9A-Za-z-]+)@bridge\.test>\r\n` +
		`X-OriginalArrivalTime: \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d{4} \(UTC\) FILETIME=\[[0-9A-F]{8}:[0-9A-F]{8}\]\r\n` +
		`\r\n` + regexp.QuoteMeta(body) + `$`)
}

// TestPickupLocalRecipientsToDrop: a Pickup file for a local domain and an
// outside one. IIS delivered the local copy to Drop (iis-reference section
// 1); only the outside recipient reaches the Outbound Server.
func TestPickupLocalRecipientsToDrop(t *testing.T) {
	for _, split := range []bool{false, true} {
		t.Run(map[bool]string{false: "one volume", true: "Drop on a volume of its own"}[split], func(t *testing.T) {
			testPickupLocalRecipientsToDrop(t, layoutSplit(t, split))
		})
	}
}

// layoutSplit is testLayout, with Drop and SortTemp on another volume when
// split (the program reading Drop has it on a data drive): the copy for
// Drop then waits in SortTemp, on Drop's volume, to enter it by a rename.
func layoutSplit(t *testing.T, split bool) mailroot.Layout {
	l := testLayout(t)
	if split {
		other := testdir.OnOtherVolume(t)
		l.Drop, l.SortTemp = filepath.Join(other, "Drop"), filepath.Join(other, "SortTemp")
	}
	return l
}

func testPickupLocalRecipientsToDrop(t *testing.T, l mailroot.Layout) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	h := start(t, l, localConfig(sink))
	drop(t, l, "mixed.eml", []byte("X-Sender: app@corp.test\r\nX-Receiver: scan@FAX.corp.test\r\nX-Receiver: boss@elsewhere.test\r\n"+
		"From: app@corp.test\r\nTo: scan@FAX.corp.test, boss@elsewhere.test\r\nSubject: s\r\n\r\n..dot\r\nbody\r\n"))
	m := sink.WaitFor(t, wait, "the outside copy", count(1))[0]
	if strings.Join(m.To, ",") != "boss@elsewhere.test" {
		t.Fatalf("the Outbound Server got recipients %q", m.To)
	}
	waitEmpty(t, l)
	files := waitFile(t, l.Drop, "*.eml")
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	re := dropFileRE("x-sender: app@corp.test\r\nx-receiver: scan@FAX.corp.test\r\n",
		"From: app@corp.test\r\nTo: scan@FAX.corp.test, boss@elsewhere.test\r\nSubject: s\r\n", ".dot\r\nbody\r\n")
	sub := re.FindSubmatch(data)
	if sub == nil {
		t.Fatalf("Drop file:\n%q", data)
	}
	// Named by its Queue id, which its Message-ID carries as IIS's did.
	if filepath.Base(files[0]) != string(sub[1])+".eml" {
		t.Errorf("Drop file %s, Message-ID of %s", filepath.Base(files[0]), sub[1])
	}
	if len(files) != 1 {
		t.Errorf("Drop files %v", files)
	}
	logs := h.logs.String()
	// The start names the local domains, the default domain among them.
	if !strings.Contains(logs, "delivered to Drop (local domain)") || !strings.Contains(logs, "to=[boss@elsewhere.test]") ||
		!strings.Contains(logs, `local_domains="[bridge.test corp.test fax.corp.test]"`) {
		t.Errorf("log:\n%s", logs)
	}
}

// TestPickupOnlyLocal: a Pickup file whose recipients are all local (the
// host name included, as in the listener) never reaches the Outbound
// Server, nor waits in Queue when there is none. Its own Message-ID is
// kept.
func TestPickupOnlyLocal(t *testing.T) {
	for _, withServer := range []bool{true, false} {
		t.Run(map[bool]string{true: "server", false: "no server"}[withServer], func(t *testing.T) {
			var sink *smtpsink.Sink
			if withServer {
				sink = smtpsink.Start(t, smtpsink.Hooks{})
			}
			l := testLayout(t)
			start(t, l, localConfig(sink))
			// "desk" gets the default domain (corp.test), which is
			// local as IIS's default domain was, though local_domains
			// does not list it.
			msg := "From: app@corp.test\r\nTo: scan@fax.corp.test, admin@bridge.test, desk\r\nDate: Mon, 30 Nov 2026 09:00:00 +0100\r\nMessage-ID: <own@corp.test>\r\n\r\nbody\r\n"
			drop(t, l, "local.eml", []byte(msg))
			files := waitFile(t, l.Drop, "*.eml")
			waitEmpty(t, l)
			data, _ := os.ReadFile(files[0])
			want := "x-sender: app@corp.test\r\nx-receiver: scan@fax.corp.test\r\nx-receiver: admin@bridge.test\r\nx-receiver: desk@corp.test\r\nReceived: from mail pickup service by bridge.test with Microsoft SMTPSVC;\r\n\t "
			if !strings.HasPrefix(string(data), want) || !regexp.MustCompile(`\r\nMessage-ID: <own@corp.test>\r\nX-OriginalArrivalTime: [^\r\n]+\r\n\r\nbody\r\n$`).Match(data) {
				t.Fatalf("Drop file:\n%q", data)
			}
			if withServer {
				time.Sleep(300 * time.Millisecond)
				if n := len(sink.Messages()); n != 0 {
					t.Fatalf("the Outbound Server got %d messages", n)
				}
			}
		})
	}
}

// TestPickupNoLocalDomains: without local_domains every Pickup recipient
// goes to the Outbound Server, the host name's too: the empty default
// means "every domain" for inbound SMTP, and Pickup mail is for sending.
func TestPickupNoLocalDomains(t *testing.T) {
	m := relayOne(t, "x.eml", []byte("From: app@corp.test\r\nTo: admin@bridge.test\r\n\r\nbody\r\n"))
	if strings.Join(m.To, ",") != "admin@bridge.test" {
		t.Fatalf("recipients %q", m.To)
	}
}

// TestPickupLocalAfterCrash: what a crash leaves of a claim for a local
// and an outside recipient, and what the start makes of it. The copy for
// Drop is written in Queue (ID.todrop) and renamed into Drop only once the
// claim is durably finished (its .in removed), so the local recipient
// gets it once whatever the moment of the crash, even when a program
// reading Drop takes it at once (found from outside: with the copy
// written straight into Drop, a reader emptying it every second and
// kill -9 during a burst gave 14 of 25 interrupted claims two copies).
func TestPickupLocalAfterCrash(t *testing.T) {
	pickup := "From: app@corp.test\r\nTo: scan@fax.corp.test, boss@elsewhere.test\r\nSubject: crash\r\n\r\nbody\r\n"
	first := "x-sender: app@corp.test\r\nx-receiver: scan@fax.corp.test\r\n(the first try's)\r\n"
	queued := "x-sender: app@corp.test\r\nx-receiver: boss@elsewhere.test\r\n\r\nthe first try's\r\n"
	for _, c := range []struct {
		name            string
		in, todrop, eml bool
		want            string // the Drop file after the start: "first" (the copy left) or "new"
		split           bool   // Drop and SortTemp on a volume of their own
		left            string // where the copy was left, if not where it waits now: the folders moved since
	}{
		{"claimed, nothing written", true, false, false, "new", false, ""},
		{"copy for Drop written, Queue file not", true, true, false, "new", false, ""},
		{"both written, claim not finished", true, true, true, "first", false, ""},
		{"claim finished, copy not yet in Drop", false, true, true, "first", false, ""},
		{"Drop on its own volume: copy for Drop written, Queue file not", true, true, false, "new", true, ""},
		{"Drop on its own volume: both written, claim not finished", true, true, true, "first", true, ""},
		{"Drop on its own volume: claim finished, copy not yet in Drop", false, true, true, "first", true, ""},
		{"Drop moved to its own volume: copy left in Queue", false, true, true, "first", true, "Queue"},
		{"Drop moved to its own volume: copy left in Queue, claim not finished", true, true, false, "new", true, "Queue"},
		// Found from outside: these copies were left in SortTemp for ever.
		{"folders moved onto one volume: copy left in SortTemp", false, true, true, "first", false, "SortTemp"},
		{"folders moved onto one volume: copy left in SortTemp, claim not finished", true, true, false, "new", false, "SortTemp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := layoutSplit(t, c.split)
			root, err := mailroot.Open(l)
			if err != nil {
				t.Fatal(err)
			}
			id := root.NewName()
			stage := root.DropStage()
			root.Close()
			switch c.left {
			case "Queue":
				stage = l.Queue
			case "SortTemp":
				stage = l.SortTemp
			}
			write := func(ok bool, path, data string) {
				if !ok {
					return
				}
				if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write(c.in, filepath.Join(l.Queue, id+".in"), pickup)
			write(c.todrop, filepath.Join(stage, id+".todrop"), first)
			write(c.eml, filepath.Join(l.Queue, id+".eml"), queued)
			sink := smtpsink.Start(t, smtpsink.Hooks{})
			h := start(t, l, localConfig(sink))
			m := sink.WaitFor(t, wait, "the outside copy", count(1))[0]
			if strings.Join(m.To, ",") != "boss@elsewhere.test" {
				t.Fatalf("recipients %q", m.To)
			}
			if strings.Contains(h.logs.String(), `file=""`) {
				t.Errorf("a claim finished at start is logged with an empty file name:\n%s", h.logs.String())
			}
			waitEmpty(t, l)
			files, _ := filepath.Glob(filepath.Join(l.Drop, "*"))
			if len(files) != 1 || filepath.Base(files[0]) != id+".eml" {
				t.Fatalf("Drop holds %v", files)
			}
			data, _ := os.ReadFile(files[0])
			got := "new"
			if string(data) == first {
				got = "first"
			}
			if got != c.want {
				t.Fatalf("Drop file %q, want %q:\n%s", got, c.want, data)
			}
			time.Sleep(200 * time.Millisecond)
			if n := len(sink.Messages()); n != 1 {
				t.Fatalf("%d messages relayed", n)
			}
		})
	}
}

// TestPickupStamped: what IIS added to a message it took from Pickup, seen
// in the mail it relayed: its "mail pickup service" trace header first, and
// a Message-ID and X-OriginalArrivalTime when the message has none (.NET's
// and Mono's files have no Message-ID; some smart hosts, and Gmail behind
// them, refuse mail without one); and a Date when it has none, as the
// server mail is submitted to may add (RFC 5321 section 6.3). The Drop copy of a message for local and
// outside recipients is the same message: same Message-ID. A message's own
// fields are kept.
func TestPickupStamped(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	start(t, l, localConfig(sink))
	drop(t, l, "mixed.eml", []byte("From: app@corp.test\r\nTo: scan@fax.corp.test, boss@elsewhere.test\r\nSubject: s\r\n\r\nbody\r\n"))
	m := sink.WaitFor(t, wait, "the outside copy", count(1))[0]
	waitEmpty(t, l)
	re := dropFileRE("", "From: app@corp.test\r\nTo: scan@fax.corp.test, boss@elsewhere.test\r\nSubject: s\r\n", "body\r\n")
	sent := re.FindSubmatch(m.Data)
	if sent == nil {
		t.Fatalf("relayed:\n%q", m.Data)
	}
	files := waitFile(t, l.Drop, "*.eml")
	data, _ := os.ReadFile(files[0])
	dropped := dropFileRE("x-sender: app@corp.test\r\nx-receiver: scan@fax.corp.test\r\n",
		"From: app@corp.test\r\nTo: scan@fax.corp.test, boss@elsewhere.test\r\nSubject: s\r\n", "body\r\n").FindSubmatch(data)
	if dropped == nil || string(dropped[1]) != string(sent[1]) {
		t.Fatalf("Drop copy:\n%q\nrelayed:\n%q", data, m.Data)
	}

	own := "From: app@corp.test\r\nTo: boss@elsewhere.test\r\nDate: Mon, 30 Nov 2026 09:00:00 +0100\r\nMessage-ID: <own@corp.test>\r\nX-OriginalArrivalTime: 01 Dec 2008 23:49:35.0618 (UTC) FILETIME=[77199E20:01C9540F]\r\n\r\nbody\r\n"
	drop(t, l, "own.eml", []byte(own))
	m = sink.WaitFor(t, wait, "the second message", count(2))[1]
	if !regexp.MustCompile(`^Received: from mail pickup service by bridge\.test with Microsoft SMTPSVC;\r\n\t [^\r\n]+\r\n` + regexp.QuoteMeta(own) + `$`).Match(m.Data) {
		t.Fatalf("relayed:\n%q", m.Data)
	}
}

// TestReportToLocalSenderInDrop: the non-delivery report for a sender in
// a local domain goes to Drop, as IIS delivered mail for its local
// domains, not to the Outbound Server (found from outside: it went there,
// which may not take mail for the domain, and ended in Badmail).
func TestReportToLocalSenderInDrop(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}})
	l := testLayout(t)
	h := start(t, l, localConfig(sink))
	drop(t, l, "ndr.eml", []byte("From: scan@fax.corp.test\r\nTo: bad@elsewhere.test\r\nSubject: refused\r\n\r\nbody\r\n"))
	files := waitFile(t, l.Drop, "*.eml")
	waitEmpty(t, l)
	data, _ := os.ReadFile(files[0])
	if !strings.HasPrefix(string(data), "x-sender: \r\nx-receiver: scan@fax.corp.test\r\n") ||
		!strings.Contains(string(data), "Final-Recipient: rfc822;bad@elsewhere.test") ||
		!regexp.MustCompile(`\r\nMessage-ID: <BRIDGE[0-9A-Z]+@bridge\.test>\r\nX-OriginalArrivalTime: [^\r\n]+\r\n`).Match(data) {
		t.Fatalf("Drop file:\n%s", data)
	}
	time.Sleep(300 * time.Millisecond)
	for _, m := range sink.Messages() {
		if m.From == "" {
			t.Fatalf("the report went to the Outbound Server: %q", m.To)
		}
	}
	if !strings.Contains(h.logs.String(), "non-delivery report delivered to Drop (local sender)") {
		t.Errorf("log:\n%s", h.logs.String())
	}
	bdr := waitFile(t, l.Badmail, "*.BDR")
	if data, _ := os.ReadFile(bdr[0]); !strings.Contains(string(data), "written for Drop, to <scan@fax.corp.test> (a local sender)") {
		t.Errorf(".BDR:\n%s", data)
	}
}

// TestPickupDropUnwritable: while Drop cannot take a file, a message's
// copy for its local recipients waits in Queue and is tried again, with an
// error in the log; its other recipients do not wait. Once Drop is back,
// the copy goes in, once.
func TestPickupDropUnwritable(t *testing.T) {
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	h := start(t, l, localConfig(sink), func(*Bridge) {
		// A file where the folder should be: no file can go in it,
		// whoever runs the test (root ignores permissions).
		if err := os.RemoveAll(l.Drop); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(l.Drop, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	drop(t, l, "mixed.eml", []byte("From: app@corp.test\r\nTo: scan@fax.corp.test, boss@elsewhere.test\r\nSubject: s\r\n\r\nbody\r\n"))
	m := sink.WaitFor(t, wait, "the outside copy", count(1))[0]
	if strings.Join(m.To, ",") != "boss@elsewhere.test" {
		t.Fatalf("relayed to %q", m.To)
	}
	if !strings.Contains(h.logs.String(), "cannot move a message into Drop for its local recipients; it waits as ID.todrop") {
		t.Fatalf("log:\n%s", h.logs.String())
	}
	if todrop, _ := filepath.Glob(filepath.Join(l.Queue, "*.todrop")); len(todrop) != 1 {
		t.Fatalf("Queue holds %v", todrop)
	}
	if err := os.Remove(l.Drop); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(l.Drop, 0o755); err != nil {
		t.Fatal(err)
	}
	files := waitFile(t, l.Drop, "*.eml")
	waitEmpty(t, l)
	data, _ := os.ReadFile(files[0])
	if len(files) != 1 || !strings.HasPrefix(string(data), "x-sender: app@corp.test\r\nx-receiver: scan@fax.corp.test\r\nReceived: from mail pickup service") {
		t.Fatalf("Drop holds %v:\n%s", files, data)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages relayed", n)
	}
}

// TestDropWaitsForClaimRemoval: when the claimed file (ID.in) could not
// be removed at the claim's end (a file held on Windows), the copy for
// Drop must not go in before it is gone, or a start would convert the
// claim again and write it twice; a worker removes it, then moves the
// copy in.
func TestDropWaitsForClaimRemoval(t *testing.T) {
	l := testLayout(t)
	root, err := mailroot.Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	logs := &strings.Builder{}
	b := New(localConfig(nil), root, slog.New(slog.NewTextHandler(logs, nil)))
	id := root.NewName()
	in := filepath.Join(l.Queue, id+".in")
	// A folder in its place: it cannot be removed while it holds a file.
	if err := os.MkdirAll(filepath.Join(in, "held"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.Queue, id+".todrop"), []byte("x-sender: a@x.test\r\nx-receiver: scan@fax.corp.test\r\n\r\nbody\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &message{drop: true, dropTo: []string{"scan@fax.corp.test"}, dropAfter: in}
	if next := b.retryDrop(id, m); next.IsZero() {
		t.Fatal("moved into Drop while the claimed file is there")
	}
	if files, _ := filepath.Glob(filepath.Join(l.Drop, "*")); len(files) != 0 {
		t.Fatalf("Drop holds %v", files)
	}
	if err := os.Remove(filepath.Join(in, "held")); err != nil {
		t.Fatal(err)
	}
	if next := b.retryDrop(id, m); !next.IsZero() {
		t.Fatalf("not moved:\n%s", logs)
	}
	if _, err := os.Stat(in); !os.IsNotExist(err) {
		t.Fatalf("claimed file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(l.Drop, id+".eml")); err != nil {
		t.Fatal(err)
	}
}

// TestPickupMalformedHeaderKept: a Pickup file whose header block holds a
// line that is not a field (a script's To: list wrapped without indenting)
// is relayed as written, the added fields before its empty line. Found
// from outside: an empty line was put before the bad line, which pushed
// Subject and Content-Type into the body.
func TestPickupMalformedHeaderKept(t *testing.T) {
	head := "From: app@corp.test\r\nTo: a@dest.test,\r\nb@dest.test\r\nSubject: Report\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
	m := relayOne(t, "wrapped.eml", []byte("X-Sender: app@corp.test\r\nX-Receiver: a@dest.test\r\n"+head+"\r\n<html><b>hi</b></html>\r\n"))
	re := regexp.MustCompile(`^Received: from mail pickup service by bridge\.test with Microsoft SMTPSVC;\r\n\t [^\r\n]+\r\n` +
		regexp.QuoteMeta(head) + `Date: [^\r\n]+\r\nMessage-ID: <[^\r\n]+>\r\nX-OriginalArrivalTime: [^\r\n]+\r\n\r\n<html><b>hi</b></html>\r\n$`)
	if !re.Match(m.Data) {
		t.Fatalf("relayed:\n%q", m.Data)
	}
}

// TestPickupTracedHereNotStamped: mail this host received over SMTP and
// relays through Pickup (intercept = false) carries this host's trace
// already: it gets no second one, and no Date (a relay adds none). Found
// from outside: it got the Pickup trace above the SMTP one, and a Date.
// The same file written into Pickup by another program gets the Pickup
// trace (found from outside: an application's file beginning with such a
// Received field went into Drop as if received over SMTP).
func TestPickupTracedHereNotStamped(t *testing.T) {
	msg := "Received: from client.test ([192.0.2.7]) by bridge.test with Microsoft SMTPSVC(10.0.17763.1697);\r\n\t Mon, 30 Nov 2026 09:00:00 +0000\r\n" +
		"From: a@x.test\r\nTo: b@y.test\r\nSubject: relayed\r\nMessage-ID: <BRIDGEX@bridge.test>\r\nX-OriginalArrivalTime: 30 Nov 2026 09:00:00.0000 (UTC) FILETIME=[00000000:01DD80A5]\r\n\r\nbody\r\n"
	file := "x-sender: a@x.test\r\nx-receiver: b@y.test\r\n" + msg
	sink := smtpsink.Start(t, smtpsink.Hooks{})
	l := testLayout(t)
	h := start(t, l, baseConfig(sink))
	// As the listener writes it: through the mail root, in this process.
	f, err := h.root.Create(l.Pickup, "relay.eml")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, file)
	if _, err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if m := sink.WaitFor(t, wait, "the relayed message", count(1))[0]; string(m.Data) != msg {
		t.Fatalf("relayed:\n%q\nwant\n%q", m.Data, msg)
	}
	drop(t, l, "forged.eml", []byte(file))
	if m := sink.WaitFor(t, wait, "the other program's file", count(2))[1]; !strings.HasPrefix(string(m.Data), "Received: from mail pickup service by bridge.test ") || !strings.Contains(string(m.Data), "\r\nReceived: from client.test ") {
		t.Fatalf("forged:\n%q", m.Data)
	}
	if runtime.GOOS == "windows" {
		return // an earlier run's copies are not told from others there
	}
	// A copy an earlier run left in Pickup (stopped or killed before it
	// was claimed), as the listener makes them: named by the mail root,
	// mailbridge's own, 0600. Found from outside: it got the Pickup trace
	// after a restart. Under another name, or readable by others, it is
	// any program's file.
	left := h.root.NewName() + ".eml"
	if err := os.WriteFile(filepath.Join(l.Pickup, left), []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	if m := sink.WaitFor(t, wait, "the earlier run's copy", count(3))[2]; string(m.Data) != msg {
		t.Fatalf("earlier run's copy:\n%q\nwant\n%q", m.Data, msg)
	}
	other := h.root.NewName() + ".eml"
	drop(t, l, other, []byte(file)) // 0644
	if m := sink.WaitFor(t, wait, "a file readable by others", count(4))[3]; !strings.HasPrefix(string(m.Data), "Received: from mail pickup service by bridge.test ") {
		t.Fatalf("readable by others:\n%q", m.Data)
	}
}
