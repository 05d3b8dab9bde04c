package config

import (
	"errors"
	"strings"
	"testing"
)

func TestLogRotationKeys(t *testing.T) {
	c, err := Parse("m.toml", []byte("[log]\nmax_size = \"20MB\"\nmax_files = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.MaxSize != 20<<20 || c.Log.MaxFiles != 3 {
		t.Errorf("max_size, max_files = %d, %d; want %d, 3", c.Log.MaxSize, c.Log.MaxFiles, 20<<20)
	}
	d := Default()
	if d.Log.MaxSize != 10<<20 || d.Log.MaxFiles != 5 {
		t.Errorf("defaults = %d, %d; want 10MB, 5", d.Log.MaxSize, d.Log.MaxFiles)
	}
}

func TestLogRotationKeysInvalid(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[log]\nmax_size = \"lots\"\n", `m.toml:2: log.max_size = "lots": must be a size`},
		{"[log]\n\nmax_files = -1\n", "m.toml:3: log.max_files = -1: must be from 0 to 1000"},
		{"[log]\nmax_files = \"5\"\n", `m.toml:2: log.max_files = "5": must be a whole number`},
	}
	for _, tt := range tests {
		_, err := Parse("m.toml", []byte(tt.in))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v; want %q", tt.in, err, tt.want)
		}
	}
}
