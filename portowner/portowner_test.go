package portowner

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"

	"github.com/mailbridge/mailbridge/internal/portholder"
	"github.com/mailbridge/mailbridge/internal/testtool"
)

func TestMain(m *testing.M) {
	portholder.Main()
	os.Exit(m.Run())
}

func checkOwner(t *testing.T, port, pid int, name string) {
	t.Helper()
	owners, err := Listeners(port)
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) != 1 {
		t.Fatalf("Listeners(%d) = %+v, want one listener", port, owners)
	}
	o := owners[0]
	if o.PID == 0 && testtool.UnderWine() {
		t.Skipf("Wine lists the socket on %v but reports no owning process", o.Addr)
	}
	if o.PID != pid || o.Name != name || o.Addr.String() != "127.0.0.1:"+strconv.Itoa(port) {
		t.Fatalf("got %+v, want PID %d, name %q on 127.0.0.1:%d", o, pid, name, port)
	}
	if want := fmt.Sprintf("%s (PID %d)", name, pid); o.String() != want {
		t.Fatalf("String() = %q, want %q", o.String(), want)
	}
	if o.IsIISSMTP() {
		t.Fatal("IsIISSMTP() is true for a test process")
	}
}

func TestListenersOtherProcess(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "windows" {
		t.Skip("portowner supports Linux and Windows")
	}
	pid, port := portholder.Self(t)
	name := "portowner.test"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	checkOwner(t, port, pid, name)
}

// A port held by a program of another kind, as an administrator would meet
// it: a Python script.
func TestListenersPython(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	python := testtool.Path(t, testtool.Python, "python3")
	cmd := exec.Command(python, "-c", `import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()`)
	pid, port := portholder.Start(t, cmd)
	checkOwner(t, port, pid, "python3")
}

func TestListenersFree(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "windows" {
		t.Skip("portowner supports Linux and Windows")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	owners, err := Listeners(port)
	if err != nil || len(owners) != 0 {
		t.Fatalf("Listeners(free port %d) = %+v, %v", port, owners, err)
	}
	if _, err := Listeners(0); err == nil {
		t.Fatal("Listeners(0) did not fail")
	}
}

// Our own listener, IPv4 and IPv6, is found with our PID.
func TestListenersSelf(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "windows" {
		t.Skip("portowner supports Linux and Windows")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	want := 1
	if l6, err := net.Listen("tcp6", "[::1]:"+strconv.Itoa(port)); err == nil {
		defer l6.Close()
		want = 2
	}
	owners, err := Listeners(port)
	if err != nil {
		t.Fatal(err)
	}
	if len(owners) != want {
		t.Fatalf("got %+v, want %d listeners", owners, want)
	}
	for _, o := range owners {
		if o.PID == 0 && testtool.UnderWine() {
			t.Skipf("Wine lists the socket on %v but reports no owning process", o.Addr)
		}
		if o.PID != os.Getpid() {
			t.Errorf("%v: PID %d, want ours, %d", o.Addr, o.PID, os.Getpid())
		}
	}
}

func TestOwnerString(t *testing.T) {
	tests := []struct {
		o    Owner
		want string
		iis  bool
	}{
		{Owner{PID: 2044, Name: "inetinfo.exe", UID: -1, Services: []string{"IISADMIN", "SMTPSVC"}}, "inetinfo.exe (PID 2044)", true},
		{Owner{PID: 2044, Name: "svchost.exe", UID: -1, Services: []string{"smtpsvc"}}, "svchost.exe (PID 2044)", true},
		{Owner{PID: 0, UID: 108}, "a process of UID 108", false},
		{Owner{PID: 0, UID: 0, User: "root"}, "a process of user root (UID 0)", false},
		{Owner{PID: 0, UID: -1}, "an unidentified process", false},
		{Owner{PID: 7, UID: 0}, "PID 7", false},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		if got := tt.o.IsIISSMTP(); got != tt.iis {
			t.Errorf("%v: IsIISSMTP() = %v", tt.o, got)
		}
	}
}
