package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// machineNameEnv starts TestBuiltInDefaultsChecked's child: the test binary
// run again in a UTS namespace of its own, where it renames the machine and
// runs the mailbridge command machineCmdEnv names, without --config.
const (
	machineNameEnv = "MAILBRIDGE_TEST_MACHINE_NAME"
	machineCmdEnv  = "MAILBRIDGE_TEST_MACHINE_CMD"
)

// Without --config the built-in defaults are checked as a file is: on a
// machine whose name is no host name (the default hostname), check lists
// the problem as "built-in default", with no file or line, and exits 1;
// run refuses to start with 2, before it opens a port. A good name is
// shown by check as the hostname, with no configuration problem.
func TestBuiltInDefaultsChecked(t *testing.T) {
	if name := os.Getenv(machineNameEnv); name != "" {
		if err := syscall.Sethostname([]byte(name)); err != nil {
			fmt.Fprintln(os.Stderr, "sethostname:", err)
			os.Exit(3)
		}
		os.Exit(realMain([]string{os.Getenv(machineCmdEnv)}, os.Stdout, os.Stderr))
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const problem = `  built-in default: hostname = "my box": must be a host name such as mail.example.com (' ' is not allowed); this machine's name is used when no configuration file sets hostname: write hostname = "...", the name clients know this server by, in a configuration file, given with --config FILE` + "\n"
	// A machine name without a dot is the default all the same, as IIS
	// took it: check notes it, and warns of nothing about it.
	const note = "\nnote: hostname is not set, and this machine's name \"box\" is not a fully qualified domain name (it has no dot): it names this server in the greeting, in EHLO to the smart host, in Received headers and in the Message-IDs added to messages, and as [pickup] default_domain it completes addresses written without a domain (in Pickup files, and in MAIL FROM and RCPT TO received over SMTP); set hostname to this server's full name (mail.example.com) where receivers should see one\n"
	for _, tt := range []struct {
		machine, cmd string
		code         int // -1: any (check also tries port 25, which may be taken)
		stdout       string
		stderr       string
		note         string // in stdout; "" for no note and no warning about the hostname
	}{
		{"my box", "check", 1, "", "mailbridge: the configuration has 1 problem(s):\n" + problem, ""},
		{"my box", "run", 2, "", "mailbridge: the configuration has 1 problem(s):\n" + problem, ""},
		{"mail.example.test", "check", -1, "configuration: built-in defaults\nhostname: mail.example.test\n", "", ""},
		{"box", "check", -1, "configuration: built-in defaults\nhostname: box\n", "", note},
	} {
		t.Run(tt.machine+" "+tt.cmd, func(t *testing.T) {
			// Should run start after all (the defaults unchecked), it
			// is stopped rather than left to serve until the test's
			// own timeout.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, exe, "-test.run=^TestBuiltInDefaultsChecked$")
			cmd.Dir = testDir(t) // ./mailroot, the default, is made there
			cmd.Env = append(os.Environ(), machineNameEnv+"="+tt.machine, machineCmdEnv+"="+tt.cmd)
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
			if os.Getuid() != 0 {
				cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
				cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
				cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			switch {
			case errors.As(err, &exit):
				code = exit.ExitCode()
			case err != nil:
				t.Skipf("no UTS namespace to rename the machine in: %v", err)
			}
			if code == 3 && strings.HasPrefix(stderr.String(), "sethostname:") {
				t.Skipf("the machine cannot be renamed: %s", stderr.String())
			}
			if tt.code >= 0 && code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			// check goes on with the machine after the problem.
			if tt.stderr != "" && (stderr.String() != tt.stderr && tt.cmd == "run" || !strings.HasPrefix(stderr.String(), tt.stderr)) {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), tt.stderr)
			}
			if !strings.HasPrefix(stdout.String(), tt.stdout) || tt.stderr == "" && strings.Contains(stderr.String(), "configuration has") {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant stdout starting %q and no configuration problem", stdout.String(), stderr.String(), tt.stdout)
			}
			if tt.note != "" && !strings.Contains(stdout.String(), tt.note) || tt.note == "" && strings.Contains(stdout.String(), "fully qualified") || strings.Contains(stdout.String(), "warning: hostname") {
				t.Errorf("stdout:\n%s\nwant the note %q", stdout.String(), tt.note)
			}
		})
	}
}
