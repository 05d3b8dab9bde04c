package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mailbridge/mailbridge/compat"
	"github.com/mailbridge/mailbridge/config"
)

// importIIS prints a mailbridge configuration made from an IIS MetaBase.xml:
//
//	mailbridge import-iis [METABASE.xml] [--site N] > mailbridge.toml
//
// Flags may come before or after the file. Exit status 2 for a usage error,
// 1 when the file cannot be read or imported.
func importIIS(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-iis", flag.ContinueOnError)
	site := fs.Int("site", 1, "SMTP virtual server number N (/LM/SmtpSvc/N)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: mailbridge import-iis [METABASE.xml] [--site N] > mailbridge.toml\n\n"+
			"Prints a commented mailbridge configuration made from IIS's MetaBase.xml\n(default: %s).\n\n"+
			"  --site N   SMTP virtual server number N (/LM/SmtpSvc/N); default 1\n", defaultMetabasePathText())
	}
	var files []string
	for {
		if status, done := parseFlags(fs, args, stdout, stderr); done {
			return status
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) > 1 {
		fmt.Fprintf(stderr, "mailbridge import-iis: one MetaBase.xml at a time (got %d files)\n", len(files))
		return 2
	}
	if *site < 1 {
		fmt.Fprintf(stderr, "mailbridge import-iis: --site %d: virtual servers are numbered from 1\n", *site)
		return 2
	}
	path := defaultMetabasePath()
	if len(files) == 1 {
		path = files[0]
	}
	if path == "" {
		fmt.Fprintln(stderr, "mailbridge import-iis: give the path of a MetaBase.xml copied from the IIS server "+
			`(C:\Windows\System32\inetsrv\MetaBase.xml there): there is no default outside Windows`)
		return 2
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "mailbridge import-iis: %v\n", err)
		if len(files) == 0 && errors.Is(err, os.ErrNotExist) {
			// Found from outside: the bare error, where IIS is gone
			// (Windows Server 2025) and the file must come from the old
			// server.
			fmt.Fprintln(stderr, "  IIS's metabase is not on this machine: give the path of a MetaBase.xml copied from the IIS server (C:\\Windows\\System32\\inetsrv\\MetaBase.xml there)")
		}
		if errors.Is(err, os.ErrPermission) {
			fmt.Fprintln(stderr, "  MetaBase.xml is readable by Administrators only: run from an elevated prompt, or copy the file first")
		}
		return 1
	}
	m, err := compat.ParseMetabase(path, data)
	if err != nil {
		fmt.Fprintf(stderr, "mailbridge import-iis: %v\n", err)
		return 1
	}
	out, notes, err := compat.ImportIISNotes(m, *site)
	if err != nil {
		// Every bad value of the file, one line each.
		errs := []error{err}
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			errs = joined.Unwrap()
		}
		for _, e := range errs {
			fmt.Fprintf(stderr, "mailbridge import-iis: %v\n", e)
		}
		return 1
	}
	// The import promises a file mailbridge loads; a failure here is our
	// bug, and printing the file anyway would hand it to the administrator.
	// Outside Windows, IIS's folders are refused as Windows paths: the
	// file is for the Windows machine, where they are right.
	windowsPaths := false
	if _, err := config.Parse("import of "+path, out); err != nil {
		windowsPaths = onlyWindowsPaths(err)
		if !windowsPaths {
			fmt.Fprintf(stderr, "mailbridge import-iis: internal error: the configuration made from %s does not load; please report this with the file:\n%v\n", path, err)
			return 1
		}
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "mailbridge import-iis: %v\n", err)
		return 1
	}
	if len(notes) > 0 {
		fmt.Fprintln(stderr, "mailbridge import-iis: after the migration, mail flows differently here (the file's comments say more):")
		for _, n := range notes {
			fmt.Fprintf(stderr, "  - %s\n", n)
		}
	}
	if windowsPaths {
		fmt.Fprintln(stderr, "mailbridge import-iis: note: the folders are IIS's, Windows paths: the configuration is for a Windows machine; to run mailbridge on this one, set [mailroot] (and [log] w3c_dir) to paths of this system first")
	}
	return 0
}

// onlyWindowsPaths reports whether every problem of err is a Windows path
// refused outside Windows (config.ErrWindowsPath).
func onlyWindowsPaths(err error) bool {
	var problems config.Errors
	if !errors.As(err, &problems) {
		return false
	}
	for _, p := range problems {
		if !p.Is(config.ErrWindowsPath) {
			return false
		}
	}
	return len(problems) > 0
}

func defaultMetabasePathText() string {
	if p := defaultMetabasePath(); p != "" {
		return p
	}
	// Found from outside: an administrator preparing the move on Linux
	// learned no more than that, not where to copy the file from.
	return `none outside Windows: copy it from the IIS server, where it is C:\Windows\System32\inetsrv\MetaBase.xml`
}
