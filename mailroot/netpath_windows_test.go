//go:build windows

package mailroot

import "testing"

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
