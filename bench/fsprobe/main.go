//go:build linux

// Command fsprobe measures what creating a file costs in a folder, for the
// benchmarks: on ext4 without a journal, for some minutes after many files
// were deleted, the kernel skips every recently deleted inode number while
// it looks for a free one (fs/ext4/ialloc.c, recently_deleted), and a file
// then costs 25 times the CPU it normally does. A benchmark run in that
// state measures the file system's past, not mailbridge.
//
// Usage: fsprobe [-n 2000] DIR. It creates DIR/fsprobe-TIME/ with n empty
// files, leaves them (deleting them would cause the very state it
// detects), and prints the CPU microseconds per file.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 2000, "files to create")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fsprobe [-n N] DIR")
		os.Exit(2)
	}
	dir := filepath.Join(flag.Arg(0), "fsprobe-"+time.Now().UTC().Format("20060102T150405.000000000"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "fsprobe:", err)
		os.Exit(1)
	}
	before := cpu()
	for i := 0; i < *n; i++ {
		fd, err := syscall.Open(filepath.Join(dir, fmt.Sprintf("f%06d", i)), syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fsprobe:", err)
			os.Exit(1)
		}
		syscall.Close(fd)
	}
	fmt.Printf("%.0f\n", float64(cpu()-before)/float64(time.Microsecond)/float64(*n))
}

// cpu is the process's user and system time.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
