package bridge

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

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
	base := t.TempDir()
	vol := filepath.Join(base, "vol")
	store := testtool.Tmpfs(t, "8m")
	if err := os.Mkdir(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	testtool.BindMount(t, store, vol)
	l := testLayoutIn(filepath.Join(vol, "mailroot"))
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
