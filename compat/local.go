package compat

import (
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// LocalDomains is IIS's rule for the mail a server keeps: mail for a local
// or alias domain goes to Drop, whether it came over SMTP or through
// Pickup (iis-reference section 1). A recipient is local when its domain
// is one of the configured domains or the server's host name, or an IP
// literal of this machine; a bare local part ("postmaster", RFC 5321
// section 4.5.1) is local, and so is the default domain that addresses
// without a domain get: IIS's default domain was always a local one (its
// Domains node lists it as "Local (Default)"), so that a scanner's mail
// to "admin" stayed here. With no domains configured every domain is
// local: mailbridge's default for inbound SMTP, where all mail goes to
// Drop (Listed tells the two apart).
type LocalDomains struct {
	names map[string]struct{} // by DomainKey; nil: every domain
	ips   map[netip.Addr]struct{}
}

// NewLocalDomains returns the rule for hostname, the default domain
// (defaultDomain; "" for none) and domains; the machine's own addresses
// are read once, here.
func NewLocalDomains(hostname, defaultDomain string, domains []string) *LocalDomains {
	l := &LocalDomains{}
	if len(domains) == 0 {
		return l
	}
	l.names = map[string]struct{}{}
	for _, d := range append([]string{hostname, defaultDomain}, domains...) {
		if d != "" {
			l.names[DomainKey(d)] = struct{}{}
		}
	}
	l.ips = map[netip.Addr]struct{}{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			l.ips[p.Addr().Unmap()] = struct{}{}
		}
	}
	return l
}

// Listed reports whether local domains were configured, rather than every
// domain being local.
func (l *LocalDomains) Listed() bool { return l.names != nil }

// Has reports whether mail for rcpt stays here.
func (l *LocalDomains) Has(rcpt string) bool {
	if l.names == nil {
		return true
	}
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		return true
	}
	domain := strings.TrimSuffix(strings.ToLower(rcpt[at+1:]), ".")
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		lit := strings.TrimPrefix(domain[1:len(domain)-1], "ipv6:")
		ip, err := netip.ParseAddr(lit)
		if err != nil {
			return false
		}
		_, ok := l.ips[ip.Unmap()]
		return ok
	}
	_, ok := l.names[DomainKey(domain)]
	return ok
}

// DomainKey is the form in which domains are compared: ASCII, an
// internationalized domain in its A-label ("xn--") form (RFC 5890 section
// 2.3.2.1), lower case (RFC 5321 section 2.4: domains are not case
// sensitive), without a final dot. With SMTPUTF8 (RFC 6531) a client may
// write u@müller.example, u@MÜLLER.example or u@xn--mller-kva.example:
// one domain. The conversion is UTS #46 lookup processing, as a resolver
// applies (golang.org/x/net/idna's Lookup profile), the same as config
// applies to local_domains. A name that does not convert is compared as
// written, lower case: not ASCII, it matches no configured domain.
func DomainKey(d string) string {
	d = strings.TrimSuffix(d, ".")
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			if a, err := idna.Lookup.ToASCII(d); err == nil {
				return strings.ToLower(a)
			}
			break
		}
	}
	return strings.ToLower(d)
}

// RecipientKey is the form in which recipients are compared for
// duplicates, the same for SMTP and Pickup: the domain is not case
// sensitive (RFC 5321 section 2.4; compared as DomainKey, so the Unicode
// and the A-label forms of a domain are one, with or without a final
// dot), nor is the reserved local part postmaster (section 4.5.1); other
// local parts are compared as written, since a server may tell their
// cases apart.
func RecipientKey(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr
	}
	local := addr[:i]
	if strings.EqualFold(local, "postmaster") {
		local = "postmaster"
	}
	return local + "@" + DomainKey(addr[i+1:])
}
