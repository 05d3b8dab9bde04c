//go:build windows

package mailroot

import (
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
