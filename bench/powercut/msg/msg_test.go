package msg

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// dropFile is a message as mailbridge writes it in Drop: its envelope,
// then the message.
func dropFile(token string) []byte {
	return append([]byte("x-sender: qa@powercut.test\r\nx-receiver: drop@powercut.test\r\n"), Message(token)...)
}

func TestMessageIsDeterministic(t *testing.T) {
	a, b := Message("q1-s0-n0"), Message("q1-s0-n0")
	if !bytes.Equal(a, b) {
		t.Fatal("two messages for one token differ")
	}
	if bytes.Equal(a, Message("q1-s0-n1")) {
		t.Fatal("two tokens give the same message")
	}
	for _, tok := range []string{"q1-s0-n0", "q1-s3-n7", "q2-s7-n99"} {
		n := len(Body(tok))
		if n < minSize || n > maxSize+200 {
			t.Errorf("body of %s: %d bytes, want %d to %d", tok, n, minSize, maxSize)
		}
		if bytes.Contains(Body(tok), []byte("\n.")) {
			t.Errorf("body of %s has a line starting with a dot", tok)
		}
	}
}

func TestCheck(t *testing.T) {
	good := dropFile("q1-s2-n3")
	hdrEnd := bytes.Index(good, []byte("\r\n\r\n")) + 4
	flipped := bytes.Clone(good)
	flipped[len(flipped)-100] ^= 1
	tests := []struct {
		name      string
		file      []byte
		wantToken string
		wantProb  string // substring; "" means whole
	}{
		{"whole", good, "q1-s2-n3", ""},
		{"empty", nil, "", "empty file"},
		{"zeros, as delayed allocation leaves", make([]byte, 4096), "", "no end of header"},
		{"header only", good[:hdrEnd], "q1-s2-n3", "body differs: 0 bytes"},
		{"cut short", good[:len(good)-10], "q1-s2-n3", "body differs"},
		{"tail zeroed", append(bytes.Clone(good[:len(good)-10]), make([]byte, 10)...), "q1-s2-n3", "body differs"},
		{"one bit flipped", flipped, "q1-s2-n3", "body differs"},
		{"no envelope", Message("q1-s2-n3"), "q1-s2-n3", "does not start with x-sender:"},
		{"foreign token", bytes.Replace(good, []byte("X-QA-Token: q1-s2-n3"), []byte("X-QA-Token: other"), 1), "other", "foreign token"},
		{"no token", []byte("x-sender: a\r\nSubject: hi\r\n\r\nbody\r\n"), "", "no X-QA-Token header"},
		{"another token's body", append(bytes.Clone(good[:hdrEnd]), Body("q1-s2-n4")...), "q1-s2-n3", "body differs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, prob := Check(tt.file)
			if tok != tt.wantToken {
				t.Errorf("token %q, want %q", tok, tt.wantToken)
			}
			if tt.wantProb == "" && prob != "" || !strings.Contains(prob, tt.wantProb) {
				t.Errorf("problem %q, want %q", prob, tt.wantProb)
			}
		})
	}
}

func TestParseAcks(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      []string
		wantNotes int
	}{
		{"empty", "", nil, 0},
		{"two", "q1-s0-n0\nq1-s1-n0\n", []string{"q1-s0-n0", "q1-s1-n0"}, 0},
		{"partial last line", "q1-s0-n0\nq1-s1", []string{"q1-s0-n0"}, 1},
		{"zeros where the data was not written", "q1-s0-n0\n\x00\x00\x00\x00\n", []string{"q1-s0-n0"}, 1},
		{"repeated", "q1-s0-n0\nq1-s0-n0\n", []string{"q1-s0-n0"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acked, notes := ParseAcks([]byte(tt.in))
			want := map[string]bool{}
			for _, tok := range tt.want {
				want[tok] = true
			}
			if !reflect.DeepEqual(acked, want) {
				t.Errorf("acked %v, want %v", acked, want)
			}
			if len(notes) != tt.wantNotes {
				t.Errorf("notes %q, want %d", notes, tt.wantNotes)
			}
		})
	}
}

func TestCheckDrop(t *testing.T) {
	acks := func(toks ...string) map[string]bool {
		m := map[string]bool{}
		for _, tok := range toks {
			m[tok] = true
		}
		return m
	}
	a, b, c := "q1-s0-n0", "q1-s0-n1", "q1-s1-n0"
	tests := []struct {
		name      string
		files     map[string][]byte // name in Drop: content; a name ending in / is a folder
		acked     map[string]bool
		wantFiles int
		want      []string // one rule prefix per violation, in order
	}{
		{"all there", map[string][]byte{"1.eml": dropFile(a), "2.eml": dropFile(b)}, acks(a, b), 2, nil},
		{"unacknowledged extra is fine", map[string][]byte{"1.eml": dropFile(a), "2.eml": dropFile(c)}, acks(a), 2, nil},
		{"unacknowledged missing is fine", map[string][]byte{"1.eml": dropFile(a)}, acks(a), 1, nil},
		{"acknowledged missing", map[string][]byte{"1.eml": dropFile(a)}, acks(a, b), 1, []string{"(a) acknowledged token " + b}},
		{"twice", map[string][]byte{"1.eml": dropFile(a), "2.eml": dropFile(a)}, acks(a), 2, []string{"(a) token " + a + " in Drop 2 times"}},
		{"empty file, acknowledged", map[string][]byte{"1.eml": nil}, acks(a), 1, []string{"(b) Drop/1.eml", "(a) acknowledged token " + a}},
		{"partial file of an unacknowledged message", map[string][]byte{"1.eml": dropFile(c)[:300]}, acks(), 1, []string{"(b) Drop/1.eml"}},
		{"temporary file", map[string][]byte{"1.eml": dropFile(a), "x.tmp": dropFile(b)}, acks(a), 1, []string{"(c) entry that is not .eml"}},
		{"folder named .eml", map[string][]byte{"1.eml": dropFile(a), "d.eml/": nil}, acks(a), 1, []string{"(c) .eml that is not a regular file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				var err error
				if strings.HasSuffix(name, "/") {
					err = os.Mkdir(p, 0o755)
				} else {
					err = os.WriteFile(p, content, 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			rep, err := CheckDrop(dir, tt.acked)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Files != tt.wantFiles {
				t.Errorf("%d files, want %d", rep.Files, tt.wantFiles)
			}
			if len(rep.Violations) != len(tt.want) {
				t.Fatalf("violations %q, want %q", rep.Violations, tt.want)
			}
			for i, v := range rep.Violations {
				if !strings.HasPrefix(v, tt.want[i]) {
					t.Errorf("violation %d %q, want it to start with %q", i, v, tt.want[i])
				}
			}
		})
	}
}

func TestCheckDropWithoutDrop(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "Drop")
	if _, err := CheckDrop(missing, nil); err != nil {
		t.Errorf("no Drop and nothing acknowledged: %v, want no error", err)
	}
	if _, err := CheckDrop(missing, map[string]bool{"q1-s0-n0": true}); err == nil {
		t.Error("no Drop with a message acknowledged: no error")
	}
}
