//go:build !windows

package config

import (
	"bufio"
	"os"
	"strings"
)

// machineName is the machine's fully qualified name, as `hostname -f`
// finds it without asking DNS: the kernel's host name, and when that has
// no domain, the canonical name /etc/hosts gives it (Debian's
// "127.0.1.1 host.example.com host"). Loading the configuration never
// waits on the network.
func machineName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "localhost"
	}
	return qualify(host, "/etc/hosts")
}

// qualify returns host's canonical name from the hosts file at path, when
// host has no dot and the file lists it as an alias of a name that starts
// with host and a dot; otherwise host.
func qualify(host, path string) string {
	if strings.Contains(host, ".") {
		return host
	}
	f, err := os.Open(path)
	if err != nil {
		return host
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 3 {
			continue
		}
		canon := fields[1]
		if !strings.HasPrefix(strings.ToLower(canon), strings.ToLower(host)+".") {
			continue
		}
		for _, alias := range fields[2:] {
			if strings.EqualFold(alias, host) {
				return strings.TrimSuffix(canon, ".")
			}
		}
	}
	return host
}
