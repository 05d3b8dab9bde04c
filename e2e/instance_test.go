//go:build !windows

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestSecondInstanceLeavesFirstAlone: an administrator who starts
// `mailbridge run` while the service already runs on the same mail root
// gets an error about the port; the running instance's message in flight
// must not be harmed: the second instance finds the mail root locked and
// stops before it touches anything.
func TestSecondInstanceLeavesFirstAlone(t *testing.T) {
	d := startDaemon(t, options{})
	s := startData(t, d)
	msg := burstMessage(1, 100<<10)
	s.send(string(msg[:50<<10]))
	// Wait until the temporary file exists.
	deadline := time.Now().Add(5 * time.Second)
	for !hasTemp(t, d.sortTemp) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_, errOut, code := mailbridge(t, "run", "--config", d.cfgPath)
	if code != 1 || !strings.Contains(errOut, "locked by another running mailbridge") {
		t.Errorf("second instance: exit %d\n%s", code, errOut)
	}
	// check says so, as notes: the running instance is the one whose
	// configuration is checked before a restart (found from outside:
	// check always failed while it ran, so `check && restart` never
	// restarted).
	out, errOut, code := mailbridge(t, "check", "--config", d.cfgPath)
	if code != 0 || !strings.Contains(out, "note: a mailbridge is running with this mail root; a second one could not start beside it") ||
		!strings.Contains(out, "is held by the mailbridge running with this mail root") {
		t.Errorf("check beside a running instance: exit %d\n%s%s", code, out, errOut)
	}
	s.send(string(msg[50<<10:]) + ".\r\n")
	expect(t, s.last(), "250 2.6.0 <m-1@e2e.test>")
}

func hasTemp(t *testing.T, dir string) bool {
	for _, n := range listDir(t, dir) {
		if strings.HasPrefix(n, "mbtmp-") {
			return true
		}
	}
	return false
}
