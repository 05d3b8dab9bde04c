package listener

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzCommandStream holds conn's command side to its contract, for any
// split of the client's writes and of go-smtp's reads:
//
//   - what go-smtp gets does not depend on the splits: the scanner sees,
//     checks and rewrites every line whole however it arrived (a client
//     typing one byte at a time, or a line across a read boundary);
//   - go-smtp gets every whole line the client sent, in order, once,
//     except that RCPT TO:<postmaster> may have gained the server's name
//     (RFC 5321 section 4.5.1), and an address without a domain the
//     default domain (unqualifiedAt); a last line without its end, at
//     the connection's end, is no command and is not passed on.
//
// For the second, lines with a SIZE parameter (see hugeSize), greetings
// conn rewrites, and DATA, STARTTLS and BDAT lines, which change what
// follows them, are replaced by NOOP; the first holds for them too.
func FuzzCommandStream(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<postmaster>\r\nQUIT\r\n",
		"RCPT TO: <PostMaster> NOTIFY=NEVER\r\nRCPT TO:<postmaster\r\nrcpt to:<postmaster>\r\n",
		"NOOP\r\nRCPT TO:<postmaster>\r\nRCPT TO:<postmaster>\r\n",
		"no end of line RCPT TO:<postmaster>",
		"bare\nRCPT TO:<postmaster>\n",
		"EHLO \r0\n",
		"EHLO evil\rX-Injected: yes\r\nMAIL FROM:<a@b> SIZE=99999999999\r\n",
		"BDAT 5\r\nRCPT TO:<postmaster>\r\nBDAT 3 LAST\r\nabcDATA\r\nRCPT TO:<postmaster>\r\n",
		"BDAT 99999999999\r\nRCPT TO:<postmaster>\r\nBDAT 6 FOO\r\nNOOP\r\n",
		"MAIL FROM:<scanner>\r\nRCPT TO:admin\r\nRCPT TO: <a.b> NOTIFY=NEVER\r\nRCPT TO:<a..b>\r\n",
	} {
		f.Add([]byte(s), uint16(4096), []byte{0})
		f.Add([]byte(s), uint16(30), []byte{5, 1, 200})
		f.Add([]byte(s), uint16(0), []byte{0, 0, 0})
	}
	const host = "mail.example.com"
	f.Fuzz(func(t *testing.T, in []byte, readSize uint16, chunks []byte) {
		if len(in) > 8<<10 {
			in = in[:8<<10]
		}
		whole := goSMTPGets(t, host, in, 4095, nil)
		if got := goSMTPGets(t, host, in, readSize, chunks); !bytes.Equal(got, whole) {
			t.Fatalf("client sent %q\nin one write go-smtp got %q\nin writes %v, reads of %d: %q", in, whole, chunks, readSize, got)
		}

		if len(in) > 0 && in[0] == 0x16 {
			return // a TLS record first: the session ends (errTLSOnPlain)
		}
		var clean []byte
		for _, line := range bytes.SplitAfter(in, []byte("\n")) {
			verb, _ := smtpCommand(line)
			if verb == "DATA" || verb == "STARTTLS" || verb == "BDAT" || bytes.Contains(bytes.ToLower(line), []byte("@"+host)) ||
				bytes.Contains(bytes.ToLower(line), []byte("size=")) {
				line = []byte("NOOP\r\n")
			}
			if _, ok := greetingWithControl(line); ok {
				// Passed on without its argument (rewriteCommand).
				line = []byte("NOOP\r\n")
			}
			clean = append(clean, line...)
		}
		in = clean
		got := goSMTPGets(t, host, in, readSize, chunks)

		// Take the server's name back out of the postmaster lines and
		// the addresses without a domain (its name is the default domain
		// here).
		var back []byte
		for _, line := range bytes.SplitAfter(got, []byte("\n")) {
			if at := bytes.Index(bytes.ToLower(line), []byte("@"+host)); at >= 0 {
				orig := append(line[:at:at], line[at+1+len(host):]...)
				if u, _ := unqualifiedAt(orig); u == at {
					line = orig
				}
			}
			back = append(back, line...)
		}
		want := in[:bytes.LastIndexByte(in, '\n')+1]
		if !bytes.Equal(back, want) {
			t.Fatalf("client sent %q (writes %v, reads of %d)\ngo-smtp got %q", in, chunks, readSize, got)
		}
	})
}

// goSMTPGets returns what go-smtp reads from a conn when a client sends
// in, in writes of the sizes in chunks (each byte plus one, in turn; all
// at once if there are none), and go-smtp reads with a buffer of
// 16+readSize%4096 bytes.
func goSMTPGets(t *testing.T, host string, in []byte, readSize uint16, chunks []byte) []byte {
	t.Helper()
	client, server := net.Pipe()
	cfg := testConfig()
	cfg.Hostname = host
	s := &Server{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	c := newConn(server, s, false, func() {})
	go func() {
		rest := in
		for k := 0; len(rest) > 0; k++ {
			n := len(rest)
			if len(chunks) > 0 {
				n = min(n, int(chunks[k%len(chunks)])+1)
			}
			if _, err := client.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
		client.Close()
	}()
	defer server.Close()
	buf := make([]byte, 16+int(readSize)%4096)
	var got []byte
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) || errors.Is(err, errChunkTooBig) || errors.Is(err, errTLSOnPlain) {
			// A chunk of 4 GiB or more ends the connection, as a TLS
			// record as the first byte does (found by this fuzz target).
			return got
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
}

// FuzzHugeSize: hugeSize only ever points at a SIZE value of digits that
// go-smtp cannot parse, after the path.
func FuzzHugeSize(f *testing.F) {
	for _, s := range []string{
		"MAIL FROM:<a@b> SIZE=99999999999\r\n",
		"mail from:<\"x SIZE=99999999999\"@b> size=5 BODY=7BIT",
		"MAIL FROM:<a@b> SIZE=4294967296",
		"MAIL FROM:<a@b> SIZE=12x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		i, j := hugeSize(line)
		if i < 0 {
			if j >= 0 {
				t.Fatalf("%d, %d", i, j)
			}
			return
		}
		if i < 5 || j <= i || j > len(line) || !bytes.EqualFold(line[i-5:i], []byte("SIZE=")) ||
			bytes.IndexByte(line[i:], '>') >= 0 {
			t.Fatalf("hugeSize(%q) = %d, %d", line, i, j)
		}
		if n, err := strconv.ParseUint(string(line[i:j]), 10, 32); err == nil {
			t.Fatalf("hugeSize(%q) picked %d, which go-smtp parses", line, n)
		}
		for _, b := range line[i:j] {
			if b < '0' || b > '9' {
				t.Fatalf("hugeSize(%q) picked %q", line, line[i:j])
			}
		}
	})
}

// goSMTPParseCmd is go-smtp's parseCmd (v0.25.1, parse.go), as it is
// there: the reference smtpCommand is held to.
func goSMTPParseCmd(line string) (cmd string, arg string, err error) {
	line = strings.TrimRight(line, "\r\n")

	l := len(line)
	switch {
	case strings.HasPrefix(strings.ToUpper(line), "STARTTLS"):
		return "STARTTLS", "", nil
	case l == 0:
		return "", "", nil
	case l < 4:
		return "", "", fmt.Errorf("command too short: %q", line)
	case l == 4:
		return strings.ToUpper(line), "", nil
	case l == 5:
		// Too long to be only command, too short to have args
		return "", "", fmt.Errorf("mangled command: %q", line)
	}

	// If we made it here, command is long enough to have args
	if line[4] != ' ' {
		// There wasn't a space after the command?
		return "", "", fmt.Errorf("mangled command: %q", line)
	}

	return strings.ToUpper(line[0:4]), strings.TrimSpace(line[5:]), nil
}

// goSMTPBdat is the argument parsing of go-smtp's handleBdat (v0.25.1,
// conn.go): whether it reads a chunk, and of what size.
func goSMTPBdat(arg string) (size uint64, last, chunk bool) {
	args := strings.Fields(arg)
	if len(args) == 0 || len(args) > 2 {
		return 0, false, false
	}
	if len(args) == 2 {
		if !strings.EqualFold(args[1], "LAST") {
			return 0, false, false
		}
		last = true
	}
	size, err := strconv.ParseUint(args[0], 10, 32)
	if err != nil {
		return 0, false, false
	}
	return size, last, true
}

// FuzzSMTPCommand holds smtpCommand and bdatChunk to what go-smtp makes of
// a line: the same command, the same argument (for STARTTLS, which
// go-smtp runs whatever follows, the rest of the line), and for BDAT the
// same chunk, or none.
func FuzzSMTPCommand(f *testing.F) {
	for _, s := range []string{"VRFY", "vrfy ", "VRFY  \t ", "VRFY smith", "VRFYX", "VRFY\tx", "VRFY\r", "NOOP", "",
		"BDAT 5", "bdat 5 last", "BDAT 99999999999", "BDAT 6 FOO", "BDAT +5", "BDAT 1 2 3", "BDAT  0004294967295  LAST ",
		"STARTTLS", "starttls foo", "\u017ftarttls", "STARTTLS\u00a0", " STARTTLS", "DATA x", "\u017fTARTTL\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		line, _, _ = strings.Cut(line, "\n")
		full := []byte(line + "\r\n")
		verb, arg := smtpCommand(full)
		wantVerb, wantArg, err := goSMTPParseCmd(line)
		if err != nil {
			wantVerb = ""
		}
		if wantVerb == "STARTTLS" {
			if strings.TrimSpace(strings.ToUpper(line)[len("STARTTLS"):]) != strings.ToUpper(arg) {
				t.Fatalf("smtpCommand(%q): STARTTLS, with %q after it", full, arg)
			}
			wantArg = arg
		}
		if verb != wantVerb || arg != wantArg {
			t.Fatalf("smtpCommand(%q) = %q, %q; go-smtp: %q, %q", full, verb, arg, wantVerb, wantArg)
		}
		if verb != "BDAT" {
			return
		}
		size, last, ok := bdatChunk(arg)
		wantSize, wantLast, wantOK := goSMTPBdat(arg)
		if size != int64(wantSize) || last != wantLast || ok != wantOK {
			t.Fatalf("bdatChunk(%q) = %d, %v, %v; go-smtp: %d, %v, %v", arg, size, last, ok, wantSize, wantLast, wantOK)
		}
	})
}
