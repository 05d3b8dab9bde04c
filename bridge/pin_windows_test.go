//go:build windows

package bridge

import (
	"sync"
	"testing"

	"golang.org/x/sys/windows"
)

// pinFile makes path impossible to remove until unpin is called, as a
// scanner does that reads it without sharing its deletion.
func pinFile(t *testing.T, path string) (unpin func(), err error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ, windows.FILE_SHARE_READ, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { windows.CloseHandle(h) }) }, nil
}
