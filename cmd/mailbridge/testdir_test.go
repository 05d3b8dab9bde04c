package main

import (
	"os"
	"path/filepath"
	"testing"
)

// testDir is t.TempDir with a cleanup that removes entries one by one:
// under Wine, os.RemoveAll fails on a folder that is not empty.
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mailbridge-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeTree(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return dir
}

func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			err = removeTree(p)
		} else {
			err = os.Remove(p)
		}
		if err != nil {
			return err
		}
	}
	return os.Remove(dir)
}
