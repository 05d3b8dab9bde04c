// Package testtool is how tests meet what they need from outside Go: an
// outside program (swaks, smtp-source, curl, msmtp, openssl, Debian's Python with
// aiosmtpd) or a condition of the machine (root, a file system feature).
//
// Where it is missing, the test is skipped with a message that says how to
// get it, and fails instead when CI=true: .ci/run installs everything, so
// there a missing tool is a broken set-up, not a reason to skip
// (DEVELOPERS.md). Under Windows (the test binaries run under Wine) the
// outside programs are Linux programs: those tests are skipped, as the
// Linux suite runs them.
package testtool

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// CI reports whether missing tools are failures rather than skips.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips t because of what is missing, or fails it when CI=true.
// what says what is missing and how to get it.
func Missing(t testing.TB, what string) {
	t.Helper()
	if CI() {
		t.Fatalf("CI=true: %s", what)
	}
	t.Skip(what + "; skipping")
}

// Path returns the path of the outside program name (a command or an
// absolute path), which Debian's package pkg provides.
func Path(t testing.TB, name, pkg string) string {
	t.Helper()
	linuxOnly(t, name)
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" not found (apt-get install "+pkg+")")
	}
	return p
}

// Python is Debian's Python: the python3 first on PATH may be another
// interpreter, without Debian's modules.
const Python = "/usr/bin/python3"

// Aiosmtpd returns Debian's Python with the aiosmtpd module.
func Aiosmtpd(t testing.TB) string {
	t.Helper()
	linuxOnly(t, "aiosmtpd")
	if _, err := os.Stat(Python); err != nil || exec.Command(Python, "-c", "import aiosmtpd").Run() != nil {
		Missing(t, "python3-aiosmtpd ("+Python+" with the aiosmtpd module; apt-get install python3-aiosmtpd)")
	}
	return Python
}

func linuxOnly(t testing.TB, name string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skipf("%s is a Linux program: the Linux suite runs this test", name)
	}
}

// Tmpfs mounts a tmpfs of size ("4m") on a new temporary folder for the
// test, and unmounts it when the test ends. Mounting needs root: without
// it the test is skipped (or fails under CI=true).
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	linuxOnly(t, "mount")
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		Missing(t, "cannot mount a "+size+" tmpfs (needs root): "+err.Error()+" "+strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

// BindMount mounts the folder src on dst (mount --bind) until Unmount or
// the end of the test. Mounting needs root: without it the test is
// skipped (or fails under CI=true).
func BindMount(t testing.TB, src, dst string) {
	t.Helper()
	linuxOnly(t, "mount")
	if out, err := exec.Command("mount", "--bind", src, dst).CombinedOutput(); err != nil {
		Missing(t, "cannot bind-mount a folder (needs root): "+err.Error()+" "+strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dst).Run() })
}

// Unmount detaches the mount on dir at once, as a volume taken away under
// the program (umount -l: open files keep the volume alive meanwhile).
func Unmount(t testing.TB, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount %s: %v %s", dir, err, out)
	}
}

// OtherGroup returns a group that this account may give its files and is
// not its own (effective) one: any for root (nogroup, 65534), else one
// of its supplementary groups; false when it has none.
func OtherGroup() (int, bool) {
	egid := os.Getegid()
	if os.Geteuid() == 0 {
		return 65534, egid != 65534
	}
	groups, _ := os.Getgroups()
	for _, g := range groups {
		if g != egid {
			return g, true
		}
	}
	return 0, false
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreePorts returns n different TCP ports on 127.0.0.1 that were free a
// moment ago: held together while chosen, so that none is given twice
// (found by CI: two FreePort calls in a row can return the same port).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// StartReady starts the outside program name with args, its standard error
// the test's, and waits until it prints the line "ready" on its standard
// output (the test servers in testdata do once they listen). The program
// gets SIGTERM when the test ends.
func StartReady(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("%s %s did not start: %q %v", name, strings.Join(args, " "), line, err)
	}
}

// LoopFS makes a new 32 MB file system with mkfs (from Debian's package
// pkg) and its args, the image's path last, mounts it on a loop device
// until the test ends, and returns its mount point and the device's
// "major,minor". It needs root (without it the test is skipped, or fails
// under CI=true) and loop devices (a kernel without them skips it).
func LoopFS(t testing.TB, mkfs, pkg string, args ...string) (mnt, dev string) {
	t.Helper()
	linuxOnly(t, "mount")
	if os.Geteuid() != 0 {
		Missing(t, "mounting a test file system needs root")
	}
	mk := Path(t, mkfs, pkg)
	losetup := Path(t, "losetup", "mount")
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("this kernel has no loop devices; skipping")
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mk, append(args, img)...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", mkfs, err, out)
	}
	out, err := exec.Command(losetup, "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device to attach (%v %s); skipping", err, out)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command(losetup, "-d", loop).Run() })
	mnt = t.TempDir()
	if out, err := exec.Command("mount", loop, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v %s", loop, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	b, err := os.ReadFile(filepath.Join("/sys/class/block", filepath.Base(loop), "dev"))
	if err != nil {
		t.Fatal(err)
	}
	return mnt, strings.Replace(strings.TrimSpace(string(b)), ":", ",", 1)
}
