//go:build !windows

package main

import (
	"fmt"
	"io"
)

// serviceCmd manages the Windows service; elsewhere there is none.
func serviceCmd(args []string, stdout, stderr io.Writer) int {
	const why = "mailbridge service: Windows services exist only on Windows; on Linux run `mailbridge run` under systemd (README.md, \"On Linux, as a service\")"
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		// Help asked for is given, not refused.
		fmt.Fprintln(stdout, why)
		return 0
	}
	fmt.Fprintln(stderr, why)
	return 2
}

// runService runs under the Windows service manager; elsewhere there is none.
func runService(name, cfgPath string, stderr io.Writer) int {
	fmt.Fprintln(stderr, "mailbridge run --service: Windows services exist only on Windows; on Linux run `mailbridge run` under systemd")
	return 2
}
