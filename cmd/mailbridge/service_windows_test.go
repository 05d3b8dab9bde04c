//go:build windows

package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

// TestServiceCmdErrors runs against the real service manager (Windows, or
// Wine's in scripts/test-windows); it changes nothing there.
func TestServiceCmdErrors(t *testing.T) {
	missing := filepath.Join(testdir.New(t), "missing.toml")
	tests := []struct {
		args []string
		rc   int
		want string
	}{
		{nil, 2, "usage: mailbridge service"},
		{[]string{"restart"}, 2, `unknown command "restart"`},
		{[]string{"start", "now"}, 2, `unexpected argument "now"`},
		{[]string{"stop", "--config", "x.toml"}, 2, "flag provided but not defined: -config"},
		{[]string{"status", "--name", "mailbridge-test-absent"}, 1, `no service named "mailbridge-test-absent" is installed`},
		{[]string{"stop", "--name", "mailbridge-test-absent"}, 1, `no service named "mailbridge-test-absent" is installed`},
		{[]string{"uninstall", "--name", "mailbridge-test-absent"}, 1, `no service named "mailbridge-test-absent" is installed`},
		{[]string{"install", "--name", "mailbridge-test-absent", "--config", missing}, 1, "fix the configuration first"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			rc := serviceCmd(tt.args, &stdout, &stderr)
			if rc != tt.rc || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("service %v = %d, stderr %q; want %d and %q", tt.args, rc, stderr.String(), tt.rc, tt.want)
			}
		})
	}
}

func TestServiceRunFromConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the service manager to give up (10 s under Wine)")
	}
	var stderr bytes.Buffer
	rc := realMain([]string{"run", "--service", "mailbridge-test-absent"}, &bytes.Buffer{}, &stderr)
	if rc == 0 || !strings.Contains(stderr.String(), "this command line is for the service manager") {
		t.Errorf("run --service from a console = %d, %q", rc, stderr.String())
	}
}
