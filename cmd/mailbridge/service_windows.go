//go:build windows

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/logtee"
	"github.com/mailbridge/mailbridge/mailroot"
)

const (
	defaultServiceName = "mailbridge"
	serviceDisplayName = "mailbridge SMTP"
	serviceDescription = "Receives mail into the Drop folder and relays mail from the Pickup folder " +
		"(replaces the IIS SMTP Service). Configuration: mailbridge.toml; see `mailbridge help`."
	// iisSMTP is the IIS SMTP Service, which holds port 25 when it runs.
	iisSMTP = "SMTPSVC"
)

const serviceUsage = `usage: mailbridge service <command> [--name NAME]

commands:
  install [--config FILE]   register the service (Automatic, Delayed Start,
                            restart on failure) and its Event Log source
  uninstall                 stop and remove the service and its Event Log source
  start                     start the service and wait until it runs
  stop                      stop the service and wait until it has stopped
  status                    print the service's state, command line, configuration
                            file and port, and what would stop its next start

--name defaults to mailbridge. All but status need an elevated prompt.
`

// errNotAdmin is what the service manager's "access denied" means here.
var errNotAdmin = errors.New("access denied: managing services needs Administrator rights; run this command from an elevated prompt (Run as administrator)")

// serviceCmd manages the Windows service.
func serviceCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, serviceUsage)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, serviceUsage) // asked for: not an error
		return 0
	}
	sub := args[0]
	what, known := map[string]string{
		"install":   "register the service (Automatic, Delayed Start, restart on failure) and its Event Log source",
		"uninstall": "stop and remove the service and its Event Log source",
		"start":     "start the service and wait until it runs",
		"stop":      "stop the service and wait until it has stopped",
		"status":    "print the service's state, its command line, configuration file and port, and the problems that would stop its next start",
	}[sub]
	if !known {
		fmt.Fprintf(stderr, "mailbridge service: unknown command %q\n\n%s", sub, serviceUsage)
		return 2
	}
	fs := flag.NewFlagSet("service "+sub, flag.ContinueOnError)
	name := fs.String("name", defaultServiceName, "service name")
	cfgPath := new(string)
	if sub == "install" {
		cfgPath = configFlag(fs, "configuration file (default "+config.DefaultFile()+" if it exists)")
	}
	fs.Usage = func() {
		// As the other commands' help, not the flag package's.
		opts, cfgLine := "[--name NAME]", ""
		if sub == "install" {
			opts += " [--config FILE]"
			cfgLine = "  --config FILE   configuration file; without it " + config.DefaultFile() + "\n"
		}
		fmt.Fprintf(fs.Output(), "usage: mailbridge service %s %s\n\n%s.\n\n  --name NAME     the service's name (default %s; another for a second instance)\n%s", sub, opts, what, defaultServiceName, cfgLine)
	}
	if status, done := parseFlags(fs, args[1:], stdout, stderr); done {
		return status
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mailbridge service %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	var err error
	switch sub {
	case "install":
		err = installService(*name, *cfgPath, stdout)
	case "uninstall":
		err = uninstallService(*name, stdout)
	case "start":
		err = startService(*name, stdout)
	case "stop":
		err = stopService(*name, stdout)
	case "status":
		err = serviceStatus(*name, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mailbridge service %s: %v\n", sub, err)
		return 1
	}
	return 0
}

// connect opens the service manager with the given rights.
func connect(access uint32) (*mgr.Mgr, error) {
	h, err := windows.OpenSCManager(nil, nil, access)
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return nil, errNotAdmin
		}
		return nil, fmt.Errorf("connecting to the service manager: %w", err)
	}
	return &mgr.Mgr{Handle: h}, nil
}

// openService opens name with the given rights, saying clearly when it is
// not installed.
func openService(m *mgr.Mgr, name string, access uint32) (*mgr.Service, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	h, err := windows.OpenService(m.Handle, p, access)
	switch {
	case errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST):
		// With the name given, found from outside: the hint without
		// --name installed the default service, not the one asked for.
		how := "mailbridge service install"
		if name != defaultServiceName {
			how += " --name " + syscall.EscapeArg(name)
		}
		return nil, fmt.Errorf("no service named %q is installed; install it with `%s`", name, how)
	case errors.Is(err, windows.ERROR_ACCESS_DENIED):
		return nil, errNotAdmin
	case err != nil:
		return nil, fmt.Errorf("opening service %q: %w", name, err)
	}
	return &mgr.Service{Name: name, Handle: h}, nil
}

// smtpsvcConflict returns an error when the IIS SMTP Service is installed
// and not disabled: it would hold the port (IIS SMTP listens on 25 by
// default) or take it back at the next boot.
func smtpsvcConflict(m *mgr.Mgr, port int) error {
	s, err := openService(m, iisSMTP, windows.SERVICE_QUERY_CONFIG|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return nil // not installed (or not visible): nothing competes
	}
	defer s.Close()
	c, err := queryConfig(s)
	if err != nil || c.StartType == mgr.StartDisabled {
		return nil
	}
	state := "set to start " + startTypeName(c)
	if st, err := s.Query(); err == nil && st.State == svc.Running {
		state = "running"
	}
	return fmt.Errorf("the IIS SMTP Service (SMTPSVC) is installed and %s: it would compete for port %d. "+
		"Stop and disable it first, from an elevated prompt: sc.exe stop smtpsvc, then sc.exe config smtpsvc start= disabled (in PowerShell too, where sc alone is Set-Content)", state, port)
}

func installService(name, cfgPath string, stdout io.Writer) error {
	if cfgPath == "" {
		if p := config.DefaultFile(); fileExists(p) {
			cfgPath = p
		}
	}
	if cfgPath != "" {
		abs, err := filepath.Abs(cfgPath)
		if err != nil {
			return err
		}
		cfgPath = abs
	}
	// The service would fail at every start with a bad configuration:
	// refuse it now, while someone is watching.
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return fmt.Errorf("%s: fix the configuration first:\n%v", configSource(cfgPath), err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program's path: %w", err)
	}
	m, err := connect(windows.SC_MANAGER_ALL_ACCESS)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	if s, err := openService(m, name, windows.SERVICE_QUERY_CONFIG); err == nil {
		cmd := ""
		if c, err := queryConfig(s); err == nil {
			cmd = " (" + c.BinaryPathName + ")"
		}
		s.Close()
		return fmt.Errorf("a service named %q exists already%s; remove it with `mailbridge service uninstall --name %s` or choose another --name", name, cmd, name)
	}
	if cfg.Inbound.Port == 25 {
		if err := smtpsvcConflict(m, cfg.Inbound.Port); err != nil {
			return err
		}
	}
	// An explicit argument tells run that the service manager started it;
	// svc.IsWindowsService cannot tell under Wine.
	args := []string{"run", "--service", name}
	if cfgPath != "" {
		args = append(args, "--config", cfgPath)
	}
	// Display names must be unique too.
	display := serviceDisplayName
	if name != defaultServiceName {
		display += " (" + name + ")"
	}
	s, err := m.CreateService(name, exe, mgr.Config{
		DisplayName:  display,
		Description:  serviceDescription,
		StartType:    mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal,
	}, args...)
	if err != nil {
		return fmt.Errorf("creating service %q: %w", name, err)
	}
	defer s.Close()
	undo := func(err error) error {
		s.Delete()
		return err
	}
	// A setting the service manager does not know (Wine's lacks delayed
	// start and recovery actions) is a warning; any other failure undoes
	// the installation.
	var unsupported []string
	optional := func(what string, err error) error {
		if errors.Is(err, windows.ERROR_INVALID_LEVEL) || errors.Is(err, windows.ERROR_CALL_NOT_IMPLEMENTED) {
			unsupported = append(unsupported, what)
			return nil
		}
		if err != nil {
			return undo(fmt.Errorf("setting %s: %w", what, err))
		}
		return nil
	}
	// Delayed start: IIS SMTP on Server 2019 lost mail when it started
	// before the network and disks were ready.
	delayed := windows.SERVICE_DELAYED_AUTO_START_INFO{IsDelayedAutoStartUp: 1}
	err = windows.ChangeServiceConfig2(s.Handle, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, (*byte)(unsafe.Pointer(&delayed)))
	if err := optional("delayed start", err); err != nil {
		return err
	}
	// Restart after 10 s, 1 min, then 5 min; forget failures after a day.
	err = s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
		{Type: mgr.ServiceRestart, Delay: time.Minute},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Minute},
	}, uint32((24 * time.Hour).Seconds()))
	if err := optional("restart on failure", err); err != nil {
		return err
	}
	// run exits with an error status (not a crash) when it fails: restart
	// then too.
	if err := optional("restart on failure after an error exit", s.SetRecoveryActionsOnNonCrashFailures(true)); err != nil {
		return err
	}
	if err := installEventSource(name); err != nil {
		return undo(err)
	}
	// What was registered, as the service manager holds it: the command
	// line quoted as it runs (a path with a space pasted unquoted runs
	// C:\Program), the start type it reports.
	command := registeredCommand(exe, args)
	start := "Automatic"
	if c, err := queryConfig(s); err == nil {
		command = c.BinaryPathName
		start = startTypeName(c)
	}
	switch {
	case slices.Contains(unsupported, "restart on failure"):
	case slices.Contains(unsupported, "restart on failure after an error exit"):
		start += "; restarts after a crash, not after an error exit (after 10 s, 1 min, then every 5 min)"
	default:
		start += "; restarts on failure (after 10 s, 1 min, then every 5 min)"
	}
	fmt.Fprintf(stdout, "installed service %q (%s)\n  command:       %s\n  configuration: %s\n  start:         %s\n  log file:      %s\n  Event Log:     Application, source %s\n",
		name, display, command, configSource(cfgPath), start, serviceLogFile(cfg, name), name)
	for _, u := range unsupported {
		fmt.Fprintf(stdout, "warning: this service manager does not support %s; the service was installed without it\n", u)
	}
	// Drive letters mapped to shares belong to the logon session that
	// mapped them; the service runs as LocalSystem and does not see them.
	for _, f := range layout(cfg).Folders() {
		if v := filepath.VolumeName(f.Path); len(v) == 2 && mailroot.IsNetworkPath(f.Path) {
			fmt.Fprintf(stdout, "warning: the %s folder %s is on the mapped network drive %s, which the service (running as LocalSystem) does not see; use its UNC path (\\\\server\\share\\...) and give the computer account access to the share\n", f.Name, f.Path, v)
		}
	}
	fmt.Fprint(stdout, "start it with: mailbridge service start")
	if name != defaultServiceName {
		fmt.Fprintf(stdout, " --name %s", name)
	}
	fmt.Fprintln(stdout)
	return nil
}

// registeredCommand is the command line CreateService registers for exe
// and args: each quoted as the C runtime reads it (syscall.EscapeArg, as
// mgr.CreateService does).
func registeredCommand(exe string, args []string) string {
	q := []string{syscall.EscapeArg(exe)}
	for _, a := range args {
		q = append(q, syscall.EscapeArg(a))
	}
	return strings.Join(q, " ")
}

// installEventSource registers name as an Event Log source using
// EventCreate.exe's messages, replacing a leftover registration.
func installEventSource(name string) error {
	const events = eventlog.Error | eventlog.Warning | eventlog.Info
	err := eventlog.InstallAsEventCreate(name, events)
	if err != nil && strings.Contains(err.Error(), "exists") {
		eventlog.Remove(name)
		err = eventlog.InstallAsEventCreate(name, events)
	}
	if err != nil {
		return fmt.Errorf("registering the Event Log source %q: %w", name, err)
	}
	return nil
}

func uninstallService(name string, stdout io.Writer) error {
	m, err := connect(windows.SC_MANAGER_ALL_ACCESS)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := openService(m, name, windows.SERVICE_ALL_ACCESS)
	if err != nil {
		return err
	}
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		fmt.Fprintf(stdout, "stopping service %q\n", name)
		if err := stop(s); err != nil {
			return err
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("removing service %q: %w", name, err)
	}
	if err := eventlog.Remove(name); err != nil {
		fmt.Fprintf(stdout, "note: the Event Log source %q was not registered: %v\n", name, err)
	}
	fmt.Fprintf(stdout, "removed service %q\n", name)
	return nil
}

func startService(name string, stdout io.Writer) error {
	m, err := connect(windows.SC_MANAGER_CONNECT)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := openService(m, name, windows.SERVICE_START|windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG)
	if err != nil {
		return err
	}
	defer s.Close()
	if iis, err := openService(m, iisSMTP, windows.SERVICE_QUERY_STATUS); err == nil {
		st, err := iis.Query()
		iis.Close()
		if err == nil && st.State == svc.Running {
			return errors.New("the IIS SMTP Service (SMTPSVC) is running and holds the SMTP port; stop and disable it first, from an elevated prompt: sc.exe stop smtpsvc, then sc.exe config smtpsvc start= disabled")
		}
	}
	if st, err := s.Query(); err == nil && st.State == svc.Running {
		fmt.Fprintf(stdout, "service %q is already running\n", name)
		return nil
	}
	// Where the service's log ends now: a failure to start is logged
	// after it, with the reason.
	cfgPath := serviceConfigFile(s)
	var logEnd int64
	if cfg, err := loadConfig(cfgPath); err == nil {
		if fi, err := os.Stat(serviceLogFile(cfg, name)); err == nil {
			logEnd = fi.Size()
		}
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("starting service %q: %w", name, err)
	}
	// The service reports Running only once it has opened the mail root
	// and its ports, and stops when it cannot.
	const startWait = 60 * time.Second
	st, err := waitState(s, svc.Running, startWait)
	if err != nil {
		return err
	}
	switch st.State {
	case svc.Running:
	case svc.Stopped:
		msg := fmt.Sprintf("service %q could not start (exit code %d/%d)", name, st.Win32ExitCode, st.ServiceSpecificExitCode)
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return fmt.Errorf("%s: its configuration, %s, has problems:\n%v", msg, configSource(cfgPath), err)
		}
		if why := startFailure(serviceLogFile(cfg, name), logEnd); why != "" {
			return fmt.Errorf("%s: %s\n(also in %s and the Event Log, Application, source %s)", msg, why, serviceLogFile(cfg, name), name)
		}
		return fmt.Errorf("%s; see the Event Log (Application, source %s) and %s", msg, name, serviceLogFile(cfg, name))
	default:
		return fmt.Errorf("service %q is still %s after %s; see `mailbridge service status`, the Event Log (Application, source %s) and the log file", name, stateName(st.State), startWait, name)
	}
	fmt.Fprintf(stdout, "service %q is running (pid %d)\n", name, st.ProcessId)
	return nil
}

func stopService(name string, stdout io.Writer) error {
	m, err := connect(windows.SC_MANAGER_CONNECT)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := openService(m, name, windows.SERVICE_STOP|windows.SERVICE_QUERY_STATUS)
	if err != nil {
		return err
	}
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State == svc.Stopped {
		fmt.Fprintf(stdout, "service %q is not running\n", name)
		return nil
	}
	if err := stop(s); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "service %q has stopped\n", name)
	return nil
}

// stop asks s to stop and waits until it has. The service drains its SMTP
// sessions for up to [inbound] shutdown_timeout, reporting progress.
func stop(s *mgr.Service) error {
	if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return errNotAdmin
		}
		return fmt.Errorf("stopping service %q: %w", s.Name, err)
	}
	st, err := waitState(s, svc.Stopped, 2*time.Minute)
	if err != nil {
		return err
	}
	if st.State != svc.Stopped {
		return fmt.Errorf("service %q did not stop within 2 minutes (state %s)", s.Name, stateName(st.State))
	}
	return nil
}

// waitState polls s until it reaches want, stops, or timeout passes.
func waitState(s *mgr.Service, want svc.State, timeout time.Duration) (svc.Status, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := s.Query()
		if err != nil {
			return st, fmt.Errorf("querying service %q: %w", s.Name, err)
		}
		if st.State == want || st.State == svc.Stopped || time.Now().After(deadline) {
			return st, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func serviceStatus(name string, stdout io.Writer) error {
	m, err := connect(windows.SC_MANAGER_CONNECT)
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := openService(m, name, windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG)
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("querying service %q: %w", name, err)
	}
	state := stateName(st.State)
	if st.State != svc.Stopped && st.ProcessId != 0 {
		state += fmt.Sprintf(" (pid %d)", st.ProcessId)
	} else if st.State == svc.Stopped && (st.Win32ExitCode != 0 && st.Win32ExitCode != uint32(windows.ERROR_SERVICE_NEVER_STARTED)) {
		state += fmt.Sprintf(" (last exit code %d/%d: see the Event Log)", st.Win32ExitCode, st.ServiceSpecificExitCode)
	}
	fmt.Fprintf(stdout, "service:  %s\nstate:    %s\n", name, state)
	if c, err := queryConfig(s); err == nil {
		fmt.Fprintf(stdout, "start:    %s\ncommand:  %s\n", startTypeName(c), c.BinaryPathName)
	}
	// The service's own configuration, as its command line names it:
	// which port it listens on, and whether its next start would fail.
	cfgPath := serviceConfigFile(s)
	fmt.Fprintf(stdout, "config:   %s\n", configSource(cfgPath))
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		fmt.Fprintf(stdout, "warning:  the configuration has problems; the service cannot start with it until they are fixed (mailbridge check%s lists them):\n", checkArgs(cfgPath))
		for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
			fmt.Fprintf(stdout, "          %s\n", line)
		}
		return nil
	}
	fmt.Fprintf(stdout, "port:     %d\n", cfg.Inbound.Port)
	if cfg.Inbound.Port == 25 {
		if err := smtpsvcConflict(m, 25); err != nil {
			fmt.Fprintf(stdout, "warning:  %v\n", err)
		}
	}
	if st.State == svc.Stopped {
		// A port another program holds stops the next start as surely
		// as a bad key (found from outside: status said nothing, and
		// start failed).
		for _, p := range takenPorts(cfg) {
			fmt.Fprintf(stdout, "warning:  the service cannot start while %s %s is taken: %v\n", p.key, p.addr, p.err)
		}
		// And so does a mail root that another running mailbridge holds,
		// or a folder on a drive this machine lacks (found from
		// outside: start failed, and status said only "see the Event
		// Log"). Nothing is created here (no folder, no lock file): run
		// creates what is missing.
		if err := mailroot.HeldByOther(layout(cfg)); errors.Is(err, mailroot.ErrInUse) {
			fmt.Fprintf(stdout, "warning:  the service cannot start while another mailbridge runs with its mail root: %v\n", err)
		}
		said := map[string]bool{}
		places := layout(cfg).Folders()
		for _, lg := range []struct{ key, path string }{{"[log] file", cfg.Log.File}, {"[log] w3c_dir", cfg.Log.W3CDir}} {
			if lg.path != "" {
				places = append(places, mailroot.Folder{Name: lg.key, Path: lg.path})
			}
		}
		for _, f := range places {
			if drive, err := mailroot.MissingDrive(f.Path); err != nil && !said[strings.ToUpper(drive)] {
				said[strings.ToUpper(drive)] = true
				what := "the " + f.Name + " folder"
				if strings.HasPrefix(f.Name, "[log]") {
					what = f.Name // its own words: a file, or a folder
				}
				fmt.Fprintf(stdout, "warning:  the service cannot start: %s %s is on drive %s, which this machine does not have, or cannot use (%v)\n", what, f.Path, drive, err)
			}
		}
	}
	return nil
}

// checkArgs is the --config argument that `mailbridge check` needs to
// check cfgPath ("" for the default file).
func checkArgs(cfgPath string) string {
	if cfgPath == "" {
		return ""
	}
	return ` --config "` + cfgPath + `"` // as typed: %q would double each backslash
}

// queryConfig is s.Config, or the basic configuration where the service
// manager lacks the details Config also asks for (Wine's does).
func queryConfig(s *mgr.Service) (mgr.Config, error) {
	c, err := s.Config()
	if err == nil {
		return c, nil
	}
	var need uint32
	err = windows.QueryServiceConfig(s.Handle, nil, 0, &need)
	if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) {
		return c, err
	}
	buf := make([]byte, need)
	p := (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&buf[0]))
	if err := windows.QueryServiceConfig(s.Handle, p, need, &need); err != nil {
		return c, err
	}
	return mgr.Config{
		ServiceType:    p.ServiceType,
		StartType:      p.StartType,
		ErrorControl:   p.ErrorControl,
		BinaryPathName: windows.UTF16PtrToString(p.BinaryPathName),
		DisplayName:    windows.UTF16PtrToString(p.DisplayName),
	}, nil
}

func startTypeName(c mgr.Config) string {
	switch c.StartType {
	case mgr.StartAutomatic:
		if c.DelayedAutoStart {
			return "Automatic (Delayed Start)"
		}
		return "Automatic"
	case mgr.StartManual:
		return "Manual"
	case mgr.StartDisabled:
		return "Disabled"
	}
	return fmt.Sprintf("start type %d", c.StartType)
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "starting"
	case svc.StopPending:
		return "stopping"
	case svc.Running:
		return "running"
	case svc.ContinuePending:
		return "continuing"
	case svc.PausePending:
		return "pausing"
	case svc.Paused:
		return "paused"
	}
	return fmt.Sprintf("state %d", s)
}

// serviceConfigFile returns the --config of an installed service's command
// line ("" for none: the default file or the defaults).
func serviceConfigFile(s *mgr.Service) string {
	c, err := queryConfig(s)
	if err != nil {
		return ""
	}
	_, after, _ := strings.Cut(c.BinaryPathName, " --config ")
	return strings.Trim(after, `"`)
}

// configSource names where the service's configuration comes from: its
// file, or the built-in defaults, which are checked too and may have
// problems (the machine's name) that a message must place.
func configSource(cfgPath string) string {
	if cfgPath == "" {
		return "built-in defaults (no " + config.DefaultFile() + ")"
	}
	return cfgPath
}

// serviceLogFile is where the service logs: [log] file, or the default.
func serviceLogFile(cfg *config.Config, service string) string {
	if cfg.Log.File != "" {
		return cfg.Log.File
	}
	return config.DefaultServiceLogFile(service)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return p != "" && err == nil
}

// Exit codes the service reports to the service manager (service-specific).
const (
	exitFailed = 1 // run failed (port taken, mail root unusable ...)
	exitConfig = 2 // the configuration or the log file is unusable
)

// runService runs mailbridge under the service manager: `run --service NAME`,
// the command line `service install` registers.
func runService(name, cfgPath string, stderr io.Writer) int {
	elog, err := eventlog.Open(name)
	if err != nil {
		fmt.Fprintf(stderr, "mailbridge: opening the Event Log: %v\n", err)
		return exitFailed
	}
	defer elog.Close()
	s := &winService{name: name, cfgPath: cfgPath, elog: elog}
	if err := svc.Run(name, s); err != nil {
		fmt.Fprintf(stderr, "mailbridge run --service: %s: this command line is for the service manager; use `mailbridge service start`, or `mailbridge run` in a console\n",
			strings.TrimSuffix(err.Error(), "."))
		return exitFailed
	}
	return int(s.exitCode)
}

// winService turns the service manager's requests into run's context.
type winService struct {
	name     string
	cfgPath  string
	elog     *eventlog.Log
	exitCode uint32
}

// Execute implements svc.Handler: start run, report Running, and on Stop or
// Shutdown cancel run's context and report StopPending with advancing
// checkpoints until run has drained its SMTP sessions.
func (s *winService) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending, WaitHint: 30_000}
	fail := func(code uint32, msg string) (bool, uint32) {
		s.elog.Error(logtee.EventError, msg)
		s.exitCode = code
		return true, code
	}
	cfg, err := loadConfig(s.cfgPath)
	if err != nil {
		// Problems name the file and line; other errors (unreadable file) say
		// what failed.
		return fail(exitConfig, fmt.Sprintf("mailbridge cannot start: configuration: %v", err))
	}
	if cfg.Log.File == "" {
		cfg.Log.File = config.DefaultServiceLogFile(s.name)
	}
	fileLog, closeLog, err := newLogger(cfg, io.Discard)
	if err != nil {
		return fail(exitConfig, fmt.Sprintf("mailbridge cannot start: %v", err))
	}
	defer closeLog()
	// Errors only: go-smtp reports every broken client connection as a
	// warning, which would flood the Event Log. Storage failures, a
	// failed start and renames given up are errors.
	log := slog.New(logtee.New(fileLog.Handler(), s.elog, slog.LevelError))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() { done <- run(ctx, cfg, log, func() { close(ready) }) }()
	// Running only once run has opened the mail root and the ports: a
	// service that reported Running and then died (port taken, mail root
	// on a missing drive or locked by another instance) looked started to
	// `service start` and to the services console. A failure before is
	// the service's exit: StartPending, then Stopped with exitFailed,
	// which `service start` reports with the reason from the log.
	var checkpoint uint32
	startTick := time.NewTicker(2 * time.Second)
starting:
	for {
		select {
		case <-ready:
			break starting
		case err := <-done:
			startTick.Stop()
			if err == nil {
				err = errors.New("run returned before it was ready")
			}
			log.Error(startFailedMsg, "error", err)
			s.exitCode = exitFailed
			return true, exitFailed
		case <-startTick.C:
			// Opening a mail root on a slow share may outlast the wait
			// hint: show progress.
			checkpoint++
			status <- svc.Status{State: svc.StartPending, CheckPoint: checkpoint, WaitHint: 30_000}
		case c := <-req:
			if c.Cmd == svc.Interrogate {
				status <- c.CurrentStatus
			}
		}
	}
	startTick.Stop()
	// Preshutdown: at a system shutdown the service manager asks services
	// that accept it first, and waits for them (up to its preshutdown
	// timeout) before the ordinary shutdown, which gives every service a
	// few seconds only: deliveries and messages in flight can finish.
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown | svc.AcceptPreShutdown}
	s.elog.Info(logtee.EventInfo, fmt.Sprintf("mailbridge %s started: listening on %s, Drop %s, Pickup %s; configuration %s; log %s",
		version, cfg.Addr(), cfg.Mailroot.Drop, cfg.Mailroot.Pickup, orDefaults(cfg.File), cfg.Log.File))

	var progress <-chan time.Time
	for {
		select {
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown, svc.PreShutdown:
				if progress != nil {
					continue
				}
				log.Info("stop requested by the service manager", "request", map[svc.Cmd]string{svc.Stop: "stop", svc.Shutdown: "shutdown", svc.PreShutdown: "preshutdown"}[c.Cmd])
				checkpoint++
				status <- svc.Status{State: svc.StopPending, CheckPoint: checkpoint, WaitHint: 5_000}
				cancel()
				t := time.NewTicker(2 * time.Second)
				defer t.Stop()
				progress = t.C
			}
		case <-progress:
			// The SCM gives up on a stop that shows no progress within its
			// wait hint; draining sessions may take shutdown_timeout.
			checkpoint++
			status <- svc.Status{State: svc.StopPending, CheckPoint: checkpoint, WaitHint: 5_000}
		case err := <-done:
			if err != nil {
				log.Error("mailbridge stopped", "error", err)
				s.exitCode = exitFailed
				return true, exitFailed
			}
			s.elog.Info(logtee.EventInfo, "mailbridge stopped")
			return false, 0
		}
	}
}

func orDefaults(file string) string {
	if file == "" {
		return "built-in defaults"
	}
	return file
}
