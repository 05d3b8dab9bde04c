//go:build !windows

package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testdir"
)

func TestQualify(t *testing.T) {
	hosts := filepath.Join(testdir.New(t), "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n"+
		"10.0.0.9 other.example.com mail # not us\n"+
		"127.0.1.1\tMail.Corp.Example.com. mail mailhost  # Debian's line\n"), 0o644)
	for _, tc := range []struct{ host, want string }{
		{"mail", "Mail.Corp.Example.com"},
		{"MAIL", "Mail.Corp.Example.com"},
		{"mailhost", "mailhost"}, // the canonical name is not mailhost's
		{"vm", "vm"},
		{"smtp.example.net", "smtp.example.net"},
	} {
		if got := qualify(tc.host, hosts); got != tc.want {
			t.Errorf("qualify(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
	if got := qualify("mail", filepath.Join(testdir.New(t), "none")); got != "mail" {
		t.Errorf("without a hosts file: %q", got)
	}
}
