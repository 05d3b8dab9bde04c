package testtool

import "golang.org/x/sys/windows"

// UnderWine reports whether the tests run under Wine (scripts/test-windows),
// where some Windows facts do not hold: GetExtendedTcpTable reports no
// owning process (Wine 8), and file IDs do not identify a folder reached
// through a link.
func UnderWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
