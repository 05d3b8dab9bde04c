//go:build windows

package mailroot

import (
	"os"
	"strings"
	"testing"
)

func TestIsNetworkPathWindows(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{`\\fileserver\mail\mailroot`, true},
		{`//fileserver/mail/mailroot`, true},
		{`\\?\UNC\fileserver\mail\mailroot`, true},
		{`\\?\unc\fileserver\mail\mailroot`, true},
		{`C:\inetpub\mailroot`, false},
		{`\\?\C:\inetpub\mailroot`, false},
		{`mailroot`, false},
	}
	for _, tt := range tests {
		if got := IsNetworkPath(tt.path); got != tt.want {
			t.Errorf("IsNetworkPath(%q) = %v; want %v", tt.path, got, tt.want)
		}
	}
}

// A folder on a share that cannot be created or written gets advice about
// the share and the account; a local one none.
func TestShareAdvice(t *testing.T) {
	if a := ShareAdvice(`\\fileserver\mail\mailroot`); !strings.Contains(a, "network share") || !strings.Contains(a, `DOMAIN\NAME$`) {
		t.Errorf("UNC path: %q", a)
	}
	if a := ShareAdvice(`C:\inetpub\mailroot`); a != "" {
		t.Errorf("local path: %q", a)
	}
}

// A folder on a drive this machine does not have says so (found from
// outside: "mkdir Q:\: Path not found", for a configuration brought from
// a server that had the drive).
func TestMissingDrive(t *testing.T) {
	missing := ""
	for c := 'Q'; c <= 'Y'; c++ {
		if _, err := os.Stat(string(c) + `:\`); err != nil {
			missing = string(c) + ":"
			break
		}
	}
	if missing == "" {
		t.Skip("every drive from Q: to Y: exists here")
	}
	err := MakeFolder(missing + `\mailroot\Drop`)
	if err == nil || !strings.Contains(err.Error(), "drive "+missing+" does not exist on this machine") {
		t.Fatalf("%v", err)
	}
	if d, err := MissingDrive(`C:\inetpub\mailroot`); d != "C:" || err != nil {
		t.Errorf("C: %q %v", d, err)
	}
	if _, err := MissingDrive(`\\fileserver\mail\mailroot`); err != nil {
		t.Errorf("UNC: %v", err)
	}
}
