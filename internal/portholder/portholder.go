// Package portholder gives tests another process that holds a TCP port on
// 127.0.0.1, as an administrator meets one: the test binary itself, run
// again in holder mode, or any program that prints the port it listens on
// and keeps it until its standard input closes.
package portholder

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

const env = "MAILBRIDGE_TEST_HOLD_PORT"

// Main turns the test binary into a holder when Self started it: call it
// first in TestMain. In the holder it listens, prints the port, waits for
// its standard input to close and exits; otherwise it returns at once.
func Main() {
	if os.Getenv(env) != "1" {
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// Self starts this test binary as a holder (its TestMain calls Main) and
// returns its PID and port; the holder ends with the test.
func Self(t testing.TB) (pid, port int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self := func() *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), env+"=1")
		return cmd
	}
	pid, port, err = start(t, self())
	if err != nil && testtool.UnderWine() {
		// Wine's CreateProcess failed once in some twenty runs of
		// cmd/mailbridge's tests ("fork/exec ...: Internal error."),
		// before any of our code ran in the child: once more.
		t.Logf("starting the port holder: %v (a Wine fault): once more", err)
		pid, port, err = start(t, self())
	}
	if err != nil {
		t.Fatal(err)
	}
	return pid, port
}

// Start starts cmd, which must print the port it listens on and hold it
// until its standard input closes, and stops it when the test ends.
func Start(t testing.TB, cmd *exec.Cmd) (pid, port int) {
	t.Helper()
	pid, port, err := start(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return pid, port
}

// start is Start with cmd.Start's error returned, not fatal.
func start(t testing.TB, cmd *exec.Cmd) (pid, port int, err error) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the port holder did not report its port: %v", err)
	}
	port, err = strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("the port holder printed %q", line)
	}
	return cmd.Process.Pid, port, nil
}
