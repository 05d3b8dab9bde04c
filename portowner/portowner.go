// Package portowner finds which process holds a local TCP port.
//
// Listeners returns every process with a listening socket on a port, so
// that "address already in use" can name the program in the way (on a
// migrated server, often the IIS SMTP Service in inetinfo.exe) and its PID.
// It reads /proc/net/tcp and /proc/net/tcp6 on Linux and calls
// GetExtendedTcpTable on Windows; elsewhere it returns ErrUnsupported. It
// only reads: it never signals or stops a process.
//
// Finding the process may need privileges: a socket owned by another user
// is reported with PID 0 (and its UID on Linux) when its process cannot be
// inspected.
package portowner

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrUnsupported is returned where the operating system offers no way to
// list socket owners that this package knows.
var ErrUnsupported = errors.New("portowner: not supported on this operating system")

// Owner is one listening socket and the process that holds it.
type Owner struct {
	Addr netip.AddrPort // the address listened on; 0.0.0.0 or :: for all
	PID  int            // 0 when the process could not be identified
	Name string         // process name ("python3", "inetinfo.exe"); "" when unknown
	Path string         // executable path, when it could be read
	UID  int            // Linux: the socket's owner; -1 when unknown
	User string         // Linux: the name of UID, when it has one
	// Services lists the Windows services the process runs (svchost and
	// inetinfo host several); nil elsewhere.
	Services []string
}

// String names the owner for a message: "python3 (PID 4242)".
func (o Owner) String() string {
	switch {
	case o.PID == 0 && o.User != "":
		return fmt.Sprintf("a process of user %s (UID %d)", o.User, o.UID)
	case o.PID == 0 && o.UID >= 0:
		return fmt.Sprintf("a process of UID %d", o.UID)
	case o.PID == 0:
		return "an unidentified process"
	case o.Name == "":
		return fmt.Sprintf("PID %d", o.PID)
	}
	return fmt.Sprintf("%s (PID %d)", o.Name, o.PID)
}

// IsIISSMTP reports whether o is the IIS SMTP Service: the SMTPSVC service,
// which runs inside inetinfo.exe.
func (o Owner) IsIISSMTP() bool {
	for _, s := range o.Services {
		if strings.EqualFold(s, "SMTPSVC") {
			return true
		}
	}
	return strings.EqualFold(o.Name, "inetinfo.exe") || strings.EqualFold(o.Name, "inetinfo")
}

// Listeners returns the sockets listening on TCP port of this machine, on
// any address, with their processes. An empty result with a nil error
// means nothing listens there (or the socket belongs to a container or
// namespace this process cannot see).
func Listeners(port int) ([]Owner, error) {
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("portowner: port %d is not from 1 to 65535", port)
	}
	return listeners(port)
}
