//go:build windows

package portowner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// GetExtendedTcpTable is not wrapped by x/sys/windows.
var (
	iphlpapi                = windows.NewLazySystemDLL("iphlpapi.dll")
	procGetExtendedTcpTable = iphlpapi.NewProc("GetExtendedTcpTable")
)

const (
	tcpTableOwnerPIDListener = 3 // TCP_TABLE_OWNER_PID_LISTENER
	afInet                   = 2
	afInet6                  = 23
	rowSize4                 = 24 // MIB_TCPROW_OWNER_PID
	rowSize6                 = 56 // MIB_TCP6ROW_OWNER_PID
)

func listeners(port int) ([]Owner, error) {
	var out []Owner
	for _, af := range []uint32{afInet, afInet6} {
		tab, err := tcpTable(af)
		if err != nil {
			if af == afInet6 {
				continue // IPv6 not installed
			}
			return nil, err
		}
		out = append(out, parseTable(tab, af, port)...)
	}
	if len(out) == 0 {
		return nil, nil
	}
	names := processNames()
	services := servicesByPID()
	for i := range out {
		o := &out[i]
		o.Name = names[uint32(o.PID)]
		o.Services = services[uint32(o.PID)]
		o.Path = imagePath(uint32(o.PID))
		if o.Name == "" && o.Path != "" {
			o.Name = filepath.Base(o.Path)
		}
	}
	return out, nil
}

// tcpTable returns the raw MIB_TCPTABLE_OWNER_PID or MIB_TCP6TABLE_OWNER_PID
// of listening sockets.
func tcpTable(af uint32) ([]byte, error) {
	size := uint32(16 << 10)
	for tries := 0; tries < 5; tries++ {
		buf := make([]byte, size)
		r, _, _ := procGetExtendedTcpTable.Call(uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)),
			0, uintptr(af), tcpTableOwnerPIDListener, 0)
		switch windows.Errno(r) {
		case 0:
			return buf, nil
		case windows.ERROR_INSUFFICIENT_BUFFER:
			size += 4 << 10 // the table may grow between the calls
			continue
		default:
			return nil, fmt.Errorf("portowner: GetExtendedTcpTable: %w", windows.Errno(r))
		}
	}
	return nil, errors.New("portowner: GetExtendedTcpTable: the table keeps growing")
}

// parseTable reads dwNumEntries and the rows; ports are in network byte
// order in the low 16 bits of a DWORD.
func parseTable(tab []byte, af uint32, port int) []Owner {
	if len(tab) < 4 {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(tab))
	rowSize := rowSize4
	if af == afInet6 {
		rowSize = rowSize6
	}
	var out []Owner
	for i := 0; i < n; i++ {
		off := 4 + i*rowSize
		if off+rowSize > len(tab) {
			break
		}
		row := tab[off : off+rowSize]
		var addr netip.Addr
		var p uint16
		var pid uint32
		if af == afInet {
			addr = netip.AddrFrom4([4]byte(row[4:8]))
			p = binary.BigEndian.Uint16(row[8:10])
			pid = binary.LittleEndian.Uint32(row[20:24])
		} else {
			addr = netip.AddrFrom16([16]byte(row[0:16]))
			p = binary.BigEndian.Uint16(row[20:22])
			pid = binary.LittleEndian.Uint32(row[52:56])
		}
		if int(p) != port {
			continue
		}
		out = append(out, Owner{Addr: netip.AddrPortFrom(addr, p), PID: int(pid), UID: -1})
	}
	return out
}

// processNames maps PIDs to executable names from a process snapshot, which
// needs no access to the processes themselves (services run as SYSTEM).
func processNames() map[uint32]string {
	out := map[uint32]string{}
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return out
	}
	defer windows.CloseHandle(snap)
	var e windows.ProcessEntry32
	e.Size = uint32(unsafe.Sizeof(e))
	for err := windows.Process32First(snap, &e); err == nil; err = windows.Process32Next(snap, &e) {
		out[e.ProcessID] = windows.UTF16ToString(e.ExeFile[:])
	}
	return out
}

// imagePath is the full executable path, when this user may query it.
func imagePath(pid uint32) string {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return ""
	}
	defer windows.CloseHandle(h)
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return ""
	}
	return windows.UTF16ToString(buf[:n])
}

// servicesByPID maps PIDs to the names of the running services they host.
func servicesByPID() map[uint32][]string {
	out := map[uint32][]string{}
	m, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_ENUMERATE_SERVICE)
	if err != nil {
		return out
	}
	defer windows.CloseServiceHandle(m)
	var needed, count, resume uint32
	size := uint32(64 << 10)
	for tries := 0; tries < 5; tries++ {
		buf := make([]byte, size)
		err := windows.EnumServicesStatusEx(m, windows.SC_ENUM_PROCESS_INFO, windows.SERVICE_WIN32,
			windows.SERVICE_ACTIVE, &buf[0], size, &needed, &count, &resume, nil)
		if err == windows.ERROR_MORE_DATA {
			size = needed + 4<<10
			resume = 0
			continue
		}
		if err != nil {
			return out
		}
		entries := unsafe.Slice((*windows.ENUM_SERVICE_STATUS_PROCESS)(unsafe.Pointer(&buf[0])), count)
		for _, e := range entries {
			pid := e.ServiceStatusProcess.ProcessId
			out[pid] = append(out[pid], windows.UTF16PtrToString(e.ServiceName))
		}
		return out
	}
	return out
}
