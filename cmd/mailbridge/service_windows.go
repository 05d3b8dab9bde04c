//go:build windows

package main

import (
	"fmt"
	"io"
)

// serviceCmd manages the Windows service.
func serviceCmd(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "mailbridge service: not implemented yet")
	return 2
}
