//go:build !linux

package mailroot

// mountID: only Linux tells mounts apart (see mount_linux.go).
func mountID(string) (uint64, bool) { return 0, false }

// InMemory: see mount_linux.go; elsewhere it cannot tell.
func InMemory(string) bool { return false }
