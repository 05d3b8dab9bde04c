package main

import (
	"fmt"
	"io"
)

// importIIS prints a mailbridge configuration made from an IIS MetaBase.xml.
func importIIS(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "mailbridge import-iis: not implemented yet")
	return 2
}
