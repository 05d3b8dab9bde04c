// Package e2e tests mailbridge as a process: its tests build the real
// binary once, run it on 127.0.0.1 with a configuration file written for
// each test, and drive it with outside clients (swaks, Python's smtplib,
// curl, msmtp, Perl's Net::SMTP, postfix's smtp-source, raw sockets), then read
// the Drop folder as a consumer would. It holds no code of its own.
//
// The tests run on Linux (signals, tmpfs, chattr, the Debian tools); on
// Windows the package is empty.
//
// A test that needs a missing outside tool skips with a message naming the
// tool and the Debian package; with CI=true it fails instead.
package e2e
