package portowner

import "golang.org/x/sys/windows"

// underWine reports whether the tests run under Wine, whose
// GetExtendedTcpTable lists sockets but reports no owning process (Wine 8).
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
