package mailroot

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
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
	if err := r.Badmail(info, msg); err != nil {
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
	if err := r.MoveToBadmail(info, src); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatal("source still in Queue")
	}
	b, err := os.ReadFile(filepath.Join(r.Layout().Badmail, "X.BAD"))
	if err != nil || string(b) != "garbage" {
		t.Fatalf("%q %v", b, err)
	}
}
