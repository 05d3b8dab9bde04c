package compat

import (
	"net"
	"net/netip"
	"testing"
)

func TestLocalDomains(t *testing.T) {
	l := NewLocalDomains("mail.example.com", "corp.example", []string{"example.org", "müller.example"})
	for _, c := range []struct {
		rcpt string
		want bool
	}{
		{"a@example.org", true},
		{"a@EXAMPLE.ORG.", true},
		{"a@mail.example.com", true}, // the host name is local
		{"a@sub.example.org", false}, // a sub-domain is another domain
		{"a@example.com", false},
		{"u@müller.example", true},
		{"u@MÜLLER.example", true},
		{"u@XN--MLLER-KVA.example", true},
		{"postmaster", true}, // RFC 5321 section 4.5.1
		// The default domain, which addresses without one get, is
		// local as IIS's was, though not listed.
		{"admin@corp.example", true},
		{"admin@CORP.EXAMPLE", true},
		{"admin@sub.corp.example", false},
		{"a@[192.0.2.1]", false},
		{"a@[not an ip]", false},
	} {
		if got := l.Has(c.rcpt); got != c.want {
			t.Errorf("Has(%q) = %v, want %v", c.rcpt, got, c.want)
		}
	}
	// An IP literal of this machine is local.
	if addrs, _ := net.InterfaceAddrs(); len(addrs) > 0 {
		p, err := netip.ParsePrefix(addrs[0].String())
		if err != nil {
			t.Fatal(err)
		}
		lit := "a@[" + p.Addr().Unmap().String() + "]"
		if p.Addr().Unmap().Is6() {
			lit = "a@[IPv6:" + p.Addr().String() + "]"
		}
		if !l.Has(lit) {
			t.Errorf("Has(%q) = false for an address of this machine", lit)
		}
	}
	if !l.Listed() {
		t.Error("Listed() = false with domains")
	}
	all := NewLocalDomains("mail.example.com", "corp.example", nil)
	if all.Listed() || !all.Has("a@anywhere.example") {
		t.Error("with no domains every domain must be local, and Listed false")
	}
}
