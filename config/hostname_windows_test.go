package config

import (
	"os"
	"strings"
	"testing"
)

// TestMachineName: the DNS name begins with the computer's host name (and
// adds the primary DNS suffix where the machine has one).
func TestMachineName(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	got := machineName()
	if !strings.HasPrefix(strings.ToLower(got), strings.ToLower(host)) {
		t.Fatalf("machineName() = %q, host name %q", got, host)
	}
	t.Logf("machineName() = %q", got)
}
