package config

import (
	"sort"
	"strconv"
	"strings"
)

// positions are where a configuration file writes its keys and the items
// of its lists, as line numbers from 1. The TOML library reports lines
// only for syntax errors, and a message without a line makes an
// administrator search the file.
type positions struct {
	keys  map[string]int   // dotted key ("inbound.port") -> its line
	items map[string][]int // dotted key of a list -> the line of each item
}

// locate finds the lines of the keys and list items of data, a document
// the TOML library has parsed: a list written over several lines has each
// bad item reported on its own line, not on its key's. It reads the text as
// TOML does, so that what only looks like a key, a bracket, a comma or a
// comment inside a string ("a,b]#c") or a comment ("# x = [") counts for
// nothing. It never fails: a line it cannot follow is skipped, and what
// that line holds gets no line (its problems are reported without one).
func locate(data []byte) positions {
	s := &locator{
		text: string(data),
		pos:  positions{keys: map[string]int{}, items: map[string][]int{}},
	}
	// The TOML library skips a byte order mark; it is no part of a key.
	if strings.HasPrefix(s.text, "\ufeff") {
		s.i = len("\ufeff")
	}
	s.starts = []int{0}
	for i := 0; i < len(s.text); i++ {
		if s.text[i] == '\n' {
			s.starts = append(s.starts, i+1)
		}
	}
	s.document()
	return s.pos
}

// locator walks a TOML document; i is the offset of the next byte.
type locator struct {
	text   string
	i      int
	starts []int // offset of the first byte of each line
	pos    positions
}

func (s *locator) line(off int) int {
	return sort.Search(len(s.starts), func(n int) bool { return s.starts[n] > off })
}

// skip steps over n bytes, not beyond the end.
func (s *locator) skip(n int) { s.i = min(s.i+n, len(s.text)) }

func (s *locator) more() bool { return s.i < len(s.text) }

func (s *locator) peek() byte {
	if s.i < len(s.text) {
		return s.text[s.i]
	}
	return 0
}

// record notes the line of a key, and of the tables its dotted name
// implies ("inbound" for "inbound.port" written at the top), unless an
// earlier line wrote it: a table header comes before its keys.
func (s *locator) record(path []string, line int) {
	for n := 1; n <= len(path); n++ {
		k := strings.Join(path[:n], ".")
		if _, ok := s.pos.keys[k]; !ok {
			s.pos.keys[k] = line
		}
	}
}

func (s *locator) document() {
	var table []string
	for s.more() {
		start := s.i
		s.skipBlank()
		if !s.more() {
			return
		}
		if s.peek() == '[' {
			// [table] or [[array of tables]]
			line := s.line(s.i)
			s.i++
			if s.peek() == '[' {
				s.i++
			}
			table = s.key()
			s.record(table, line)
		} else {
			s.keyValue(table, true)
		}
		s.skipLine()
		if s.i == start {
			return // nothing understood: stop rather than loop
		}
	}
}

// skipSpace skips spaces and tabs.
func (s *locator) skipSpace() {
	for s.more() && (s.peek() == ' ' || s.peek() == '\t') {
		s.i++
	}
}

// skipBlank skips white space, line ends and comments: what may stand
// between statements, and between the items of a list.
func (s *locator) skipBlank() {
	for s.more() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.i++
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine skips the rest of the line (after a statement: white space or
// a comment).
func (s *locator) skipLine() {
	if n := strings.IndexByte(s.text[s.i:], '\n'); n >= 0 {
		s.i += n + 1
	} else {
		s.i = len(s.text)
	}
}

// key reads a dotted key: bare or quoted parts joined by dots.
func (s *locator) key() []string {
	var parts []string
	for {
		s.skipSpace()
		switch s.peek() {
		case '"':
			start := s.i
			s.basicString()
			part, err := strconv.Unquote(s.text[start:s.i])
			if err != nil {
				// An escape TOML has and Go has not (\e): the name
				// is rare enough to stay as written.
				part = strings.Trim(s.text[start:s.i], `"`)
			}
			parts = append(parts, part)
		case '\'':
			start := s.i
			s.literalString()
			parts = append(parts, strings.Trim(s.text[start:s.i], `'`))
		default:
			start := s.i
			for s.more() && !strings.ContainsRune(" \t\r\n=.[]{},#\"'", rune(s.peek())) {
				s.i++
			}
			if s.i == start {
				return parts
			}
			parts = append(parts, s.text[start:s.i])
		}
		s.skipSpace()
		if s.peek() != '.' {
			return parts
		}
		s.i++
	}
}

// keyValue reads "key = value" in table; record is false inside a list,
// where a key names no single place (a list of inline tables).
func (s *locator) keyValue(table []string, record bool) {
	line := s.line(s.i)
	k := s.key()
	s.skipSpace()
	if len(k) == 0 || s.peek() != '=' {
		return
	}
	s.i++
	s.skipSpace()
	path := append(append([]string(nil), table...), k...)
	if record {
		s.record(path, line)
	} else {
		path = nil
	}
	s.value(path)
}

// value reads one value; path is its key when its items are to be
// located, nil otherwise.
func (s *locator) value(path []string) {
	switch {
	case strings.HasPrefix(s.text[s.i:], `"""`):
		s.multiLine(`"""`, true)
	case strings.HasPrefix(s.text[s.i:], `'''`):
		s.multiLine(`'''`, false)
	case s.peek() == '"':
		s.basicString()
	case s.peek() == '\'':
		s.literalString()
	case s.peek() == '[':
		s.list(path)
	case s.peek() == '{':
		s.inlineTable(path)
	default:
		// A number, a boolean or a date and time (which may hold a
		// space: 1979-05-27 07:32:00Z).
		for s.more() && !strings.ContainsRune(",]}#\r\n", rune(s.peek())) {
			s.i++
		}
	}
}

// list reads [a, b, ...], noting the line where each item starts.
func (s *locator) list(path []string) {
	s.i++
	var lines []int
	for s.more() {
		s.skipBlank()
		if !s.more() {
			break
		}
		switch s.peek() {
		case ']':
			s.i++
			s.setItems(path, lines)
			return
		case ',':
			s.i++
			continue
		}
		start := s.i
		lines = append(lines, s.line(s.i))
		s.value(nil) // a list in a list: its items are not located
		if s.i == start {
			s.skip(1) // not a value: step over it rather than loop
		}
	}
	s.setItems(path, lines)
}

func (s *locator) setItems(path []string, lines []int) {
	if path == nil {
		return
	}
	k := strings.Join(path, ".")
	if _, ok := s.pos.items[k]; !ok {
		s.pos.items[k] = lines
	}
}

// inlineTable reads { key = value, ... } (over several lines too, as TOML
// 1.1 allows), whose keys are path's.
func (s *locator) inlineTable(path []string) {
	s.i++
	for s.more() {
		s.skipBlank()
		if !s.more() {
			return
		}
		switch s.peek() {
		case '}':
			s.i++
			return
		case ',':
			s.i++
			continue
		}
		start := s.i
		s.keyValue(path, path != nil)
		if s.i == start {
			s.skip(1) // not a key: step over it rather than loop
		}
	}
}

// basicString reads "...", where a backslash escapes the next byte.
func (s *locator) basicString() {
	s.i++
	for s.more() && s.peek() != '"' && s.peek() != '\n' {
		if s.peek() == '\\' {
			s.skip(1)
		}
		s.skip(1)
	}
	if s.peek() == '"' {
		s.i++
	}
}

// literalString reads '...', which has no escapes.
func (s *locator) literalString() {
	s.i++
	for s.more() && s.peek() != '\'' && s.peek() != '\n' {
		s.i++
	}
	if s.peek() == '\'' {
		s.i++
	}
}

// multiLine reads a string between the triple quotes delim, escapes
// included when escapes is set. Up to two more quotes right before the
// closing three belong to the string ("""a""""" holds a"").
func (s *locator) multiLine(delim string, escapes bool) {
	s.i += len(delim)
	for s.more() {
		if escapes && s.peek() == '\\' {
			s.skip(2)
			continue
		}
		if strings.HasPrefix(s.text[s.i:], delim) {
			s.i += len(delim)
			for n := 0; n < 2 && s.peek() == delim[0]; n++ {
				s.i++
			}
			return
		}
		s.i++
	}
	s.i = len(s.text)
}
