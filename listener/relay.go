package listener

import (
	"net"
	"net/netip"
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

// isLocal reports whether rcpt's domain is one of ours (compat.LocalDomains:
// with no local domains configured, every domain).
func (s *Server) isLocal(rcpt string) bool {
	return s.local.Has(rcpt)
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
// loopback6Hint is what to log when list, the [inbound] key, lets in
// 127.0.0.1 and not ::1 and refused the client ip, which is ::1: a program
// on this machine sending to "localhost" reaches ::1 first, and IIS's
// lists knew IPv4 only (found from outside). "" otherwise.
func loopback6Hint(ip netip.Addr, list []netip.Prefix, key string) string {
	if ip != netip.IPv6Loopback() || !inPrefixes(netip.AddrFrom4([4]byte{127, 0, 0, 1}), list) {
		return ""
	}
	return key + ` lets in 127.0.0.1 but not ::1, this machine over IPv6, where "localhost" goes first: add "::1" to [inbound] ` + key
}

// refusedBy names the list that refuses a client at ip ("deny_from", or
// "allow_from" that does not hold it), or "" when it may connect.
func (s *Server) refusedBy(ip netip.Addr) string {
	if inPrefixes(ip, s.cfg.DenyFrom) {
		return "deny_from"
	}
	if len(s.cfg.AllowFrom) > 0 && !inPrefixes(ip, s.cfg.AllowFrom) {
		return "allow_from"
	}
	return ""
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
