// Command mailbridge replaces the IIS SMTP Service: it receives mail into
// the Drop folder and relays what applications put in Pickup.
//
//	mailbridge run [--config FILE]     run in the foreground until SIGINT/SIGTERM/SIGHUP
//	mailbridge check [--config FILE]   validate the configuration and the machine
//	mailbridge import-iis [METABASE.xml] [--site N]
//	                                   print a configuration made from IIS's MetaBase.xml
//	mailbridge service install|uninstall|start|stop|status [--name NAME] [--config FILE]
//	                                   manage the Windows service
//	mailbridge version                 print the version
//
// Exit status: 0 on success; 1 when check finds any problem (configuration
// errors included) or run fails after loading its configuration; 2 when run
// finds a configuration error (or cannot open its log file), and for a
// usage error.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/mailbridge/mailbridge/config"
	"github.com/mailbridge/mailbridge/logfile"
	"github.com/mailbridge/mailbridge/mailroot"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `usage: mailbridge <command> [--config FILE]

commands:
  run       receive into Drop and relay from Pickup until SIGINT/SIGTERM/SIGHUP
  check     validate the configuration, folders and port; print every problem
  import-iis [METABASE.xml] [--site N]
            print a mailbridge configuration made from IIS's MetaBase.xml
  service   install|uninstall|start|stop|status the Windows service
  version   print the version
  help [COMMAND]
            this text, or a command's own (as COMMAND -h)

Without --config: on Windows %ProgramData%\mailbridge\mailbridge.toml if
it exists; otherwise the built-in defaults (mail root ./mailroot, or
C:\inetpub\mailroot on Windows; port 25).
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version", "-v", "help", "--help", "-h":
		isHelp := cmd == "help" || cmd == "--help" || cmd == "-h"
		if isHelp && len(rest) == 1 && slices.Contains([]string{"run", "check", "import-iis", "service"}, rest[0]) {
			// "help run" is "run -h", on standard output as help is (so
			// that "mailbridge help run | less" shows it).
			return realMain([]string{rest[0], "-h"}, stdout, stdout)
		}
		// "help version" and "version -h" too, and "help help", as the
		// usage promises for every command (found from outside).
		switch {
		case isHelp && len(rest) == 1 && rest[0] == "help":
			rest = nil
		case len(rest) == 1 && (isHelp && slices.Contains([]string{"version", "--version", "-v"}, rest[0]) ||
			!isHelp && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help")):
			fmt.Fprint(stdout, "usage: mailbridge version\n\nprint the version of mailbridge.\n")
			return 0
		}
		if isHelp && len(rest) == 1 && !strings.HasPrefix(rest[0], "-") {
			fmt.Fprintf(stderr, "mailbridge %s: unknown command %q\n\n%s", cmd, rest[0], usage)
			return 2
		}
		if len(rest) > 0 {
			// As run and check: a word more is a mistyped command line.
			arg := rest[0]
			if isHelp && len(rest) > 1 && !strings.HasPrefix(arg, "-") {
				arg = rest[1] // "help run x": the command is one
			}
			fmt.Fprintf(stderr, "mailbridge %s: unexpected argument %q\n", cmd, arg)
			return 2
		}
		if isHelp {
			fmt.Fprint(stdout, usage)
		} else {
			fmt.Fprintf(stdout, "mailbridge %s\n", version)
		}
		return 0
	case "import-iis":
		return importIIS(rest, stdout, stderr)
	case "service":
		return serviceCmd(rest, stdout, stderr)
	case "run", "check":
	default:
		if strings.HasPrefix(cmd, "-") {
			// "mailbridge --config F check": the command comes first.
			for _, a := range rest {
				if slices.Contains([]string{"run", "check", "import-iis", "service"}, a) {
					fmt.Fprintf(stderr, "mailbridge: the command comes first: mailbridge %s %s\n", a, strings.Join(slices.DeleteFunc(slices.Clone(args), func(s string) bool { return s == a }), " "))
					return 2
				}
			}
		}
		fmt.Fprintf(stderr, "mailbridge: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	cfgPath := configFlag(fs, "configuration file (TOML)")
	serviceName := new(string)
	if cmd == "run" {
		serviceName = fs.String("service", "", "run under the Windows service manager as service `NAME` (the command line `service install` registers)")
	}
	fs.Usage = func() {
		// --service is for the service manager, not for people: not shown.
		what := map[string]string{"run": "run in the foreground until SIGINT/SIGTERM/SIGHUP", "check": "validate the configuration, the folders and the port; print every problem"}[cmd]
		fmt.Fprintf(fs.Output(), "usage: mailbridge %s [--config FILE]\n\n%s.\n\n  --config FILE   configuration file (TOML); without it, on Windows %%ProgramData%%\\mailbridge\\mailbridge.toml\n                  if it exists, otherwise the built-in defaults\n", cmd, what)
	}
	if status, done := parseFlags(fs, rest, stdout, stderr); done {
		return status
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mailbridge %s: unexpected argument %q", cmd, fs.Arg(0))
		if fi, err := os.Stat(fs.Arg(0)); err == nil && fi.Mode().IsRegular() && fs.NArg() == 1 && *cfgPath == "" {
			// Found from outside: "mailbridge run my.toml".
			fmt.Fprintf(stderr, ": to use it as the configuration, run mailbridge %s --config %s", cmd, fs.Arg(0))
		}
		fmt.Fprintln(stderr)
		return 2
	}
	if *serviceName != "" {
		// Configuration errors must reach the Event Log, and the service
		// manager must hear from us first: runService loads the file.
		return runService(*serviceName, *cfgPath, stderr)
	}
	cfg, err := loadConfig(*cfgPath)
	var cerr config.Errors
	if err != nil {
		if errors.As(err, &cerr) {
			fmt.Fprintf(stderr, "mailbridge: the configuration has %d problem(s):\n", len(cerr))
			for _, p := range cerr {
				fmt.Fprintf(stderr, "  %s\n", p)
			}
		} else {
			fmt.Fprintf(stderr, "mailbridge: %v\n", err)
		}
		if cmd != "check" {
			return 2
		}
		if cfg == nil || cerr == nil {
			return 1
		}
		// check goes on with the sections without problems: every
		// problem at once (found from outside: one bad key hid the
		// folder and port problems until it was fixed).
	}
	switch cmd {
	case "check":
		return check(cfg, stdout, stderr, cerr)
	default:
		if ps := logsInPickup(cfg); len(ps) > 0 {
			// Before the log file is made there.
			fmt.Fprintf(stderr, "mailbridge: the configuration has %d problem(s):\n", len(ps))
			for _, p := range ps {
				fmt.Fprintf(stderr, "  %s\n", p)
			}
			return 2
		}
		log, closeLog, err := newLogger(cfg, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "mailbridge: %v\n", err)
			return 2
		}
		defer closeLog()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// SIGHUP stops gracefully too: its default would end the process
		// at once, dropping messages in flight, when the terminal that
		// started mailbridge closes. (There is nothing to reload: the
		// certificate is reloaded on its own.)
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(sigs)
		ended := make(chan struct{})
		defer close(ended)
		go func() {
			select {
			case sig := <-sigs:
				log.Info("stop requested", "signal", sig.String())
				cancel()
			case <-ctx.Done():
				return
			}
			// Found from outside: a second signal during the drain went
			// without a word, as if it had not arrived. It changes
			// nothing (a message in flight finishes or is refused with
			// 421, never both), and the log says what would.
			for {
				var sig os.Signal
				select {
				case sig = <-sigs:
				case <-ended:
					return
				}
				log.Info("stop already under way: messages in flight are finished or refused (421) within shutdown_timeout; SIGKILL (kill -9) ends mailbridge at once, which loses no message (one not yet acknowledged is sent again by its client) but may send one being relayed twice",
					"signal", sig.String(), "shutdown_timeout", cfg.Inbound.ShutdownTimeout)
			}
		}()
		var started atomic.Bool
		if err := run(ctx, cfg, log, func() { started.Store(true) }); err != nil {
			// A start that failed (the mail root held by a running
			// instance, the port taken) is not a stop: in a log file
			// shared with that instance, "stopped" would say it went down.
			msg := "mailbridge stopped"
			if !started.Load() {
				msg = startFailedMsg
			}
			log.Error(msg, "error", err)
			switch {
			case cfg.Log.File != "":
				// Said where it was started too (the terminal, or the
				// journal of a systemd unit), not in the log file alone.
				fmt.Fprintf(stderr, "%s: %v (log: %s)\n", msg, err, cfg.Log.File)
			case !started.Load():
				// The record above quotes the reason as a log value,
				// its quotes escaped (found from outside: hard to read
				// where it matters most): said plainly too.
				fmt.Fprintf(stderr, "%s: %v\n", msg, err)
			}
			if !started.Load() {
				// run stops at the first problem; found from outside, an
				// administrator fixed and restarted once per problem.
				fmt.Fprintf(stderr, "%s lists every problem at once\n", checkCommand(cfg.File))
			}
			return 1
		}
		return 0
	}
}

// loadConfig loads path, or else config.DefaultFile unless it does not
// exist (on Windows %ProgramData%\mailbridge\mailbridge.toml), or else the
// built-in defaults, which config.Load("") checks as it checks a file: the
// machine's name, the default hostname, may be no host name at all. A
// default file that may exist but cannot be looked at (its folder denies
// the service's account) is an error, not a reason to run on the
// defaults: those would listen on port 25 with C:\inetpub\mailroot, where
// the administrator configured something else.
func loadConfig(path string) (*config.Config, error) {
	return loadConfigOr(path, config.DefaultFile())
}

// loadConfigOr is loadConfig with def for config.DefaultFile ("": none).
func loadConfigOr(path, def string) (*config.Config, error) {
	if path == "" && def != "" {
		if _, err := os.Stat(def); !errors.Is(err, fs.ErrNotExist) {
			path = def
		}
	}
	return config.Load(path)
}

func newLogger(cfg *config.Config, stderr io.Writer) (*slog.Logger, func(), error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		level = slog.LevelInfo
	}
	w, closeFn := stderr, func() {}
	if cfg.Log.File != "" {
		f, err := logfile.Open(cfg.Log.File, cfg.Log.MaxSize, cfg.Log.MaxFiles, stderr)
		if err != nil {
			msg := err.Error()
			if ferr := mailroot.MakeFolder(filepath.Dir(cfg.Log.File)); ferr != nil {
				// In plain words, as check says it (a file in the way).
				msg = "its folder: " + ferr.Error()
			}
			return nil, nil, fmt.Errorf("%s", cfg.KeyProblem("log.file", cfg.Log.File, msg))
		}
		w, closeFn = f, func() { f.Close() }
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), closeFn, nil
}

// configFlag defines --config on fs: a file given twice is an error
// rather than the last one silently (found from outside: "--config a
// --config b" ran with b).
func configFlag(fs *flag.FlagSet, usage string) *string {
	path := new(string)
	fs.Func("config", usage, func(v string) error {
		if *path != "" {
			return fmt.Errorf("given twice (%s, then %s): give one configuration file", *path, v)
		}
		if v == "" {
			return errors.New("needs a file name")
		}
		*path = v
		return nil
	})
	return path
}

// parseFlags parses args with fs. Help asked for (-h, --help) goes to
// stdout with status 0, as `mailbridge help` does, so that
// `mailbridge run -h | less` shows it; a mistake goes to stderr with
// status 2. done reports that the command ends there with status.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (status int, done bool) {
	var out bytes.Buffer
	fs.SetOutput(&out)
	defer fs.SetOutput(stderr)
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, flag.ErrHelp):
		stdout.Write(out.Bytes())
		return 0, true
	default:
		// "flag provided but not defined: -x" said by whom, as every
		// other message of ours, and with the flags written as the help
		// writes them (found from outside: "flag -config" beside
		// "--config", and "parse error" for --site x).
		msg := out.String()
		msg = strings.ReplaceAll(msg, " flag -", " flag --")
		msg = strings.ReplaceAll(msg, "argument: -", "argument: --")
		msg = strings.ReplaceAll(msg, "not defined: -", "not defined: --")
		msg = strings.ReplaceAll(msg, ": parse error", ": not a whole number")
		msg = strings.ReplaceAll(msg, ": value out of range", ": out of range")
		fmt.Fprintf(stderr, "mailbridge %s: %s", fs.Name(), msg)
		return 2, true
	}
}

// checkCommand is the check command for the configuration file (""
// for the defaults), as an administrator would type it.
func checkCommand(file string) string {
	if file == "" {
		return "mailbridge check"
	}
	if strings.ContainsAny(file, " \t'\"") {
		return fmt.Sprintf("mailbridge check --config %q", file)
	}
	return "mailbridge check --config " + file
}
