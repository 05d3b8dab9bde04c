package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testtool"
	"github.com/mailbridge/mailbridge/mailroot"
)

// onVolume is a mail root on a volume of its own, mounted at vol from
// store (a tmpfs), so that the test can take it away and bring it back.
func onVolume(t *testing.T) (l mailroot.Layout, vol, store string) {
	t.Helper()
	vol = filepath.Join(t.TempDir(), "vol")
	if err := os.Mkdir(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	store = testtool.Tmpfs(t, "8m")
	testtool.BindMount(t, store, vol)
	return testLayoutIn(filepath.Join(vol, "mailroot")), vol, store
}

// awayDuringDelivery delivers one Pickup file to a sink that accepts it
// only once the volume of the mail root has been taken away (its data
// sent, its reply awaited), and returns when the bridge has failed to
// remove the delivered message's Queue file.
func awayDuringDelivery(t *testing.T) (h *harness, sink *smtpsink.Sink, l mailroot.Layout, vol, store string) {
	t.Helper()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	sink = smtpsink.Start(t, smtpsink.Hooks{Data: func(string, []string, []byte) error {
		entered <- struct{}{}
		<-release
		return nil
	}})
	l, vol, store = onVolume(t)
	h = start(t, l, baseConfig(sink))
	drop(t, l, "m.eml", []byte("From: app@corp.test\r\nTo: b@y.test\r\nSubject: away\r\n\r\nbody\r\n"))
	<-entered
	testtool.Unmount(t, vol)
	close(release)
	h.waitLog("cannot remove a message done with from Queue")
	return h, sink, l, vol, store
}

// A queued message whose Queue folder is out of reach with its volume
// (unmounted) is not given up: it is sent once the volume is back, without
// a restart (found from outside: it was dropped from the schedule, as if
// moved away by hand, and sent only at the next start).
func TestQueueVolumeAway(t *testing.T) {
	var accept atomic.Bool
	sink := smtpsink.Start(t, smtpsink.Hooks{Rcpt: func(string) error {
		if !accept.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}})
	l, vol, store := onVolume(t)
	h := start(t, l, baseConfig(sink))
	drop(t, l, "m.eml", []byte("From: app@corp.test\r\nTo: b@y.test\r\nSubject: away\r\n\r\nbody\r\n"))
	h.waitLog("result=deferred")

	testtool.Unmount(t, vol)
	h.waitLog("Queue file out of reach, with its folder")
	accept.Store(true)
	testtool.BindMount(t, store, vol)
	sink.WaitFor(t, wait, "the message", count(1))
	waitEmpty(t, l)
}

// A message delivered while its Queue folder went away with its volume is
// not taken for removed: its removal is tried again until the volume is
// back, and it is never sent twice (found from outside: left in Queue in
// silence, and sent again at the next start).
func TestDeliveredWhileQueueAway(t *testing.T) {
	h, sink, l, vol, store := awayDuringDelivery(t)
	testtool.BindMount(t, store, vol)
	h.waitLog("finished message removed from Queue at last")
	waitEmpty(t, l)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d messages at the sink, want 1", n)
	}
}

// A stop while such a message's Queue file cannot be removed nor marked
// names it: the next start sends it again unless it is removed by hand
// (found from outside: the stop said nothing).
func TestStopNamesUnfinished(t *testing.T) {
	h, _, _, _, _ := awayDuringDelivery(t)
	h.stop()
	if !strings.Contains(h.logs.String(), "stopping with a message done with still in Queue, not marked as done") || !strings.Contains(h.logs.String(), "file=m.eml") {
		t.Fatalf("the stop does not name the message:\n%s", h.logs.String())
	}
}

// A file written into a Pickup folder beneath an unmounted volume's mount
// point is not claimed into the Queue folder beneath it, where it would be
// forgotten once the volume is back (found from outside).
func TestNoClaimBeneathMountPoint(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "mailroot")
	l := testLayoutIn(root)
	for _, f := range l.Folders() {
		if err := os.MkdirAll(f.Path, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	store := testtool.Tmpfs(t, "8m")
	testtool.BindMount(t, store, root)
	h := start(t, l, baseConfig(nil))
	testtool.Unmount(t, root)
	if err := os.WriteFile(filepath.Join(l.Pickup, "under.eml"), []byte("From: app@corp.test\r\nTo: b@y.test\r\nSubject: under\r\n\r\nbody\r\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	h.waitLog("cannot claim Pickup file")
	if names, _ := os.ReadDir(l.Queue); len(names) != 0 {
		t.Fatalf("Queue beneath the mount point holds %v", names)
	}
	if _, err := os.Stat(filepath.Join(l.Pickup, "under.eml")); err != nil {
		t.Fatalf("the Pickup file beneath the mount point: %v", err)
	}
}
