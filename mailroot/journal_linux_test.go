package mailroot

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// Unjournaled names the file systems on which a power cut can lose a
// folder's names (found by a power-cut test: ext4 without a journal lost
// acknowledged messages to lost+found), and no other.
func TestUnjournaled(t *testing.T) {
	for _, tt := range []struct {
		name, mkfs, pkg string
		args            []string
		want            string
	}{
		{"ext4 without a journal", "mkfs.ext4", "e2fsprogs", []string{"-q", "-F", "-O", "^has_journal"}, "ext4 without a journal"},
		{"ext4 with its journal", "mkfs.ext4", "e2fsprogs", []string{"-q", "-F"}, ""},
		{"ext2", "mkfs.ext2", "e2fsprogs", []string{"-q", "-F"}, "ext4 without a journal"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mnt, _ := testtool.LoopFS(t, tt.mkfs, tt.pkg, tt.args...)
			dir := filepath.Join(mnt, "Drop")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if got := Unjournaled(dir); got != tt.want {
				t.Fatalf("Unjournaled = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("tmpfs", func(t *testing.T) {
		if got := Unjournaled(testtool.Tmpfs(t, "1m")); got != "" {
			t.Fatalf("Unjournaled = %q, want none (said as a file system held in memory)", got)
		}
	})
}

// What the ext4 driver says of its journal, read from a sysfs tree: only
// "<none>" is a file system without one; a kernel without the file
// (before Linux 5.14) cannot tell.
func TestExtJournal(t *testing.T) {
	for _, tt := range []struct {
		name string
		task string // "" for no journal_task file
		want string
	}{
		{"none", "<none>\n", "ext4 without a journal"},
		{"a journal thread", "423\n", ""},
		{"an older kernel", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sys := t.TempDir()
			os.MkdirAll(filepath.Join(sys, "dev", "block"), 0o755)
			os.MkdirAll(filepath.Join(sys, "fs", "ext4", "sdb1"), 0o755)
			if err := os.Symlink("../../devices/pci0000:00/block/sdb/sdb1", filepath.Join(sys, "dev", "block", "8:17")); err != nil {
				t.Fatal(err)
			}
			if tt.task != "" {
				os.WriteFile(filepath.Join(sys, "fs", "ext4", "sdb1", "journal_task"), []byte(tt.task), 0o444)
			}
			if got := extJournal("8:17", sys); got != tt.want {
				t.Fatalf("extJournal = %q, want %q", got, tt.want)
			}
			if got := extJournal("8:18", sys); got != "" {
				t.Fatalf("another device: %q", got)
			}
		})
	}
}
