package tlscert

import (
	"crypto/tls"
	"slices"
)

// rsaKex is the RSA key exchange suites that Go implements without known
// flaws and leaves out of its default list (no forward secrecy), and that
// Windows' Schannel kept enabled, as a server and as a client: older
// printers and scanners offer nothing else, and older mail servers and
// appliances accept nothing else.
var rsaKex = []uint16{
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// IsRSAKeyExchange reports whether id is one of those suites.
func IsRSAKeyExchange(id uint16) bool { return slices.Contains(rsaKex, id) }

// WithRSAKeyExchange is Go's secure TLS 1.0-1.2 suites with the RSA key
// exchange ones, for tls.Config.CipherSuites. A Go server still prefers
// ECDHE whenever the client offers it, whatever this order; a Go client
// offers ECDHE first, and the server chooses (TLS 1.2's Finished messages
// cover the offer, so the choice cannot be forced down by a third party).
func WithRSAKeyExchange() []uint16 {
	var ids []uint16
	for _, cs := range tls.CipherSuites() {
		ids = append(ids, cs.ID)
	}
	for _, id := range rsaKex {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}
