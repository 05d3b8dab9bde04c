package mailroot

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func testRoot(t *testing.T) *Root {
	t.Helper()
	d := testdir.New(t)
	l := Layout{Pickup: filepath.Join(d, "Pickup"), Drop: filepath.Join(d, "Drop"), Queue: filepath.Join(d, "Queue"),
		Badmail: filepath.Join(d, "Badmail"), SortTemp: filepath.Join(d, "SortTemp")}
	r, err := Open(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestBadmailGolden(t *testing.T) {
	zone := time.FixedZone("", 3600)
	info := BadInfo{
		Name:    "0000018C2F4D5E6F0001A1B2C3D4",
		Source:  "invoice-4711.eml",
		Problem: `the Outbound Server relay.corp.test:25 refused 1 of 2 recipients`,
		Server:  "relay.corp.test:25",
		From:    "app@corp.test",
		To:      []string{"one@dest.test", "two@dest.test"},
		Failed: []BadRecipient{
			{Addr: "two@dest.test", Reply: "550 5.1.1 <two@dest.test>: Recipient address rejected: User unknown"},
		},
		Queued:     time.Date(2026, 11, 29, 9, 5, 0, 0, zone),
		Time:       time.Date(2026, 11, 29, 9, 5, 1, 0, zone),
		Attempts:   1,
		NDR:        "sent to <app@corp.test>",
		PickupPath: `C:\inetpub\mailroot\Pickup`,
	}
	r := testRoot(t)
	msg := []byte("x-sender: app@corp.test\r\nx-receiver: two@dest.test\r\nSubject: s\r\n\r\nb\r\n")
	if _, err := r.Badmail(info, msg); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".BDR", ".BDP", ".BAD"} {
		got, err := os.ReadFile(filepath.Join(r.Layout().Badmail, info.Name+ext))
		if err != nil {
			t.Fatal(err)
		}
		if ext == ".BAD" {
			if !bytes.Equal(got, msg) {
				t.Fatalf(".BAD: %q", got)
			}
			continue
		}
		path := filepath.Join("testdata", "badmail"+ext)
		if *update {
			os.WriteFile(path, got, 0o644)
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n--- got\n%s--- want\n%s", ext, got, want)
		}
	}
}

func TestMoveToBadmail(t *testing.T) {
	r := testRoot(t)
	src := filepath.Join(r.Layout().Queue, "X.in")
	if err := os.WriteFile(src, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	info := BadInfo{Name: "X", Problem: "no recipients", Time: time.Now()}
	if name, err := r.MoveToBadmail(info, src); err != nil || name != "X.BAD" {
		t.Fatal(name, err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatal("source still in Queue")
	}
	b, err := os.ReadFile(filepath.Join(r.Layout().Badmail, "X.BAD"))
	if err != nil || string(b) != "garbage" {
		t.Fatalf("%q %v", b, err)
	}
}

// A message never replaces Badmail files kept under its name (IIS's):
// it takes NAME-2, also where a .BDR is there alone.
func TestBadmailNameTaken(t *testing.T) {
	r := testRoot(t)
	bad := r.Layout().Badmail
	for _, ext := range []string{".BAD", ".BDR", ".BDP"} {
		if err := os.WriteFile(filepath.Join(bad, "N"+ext), []byte("IIS ORIGINAL"+ext), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(bad, "M.BDR"), []byte("half done"), 0o644)
	for i, name := range []string{"N", "N", "M"} {
		got, err := r.Badmail(BadInfo{Name: name, Problem: "refused", Time: time.Now()}, []byte("msg "+name))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"N-2.BAD", "N-3.BAD", "M-2.BAD"}[i]; got != want {
			t.Errorf("%s: written as %s, said %s", name, want, got)
		}
	}
	for file, want := range map[string]string{"N.BAD": "IIS ORIGINAL.BAD", "N.BDR": "IIS ORIGINAL.BDR", "N.BDP": "IIS ORIGINAL.BDP", "N-2.BAD": "msg N", "N-3.BAD": "msg N", "M.BDR": "half done", "M-2.BAD": "msg M"} {
		if b, err := os.ReadFile(filepath.Join(bad, file)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", file, b, err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(bad, "N-2.BDR")); !strings.Contains(string(b), "refused") {
		t.Errorf("N-2.BDR: %q", b)
	}
}

// Again replaces the message's own files of a write cut short, rather
// than writing NAME-2 beside them (found from outside: after a kill
// during the write, ID.BDR alone and a whole ID-2 set).
func TestBadmailAgain(t *testing.T) {
	r := testRoot(t)
	bad := r.Layout().Badmail
	os.WriteFile(filepath.Join(bad, "Q.BDR"), []byte("cut short"), 0o644)
	got, err := r.BadmailFrom(BadInfo{Name: "Q", Problem: "refused", Time: time.Now(), Again: true}, func(w io.Writer) error {
		_, err := io.WriteString(w, "msg Q")
		return err
	})
	if err != nil || got != "Q.BAD" {
		t.Fatalf("written as %q, %v; want Q.BAD", got, err)
	}
	names, _ := os.ReadDir(bad)
	var list []string
	for _, n := range names {
		list = append(list, n.Name())
	}
	if !slices.Equal(list, []string{"Q.BAD", "Q.BDP", "Q.BDR"}) {
		t.Fatalf("Badmail holds %v", list)
	}
	if b, _ := os.ReadFile(filepath.Join(bad, "Q.BDR")); !strings.Contains(string(b), "refused") {
		t.Errorf("Q.BDR: %q", b)
	}
}

// Every value in a .BDR or .BDP file stays on its line: a Pickup file's
// name with a CR or LF in it, a multi-line or control-laden reply from the
// smart host, a line separator in an address (found from outside: each
// wrote lines of its own, a recipient or a field that readers of the
// files trust).
func TestBadmailOneLine(t *testing.T) {
	info := BadInfo{Name: "MB1", Source: "bad\r\nFailed-Recipient: <forged@x.test>\r\n.eml", Problem: "refused\rX-Injected: cr",
		From: "a\u2028Sender: <ceo@x.test>@x.test", To: []string{"b@y.test"}, Server: "127.0.0.1:25",
		Failed: []BadRecipient{{Addr: "b@y.test", Reply: "550-5.1.1 first\n550-\n550-Final-Recipient: rfc822;forged@x.test\n550 5.1.1 bad\x00nul\x0bvt\u0085nel"}},
		Time:   time.Unix(0, 0).UTC(), Attempts: 1}
	bdr, bdp := info.BDR(), info.BDP()
	wantBDP := "Sender: <a Sender: <ceo@x.test>@x.test>\r\nRecipient: <b@y.test>\r\nFailed-Recipient: <b@y.test>\r\n" +
		`Pickup-File: "bad\r\nFailed-Recipient: <forged@x.test>\r\n.eml"` + "\r\n"
	if bdp != wantBDP {
		t.Errorf("BDP:\ngot  %q\nwant %q", bdp, wantBDP)
	}
	for _, want := range []string{
		"Unable to deliver this message because the following error was encountered: refused X-Injected: cr.\r\n",
		`Pickup file: "bad\r\nFailed-Recipient: <forged@x.test>\r\n.eml"` + "\r\n",
		"  <b@y.test>: 550-5.1.1 first 550- 550-Final-Recipient: rfc822;forged@x.test 550 5.1.1 badnulvt nel\r\n",
	} {
		if !bytes.Contains([]byte(bdr), []byte(want)) {
			t.Errorf("BDR lacks %q:\n%s", want, bdr)
		}
	}
	for _, f := range []string{bdr, bdp} {
		for _, line := range bytes.Split([]byte(f), []byte("\r\n")) {
			if bytes.ContainsAny(line, "\r\n\x00\x0b") || bytes.Contains(line, []byte("\u2028")) || bytes.Contains(line, []byte("\u0085")) {
				t.Errorf("a line holds a line break or a control character: %q", line)
			}
		}
	}
}
