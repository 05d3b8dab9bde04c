package testdir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRemoveNestedTree(t *testing.T) {
	var dir string
	t.Run("make", func(t *testing.T) {
		dir = New(t)
		deep := filepath.Join(dir, "a", "b c", "ü")
		if err := os.MkdirAll(deep, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Join(dir, "top.eml"), filepath.Join(deep, "deep.eml"), filepath.Join(dir, "a", "ro.eml")} {
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(filepath.Join(dir, "a", "ro.eml"), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("after the subtest, Stat(%s) = %v; want not exist", dir, err)
	}
}
