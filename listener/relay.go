package listener

import (
	"net"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// Relay rules (IIS's local domains, relay restrictions and connection
// control; iis-reference section 7). The listener never relays on its own
// judgement of an address: mail leaves through the smart host only when
// the client's IP is in RelayFrom. Everything else is either for a local
// domain (Drop) or refused with IIS's 550 5.7.1, so there is no open relay
// whatever the address looks like (source routes, "%" hacks, quoted local
// parts, IP literals, case).

// destination of one recipient.
type destination int

const (
	toDrop destination = iota
	toRelay
	refused
)

// route decides where mail for rcpt from client goes.
func (s *Server) route(rcpt string, client netip.Addr) destination {
	if s.isLocal(rcpt) {
		return toDrop
	}
	if !inPrefixes(client, s.cfg.RelayFrom) {
		return refused
	}
	if s.cfg.Intercept || s.cfg.RelayDir == "" {
		// The Email Interceptor: relayed mail is processed from Drop first.
		return toDrop
	}
	return toRelay
}

// isLocal reports whether rcpt's domain is one of ours: a configured local
// or alias domain, our host name, or an IP literal of this machine. With no
// local domains configured every domain is local (the product default: all
// mail goes to Drop). A bare local part ("postmaster", RFC 5321 section
// 4.5.1) is local.
func (s *Server) isLocal(rcpt string) bool {
	if len(s.cfg.LocalDomains) == 0 {
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
		_, ok := s.ownIPs[ip.Unmap()]
		return ok
	}
	_, ok := s.localDomains[domainKey(domain)]
	return ok
}

// domainKey is the form in which domains are compared: ASCII, an
// internationalized domain in its A-label ("xn--") form (RFC 5890 section
// 2.3.2.1), lower case (RFC 5321 section 2.4: domains are not case
// sensitive), without a final dot. With SMTPUTF8 (RFC 6531) a client may
// write u@müller.example, u@MÜLLER.example or u@xn--mller-kva.example:
// one domain. The conversion is UTS #46 lookup processing, as a resolver
// applies (golang.org/x/net/idna's Lookup profile), the same as config
// applies to local_domains. A name that does not convert is compared as
// written, lower case: not ASCII, it matches no configured domain.
func domainKey(d string) string {
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

func inPrefixes(ip netip.Addr, list []netip.Prefix) bool {
	ip = ip.Unmap()
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// admitted applies connection control: DenyFrom wins over AllowFrom; an
// empty AllowFrom admits everyone.
func (s *Server) admitted(addr net.Addr) bool {
	ip := addrIP(addr)
	if inPrefixes(ip, s.cfg.DenyFrom) {
		return false
	}
	return len(s.cfg.AllowFrom) == 0 || inPrefixes(ip, s.cfg.AllowFrom)
}

// addrIP is the IP address of addr, IPv4-mapped addresses as IPv4, and
// without an IPv6 zone: a link-local client's address carries its
// interface ("fe80::1%eth0"), and netip.Prefix.Contains is false for any
// address with a zone, so no allow_from, deny_from or relay_from range
// ever matched it (found from outside: a deny_from of fe80::/10 let such
// clients in).
func addrIP(addr net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}

// ownAddresses lists this machine's IP addresses, for [IP] literals.
func ownAddresses() map[netip.Addr]struct{} {
	out := map[netip.Addr]struct{}{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out[p.Addr().Unmap()] = struct{}{}
		}
	}
	return out
}
