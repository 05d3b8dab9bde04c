// Command smtpload measures an SMTP server's per-message latency and rate
// for bench/inbound.sh, the way postfix's smtp-source loads it (a new
// connection per message, no pipelining), which smtp-source cannot report.
//
//	smtpload -addr 127.0.0.1:2525 -s 20 -m 5000 -l 10240
//	smtpload -addr 127.0.0.1:2525 -attach 19000000   one MIME message with a base64 attachment
//
// Latency is from connect to the reply to the end of data. It prints one
// line of key=value pairs.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "server address")
	sessions := flag.Int("s", 20, "concurrent sessions")
	messages := flag.Int("m", 5000, "messages in all")
	size := flag.Int("l", 10240, "body size in bytes")
	attach := flag.Int("attach", 0, "send one message with an attachment of this many bytes (base64) instead")
	flag.Parse()

	if *attach > 0 {
		msg := attachmentMessage(*attach)
		start := time.Now()
		reply, err := send(*addr, msg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "smtpload:", err)
			os.Exit(1)
		}
		fmt.Printf("message_bytes=%d seconds=%.2f reply=%q\n", len(msg), time.Since(start).Seconds(), reply)
		return
	}

	msg := textMessage(*size)
	lat := make([]time.Duration, *messages)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *sessions; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= *messages {
					return
				}
				t0 := time.Now()
				if _, err := send(*addr, msg); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					lat[n] = -1
					continue
				}
				lat[n] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	ok := lat[:0]
	for _, d := range lat {
		if d >= 0 {
			ok = append(ok, d)
		}
	}
	slices.Sort(ok)
	pct := func(p float64) string {
		if len(ok) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1fms", float64(ok[int(p*float64(len(ok)-1))])/1e6)
	}
	fmt.Printf("messages=%d failed=%d seconds=%.2f rate=%.0f/s p50=%s p90=%s p99=%s max=%s\n",
		len(ok), failed.Load(), elapsed.Seconds(), float64(len(ok))/elapsed.Seconds(),
		pct(0.50), pct(0.90), pct(0.99), pct(1))
	if err, _ := firstErr.Load().(error); err != nil {
		fmt.Fprintln(os.Stderr, "smtpload: first error:", err)
		os.Exit(1)
	}
}

// textMessage is a message with a body of size bytes in 78-byte lines.
func textMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: load@bench.test\r\nTo: drop@bench.test\r\nSubject: bench\r\n\r\n")
	line := strings.Repeat("abcdefghij", 7) + "012345\r\n"
	for n := 0; n < size; n += len(line) {
		b.WriteString(line)
	}
	return b.Bytes()
}

// attachmentMessage is a MIME message with one base64 attachment.
func attachmentMessage(n int) []byte {
	raw := make([]byte, n)
	var x uint32 = 2463534242
	for i := range raw {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		raw[i] = byte(x)
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	var b bytes.Buffer
	b.WriteString("From: load@bench.test\r\nTo: drop@bench.test\r\nSubject: big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b1\r\nContent-Type: application/pdf; name=\"big.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--\r\n")
	return b.Bytes()
}

// send delivers msg (no line starts with a dot) in a session of its own
// and returns the reply to the end of data.
func send(addr string, msg []byte) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	r := bufio.NewReader(c)
	w := bufio.NewWriterSize(c, 64<<10)
	expect := func(code string) (string, error) {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return "", err
			}
			if !strings.HasPrefix(l, code) {
				return "", errors.New("unexpected reply: " + strings.TrimSpace(l))
			}
			if len(l) < 4 || l[3] != '-' {
				return strings.TrimSpace(l), nil
			}
		}
	}
	step := func(cmd, code string) (string, error) {
		if cmd != "" {
			w.WriteString(cmd)
			if err := w.Flush(); err != nil {
				return "", err
			}
		}
		return expect(code)
	}
	for _, s := range [][2]string{{"", "220"}, {"EHLO bench.test\r\n", "250"}, {"MAIL FROM:<load@bench.test>\r\n", "250"},
		{"RCPT TO:<drop@bench.test>\r\n", "250"}, {"DATA\r\n", "354"}} {
		if _, err := step(s[0], s[1]); err != nil {
			return "", err
		}
	}
	w.Write(msg)
	reply, err := step(".\r\n", "250")
	if err != nil {
		return "", err
	}
	_, err = step("QUIT\r\n", "221")
	return reply, err
}
