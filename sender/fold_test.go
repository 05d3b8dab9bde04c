package sender

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"testing"
)

// unfold is RFC 5322 section 2.2.3's unfolding: a line break before white
// space is removed.
func unfold(p []byte) []byte {
	return regexp.MustCompile(`\r?\n([ \t])`).ReplaceAll(p, []byte("$1"))
}

func longestLine(p []byte) int {
	n := 0
	for _, l := range bytes.Split(p, []byte("\n")) {
		n = max(n, len(bytes.TrimSuffix(l, []byte("\r"))))
	}
	return n
}

func addrs(n int, sep, name string) string {
	var b []string
	for i := range n {
		a := fmt.Sprintf("user%03d@example.com", i)
		if name != "" {
			a = fmt.Sprintf("%s%d <%s>", name, i, a)
		}
		b = append(b, a)
	}
	return strings.Join(b, sep)
}

// Header lines over 998 octets are folded where unfolding gives them back:
// at their own white space, or, in address fields, after a comma between
// addresses; what cannot be folded so is left as it is.
func TestFoldHeader(t *testing.T) {
	words := strings.Repeat("word ", 700)
	for _, tt := range []struct {
		name   string
		in     string
		folded int  // lines folded
		exact  bool // unfolding gives the input back byte for byte
		tooBig bool // a line is left over 998 octets: no place to break it
	}{
		{"short lines", "Subject: hi\r\nTo: a@b.test\r\n\r\n", 0, true, false},
		{"998 octets", "Subject: " + strings.Repeat("x", 989) + "\r\n\r\n", 0, true, false},
		{"999 octets with a space", "Subject: a " + strings.Repeat("x", 988) + "\r\n\r\n", 1, true, false},
		{"a long subject of words", "Subject: " + words + "\r\nTo: a@b.test\r\n\r\n", 1, true, false},
		// A fold that leaves a line too long helps nobody, and "Subject:"
		// alone reads as an empty subject to some parsers (found from
		// outside): such a line goes as it is.
		{"a long subject without white space", "Subject: " + strings.Repeat("x", 3000) + "\r\n\r\n", 0, true, true},
		{"a long word, then a short one", "Subject: " + strings.Repeat("y", 1200) + " tail\r\n\r\n", 0, true, true},
		{"recipients after comma and space", "To: " + addrs(150, ", ", "") + "\r\n\r\n", 1, true, false},
		{"recipients after a bare comma", "To: " + addrs(150, ",", "") + "\r\nSubject: s\r\n\r\n", 1, false, false},
		{"names with spaces", "Cc: " + addrs(100, ",", "User Name") + "\r\n\r\n", 1, false, false},
		{"quoted names with a comma and spaces", "To: " + strings.Repeat(`"Smith, John" <js@example.org>,`, 60) + "\"Last,One\"<l@example.com>\r\n\r\n", 1, false, false},
		{"comments after addresses", "Cc: " + strings.Repeat(`u@example.org (User, number),`, 60) + "l@example.com\r\n\r\n", 1, false, false},
		{"comments with spaces", "To: " + strings.Repeat(`js@example.org (John, the second),`, 60) + "l@example.com\r\n\r\n", 1, false, false},
		{"quoted names with commas", "To: " + strings.Repeat(`"Doe,John"<j@example.com>,`, 60) + "\"Last,One\"<l@example.com>\r\n\r\n", 1, false, false},
		{"bare LF", "Subject: " + words + "\nX: y\n\n", 1, true, false},
		{"a continuation line", "Subject: first\r\n " + words + "\r\n\r\n", 1, true, false},
		{"a non-address field keeps its commas", "X-List: " + strings.Repeat("a,", 1000) + "\r\n\r\n", 0, true, true},
		{"no white space at all", "X-List:" + strings.Repeat("a,", 1000) + "\r\n\r\n", 0, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, n := foldHeader([]byte(tt.in))
			if n != tt.folded {
				t.Fatalf("folded %d lines, want %d:\n%s", n, tt.folded, out)
			}
			if !tt.tooBig && longestLine(out) > maxLine {
				t.Fatalf("a line of %d octets left:\n%s", longestLine(out), out)
			}
			// Between addresses rather than inside a quoted name or a
			// comment (found from outside: Python's compat32 parser
			// keeps such a line break in the name).
			if strings.Contains(string(out), "Smith,\r\n") || strings.Contains(string(out), "the\r\n") || strings.Contains(string(out), "org\r\n (User") {
				t.Fatalf("folded inside a name or comment:\n%s", out)
			}
			if tt.exact && !bytes.Equal(unfold(out), unfold([]byte(tt.in))) {
				t.Fatalf("unfolds to\n%q\nwant\n%q", unfold(out), unfold([]byte(tt.in)))
			}
			if bytes.Contains([]byte(tt.in), []byte("\r\n")) && bytes.Count(out, []byte("\n")) != bytes.Count(out, []byte("\r\n")) {
				t.Fatalf("a bare LF in a CRLF header:\n%q", out)
			}
			// Address fields read as the same addresses.
			for _, field := range []string{"To", "Cc"} {
				want, _ := mail.ReadMessage(strings.NewReader(tt.in))
				got, _ := mail.ReadMessage(bytes.NewReader(out))
				if want == nil || got == nil || want.Header.Get(field) == "" {
					continue
				}
				wa, err1 := want.Header.AddressList(field)
				ga, err2 := got.Header.AddressList(field)
				if err1 != nil || err2 != nil || fmt.Sprint(wa) != fmt.Sprint(ga) {
					t.Fatalf("%s: %v (%v), want %v (%v)", field, ga, err2, wa, err1)
				}
			}
		})
	}
}

func FuzzFoldHeader(f *testing.F) {
	f.Add([]byte("To: " + addrs(80, ",", "") + "\r\n\r\n"))
	f.Add([]byte("Subject: " + strings.Repeat("ab ", 400) + "\n\n"))
	f.Add([]byte(`To: ` + strings.Repeat(`"a,b\",c" (x,y) <u@v>,`, 60) + "\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, n := foldHeader(in)
		if n == 0 {
			if !bytes.Equal(out, in) {
				t.Fatalf("changed without a fold")
			}
			return
		}
		// Unfolded, only spaces after commas may differ.
		norm := func(p []byte) []byte { return bytes.ReplaceAll(unfold(p), []byte(", "), []byte(",")) }
		if !bytes.Equal(norm(out), norm(in)) {
			t.Fatalf("unfolds to\n%q\nwant\n%q", unfold(out), unfold(in))
		}
	})
}

// downgrade folds the long header lines of a message, of any kind (MIME or
// not), outside a multipart/signed, and leaves the rest as it was; the
// scan says when it has to run for that alone.
func TestDowngradeFoldsHeaders(t *testing.T) {
	to := "To: " + addrs(150, ",", "") + "\r\n"
	signedPart := "Content-Type: text/plain\r\nX-Signed: " + strings.Repeat("s ", 600) + "\r\n\r\nsigned\r\n"
	for _, tt := range []struct {
		name, in string
		folded   int
		kept     string // passes as it is
	}{
		{"not MIME", to + "Subject: s\r\n\r\nbody\r\n", 1, "Subject: s\r\n\r\nbody\r\n"},
		{"MIME, a part's header", "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nX-Note: " +
			strings.Repeat("n ", 600) + "\r\n\r\npart\r\n--b--\r\n", 1, "\r\n\r\npart\r\n--b--\r\n"},
		{"signed content stays, its envelope is folded", to + "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s\r\n\r\n--s\r\n" +
			signedPart + "--s\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--s--\r\n", 1, signedPart},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := scanParts(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !needsDowngrade(plan, true) {
				t.Fatal("the scan saw no header to fold")
			}
			var out bytes.Buffer
			var st downgradeStats
			if err := downgrade(&out, strings.NewReader(tt.in), plan, true, &st); err != nil {
				t.Fatal(err)
			}
			if st.folded != tt.folded || st.converted != 0 {
				t.Fatalf("folded %d, converted %d:\n%s", st.folded, st.converted, out.String())
			}
			if !strings.Contains(out.String(), tt.kept) {
				t.Fatalf("%q changed:\n%s", tt.kept, out.String())
			}
			if got, want := strings.ReplaceAll(string(unfold(out.Bytes())), ", ", ","), string(unfold([]byte(tt.in))); got != want {
				t.Fatalf("unfolds to\n%s\nwant\n%s", got, want)
			}
			for _, l := range strings.Split(out.String(), "\r\n") {
				if len(l) > maxLine && !strings.HasPrefix(l, "X-Signed") {
					t.Fatalf("a line of %d octets left", len(l))
				}
			}
		})
	}
}

// A smart host gets a To header of many recipients folded, and the
// delivery line's Downgraded says so.
func TestSendFoldsLongHeader(t *testing.T) {
	in := "To: " + addrs(150, ",", "") + "\r\nSubject: s\r\n\r\nbody\r\n"
	h := (&scriptHost{EHLO: []string{"8BITMIME"}}).start(t)
	s := NewSession(scriptCfg(h))
	res := s.Send(context.Background(), "a@x.test", []string{"b@y.test"}, []byte(in))
	s.Close()
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if conv, kept, folded := s.Downgraded(); conv != 0 || kept != 0 || folded != 1 {
		t.Errorf("Downgraded %d, %d, %d", conv, kept, folded)
	}
	data := strings.ReplaceAll("\r\n"+h.Data(), "\r\n..", "\r\n.")[2:]
	if longestLine([]byte(data)) > maxLine || !strings.HasSuffix(data, "\r\nSubject: s\r\n\r\nbody\r\n") {
		t.Fatalf("sent:\n%s", data)
	}
}
