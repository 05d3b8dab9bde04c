//go:build windows

package main

import (
	"os"
	"path/filepath"
)

// defaultMetabasePath is where the IIS SMTP Service keeps its metabase,
// under the Windows folder the system really uses.
func defaultMetabasePath() string {
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	return filepath.Join(root, "System32", "inetsrv", "MetaBase.xml")
}
