package config

import (
	"os"

	"golang.org/x/sys/windows"
)

// machineName is the machine's fully qualified DNS name (computer name and
// primary DNS suffix), IIS's default FullyQualifiedDomainName; os.Hostname
// gives the computer name alone.
func machineName() string {
	n := uint32(256)
	for range 2 {
		buf := make([]uint16, n)
		err := windows.GetComputerNameEx(windows.ComputerNameDnsFullyQualified, &buf[0], &n)
		if err == nil && n > 0 {
			return windows.UTF16ToString(buf[:n])
		}
		if err != windows.ERROR_MORE_DATA {
			break
		}
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		return host
	}
	return "localhost"
}
