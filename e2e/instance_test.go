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
// must not be harmed.
//
// BUG: run opens the mail root (which removes every temporary file in
// SortTemp as a crash leftover) before it opens the port, so the second
// instance deletes the first one's message being received; the first then
// answers 451 4.3.0 (rename: no such file). Opening the port first (or a
// lock file in the mail root) would make the cleanup safe.
func TestSecondInstanceLeavesFirstAlone(t *testing.T) {
	t.Skip("BUG: a second `mailbridge run` on the same mail root deletes the first's in-flight SortTemp files before failing on the port (cmd/mailbridge/run.go opens mailroot before listening)")
	d := startDaemon(t, options{})
	s := startData(t, d)
	msg := burstMessage(1, 100<<10)
	s.send(string(msg[:50<<10]))
	// Wait until the temporary file exists.
	deadline := time.Now().Add(5 * time.Second)
	for len(listDir(t, d.sortTemp)) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_, errOut, code := mailbridge(t, "run", "--config", d.cfgPath)
	if code != 1 || !strings.Contains(errOut, "mailbridge (PID") {
		t.Errorf("second instance: exit %d\n%s", code, errOut)
	}
	s.send(string(msg[50<<10:]) + ".\r\n")
	expect(t, s.last(), "250 2.6.0 <m-1@e2e.test>")
}
