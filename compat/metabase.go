package compat

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrMetabase is matched by errors.Is for every MetaBase.xml that cannot be
// read or does not hold what the importer needs.
var ErrMetabase = errors.New("MetaBase.xml")

// MetabaseError names the file and the line of a problem in a MetaBase.xml.
type MetabaseError struct {
	File string
	Line int // 0 when the problem has no line (a missing node)
	Msg  string
}

func (e *MetabaseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Is makes errors.Is(err, ErrMetabase) true.
func (e *MetabaseError) Is(target error) bool { return target == ErrMetabase }

// Metabase is the IIS 6-format metabase (MetaBase.xml, still used by the IIS
// 10 SMTP Service) as a flat list of configuration nodes in file order.
type Metabase struct {
	File  string
	Nodes []*MetabaseNode
}

// MetabaseNode is one configuration element: its class (the element name,
// such as IIsSmtpServer), its Location ("/LM/SmtpSvc/1") and its properties,
// both attributes and <Custom Name=... Value=...> children.
type MetabaseNode struct {
	Class    string
	Location string
	Line     int
	Props    []MetabaseProp
}

// MetabaseProp is one property as written, with the line it is on.
type MetabaseProp struct {
	Name  string
	Value string
	Line  int
}

// Prop returns the property called name (case-insensitive, as IIS's own
// schema lookups are) and whether it is there.
func (n *MetabaseNode) Prop(name string) (MetabaseProp, bool) {
	for _, p := range n.Props {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return MetabaseProp{}, false
}

// Find returns the node of class at location (both case-insensitive: the
// metabase treats "/LM/SMTPSVC/1" and "/LM/SmtpSvc/1" alike), or nil.
func (m *Metabase) Find(class, location string) *MetabaseNode {
	location = strings.TrimRight(location, "/")
	for _, n := range m.Nodes {
		if strings.EqualFold(n.Class, class) && strings.EqualFold(strings.TrimRight(n.Location, "/"), location) {
			return n
		}
	}
	return nil
}

// ParseMetabase reads an IIS 6-format MetaBase.xml. It accepts what real
// files contain: `Location ="..."` with a space before '=', <Custom> children
// for properties the schema does not name, multi-line (MULTISZ) values, a
// UTF-8 or UTF-16 byte order mark. Malformed XML is a *MetabaseError with the
// line; name is used only in messages.
func ParseMetabase(name string, data []byte) (*Metabase, error) {
	data, err := toUTF8(data)
	if err != nil {
		return nil, &MetabaseError{File: name, Msg: err.Error()}
	}
	m := &Metabase{File: name}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		// toUTF8 already turned UTF-16 into UTF-8; ASCII is UTF-8.
		switch strings.ToLower(label) {
		case "utf-16", "utf-16le", "utf-16be", "unicode", "us-ascii", "ascii":
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported: save the file as UTF-8", label)
	}
	var stack []*MetabaseNode // nil entries for elements that are not nodes
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				line = se.Line
				err = errors.New(se.Msg)
			}
			return nil, &MetabaseError{File: name, Line: line, Msg: "malformed XML: " + err.Error()}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			start := before + int64(bytes.IndexByte(data[before:], '<'))
			tag := data[start:d.InputOffset()]
			line := 1 + bytes.Count(data[:start], []byte("\n"))
			attrLine := func(attr string) int {
				if i := attrIndex(tag, attr); i >= 0 {
					return line + bytes.Count(tag[:i], []byte("\n"))
				}
				return line
			}
			// XML 1.0 section 3.1 (well-formedness constraint "Unique
			// Att Spec"): an attribute appears once in a tag.
			// encoding/xml keeps both, and which one IIS would have
			// used is unknowable, so the file is refused.
			if a, second := duplicateAttr(t.Attr, tag); a != "" {
				return nil, &MetabaseError{File: name, Line: line + bytes.Count(tag[:second], []byte("\n")),
					Msg: fmt.Sprintf("malformed XML: attribute %s appears twice in <%s> (line %d); keep the one IIS should use", a, t.Name.Local, line)}
			}
			var parent *MetabaseNode
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			}
			if t.Name.Local == "Custom" && parent != nil {
				p := MetabaseProp{Line: line}
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "Name":
						p.Name = a.Value
					case "Value":
						p.Value = a.Value
					}
				}
				if p.Name == "" {
					return nil, &MetabaseError{File: name, Line: line, Msg: "<Custom> without a Name attribute"}
				}
				parent.Props = append(parent.Props, p)
				stack = append(stack, nil)
				continue
			}
			var loc *xml.Attr
			for i := range t.Attr {
				if t.Attr[i].Name.Local == "Location" {
					loc = &t.Attr[i]
				}
			}
			if loc == nil {
				// configuration, MBProperty, the schema: containers only.
				stack = append(stack, nil)
				continue
			}
			n := &MetabaseNode{Class: t.Name.Local, Location: loc.Value, Line: line}
			for _, a := range t.Attr {
				if a.Name.Local == "Location" || a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
					continue
				}
				n.Props = append(n.Props, MetabaseProp{Name: a.Name.Local, Value: a.Value, Line: attrLine(a.Name.Local)})
			}
			m.Nodes = append(m.Nodes, n)
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(m.Nodes) == 0 {
		return nil, &MetabaseError{File: name, Msg: "no metabase nodes (elements with a Location attribute): this is not an IIS MetaBase.xml"}
	}
	return m, nil
}

// duplicateAttr returns the name of an attribute written twice in a start
// tag and the offset in tag of its second occurrence, or "".
func duplicateAttr(attrs []xml.Attr, tag []byte) (string, int) {
	for i := range attrs {
		for j := 0; j < i; j++ {
			if attrs[i].Name == attrs[j].Name {
				full := attrs[i].Name.Local
				if attrs[i].Name.Space != "" {
					full = attrs[i].Name.Space + ":" + full
				}
				second := 0
				if first := attrIndex(tag, full); first >= 0 {
					if k := attrIndex(tag[first+1:], full); k >= 0 {
						second = first + 1 + k
					}
				}
				return full, second
			}
		}
	}
	return "", 0
}

// attrIndex finds where attribute attr is written in a start tag: after
// white space, before optional white space and '='.
func attrIndex(tag []byte, attr string) int {
	lower := bytes.ToLower(tag)
	want := []byte(strings.ToLower(attr))
	for off := 0; ; {
		i := bytes.Index(lower[off:], want)
		if i < 0 {
			return -1
		}
		i += off
		off = i + 1
		if i == 0 || !isSpace(tag[i-1]) {
			continue
		}
		j := i + len(want)
		for j < len(tag) && isSpace(tag[j]) {
			j++
		}
		if j < len(tag) && tag[j] == '=' {
			return i
		}
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// toUTF8 decodes a UTF-16 file (Notepad's "Unicode") and drops a UTF-8 BOM.
func toUTF8(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:], nil
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		be := data[0] == 0xFE
		data = data[2:]
		if len(data)%2 != 0 {
			return nil, errors.New("UTF-16 file with an odd number of bytes: the file is truncated")
		}
		u := make([]uint16, len(data)/2)
		for i := range u {
			if be {
				u[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
			} else {
				u[i] = uint16(data[2*i+1])<<8 | uint16(data[2*i])
			}
		}
		return []byte(string(utf16.Decode(u))), nil
	}
	// A file that opens with '<' in UTF-16 but has no byte-order mark
	// (some editors and PowerShell's Out-File -Encoding Unicode on a
	// piped string) shows a NUL beside each ASCII byte; read as UTF-8 it
	// is "<" followed by NUL, which the XML parser reports as a missing
	// element name on line 1.
	if order := utf16NoBOM(data); order != "" {
		return nil, fmt.Errorf("UTF-16 without a byte-order mark (%s): save the file as UTF-8, or as UTF-16 with a byte-order mark (Notepad's \"UTF-16 LE\")", order)
	}
	if !utf8.Valid(data) {
		return nil, errors.New("not UTF-8 text: save the file as UTF-8 (IIS writes MetaBase.xml in UTF-8)")
	}
	return data, nil
}

// utf16NoBOM recognises UTF-16 text without a byte-order mark by its
// pattern of NUL bytes: in the first bytes of an XML file (ASCII
// characters) every other byte is 0. It returns "little-endian",
// "big-endian" or "".
func utf16NoBOM(data []byte) string {
	n := min(len(data), 64) &^ 1
	if n < 4 {
		return ""
	}
	var zeroEven, zeroOdd int
	for i := 0; i < n; i++ {
		if data[i] == 0 {
			if i%2 == 0 {
				zeroEven++
			} else {
				zeroOdd++
			}
		}
	}
	switch {
	case zeroOdd == n/2 && zeroEven == 0:
		return "little-endian"
	case zeroEven == n/2 && zeroOdd == 0:
		return "big-endian"
	}
	return ""
}

// MetabaseUint reads a DWORD property as IIS writes it: decimal, 0x hex, or
// symbolic flag names joined by '|' ("AuthBasic | AuthAnonymous") looked up
// in names. A negative decimal is the DWORD's two's complement (IIS writes
// -1 for "all bits").
func MetabaseUint(value string, names map[string]uint32) (uint32, error) {
	var v uint32
	parts := strings.Split(value, "|")
	for _, part := range parts {
		s := strings.TrimSpace(part)
		if s == "" {
			return 0, fmt.Errorf("%q is not a number", value)
		}
		if n, ok := lookupFold(names, s); ok {
			v |= n
			continue
		}
		var n int64
		var err error
		if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
			var u uint64
			u, err = strconv.ParseUint(s[2:], 16, 32)
			n = int64(u)
		} else {
			n, err = strconv.ParseInt(s, 10, 64)
			if err == nil && (n < -1<<31 || n > 1<<32-1) {
				err = errors.New("out of range")
			}
		}
		if err != nil {
			return 0, fmt.Errorf("%q is not a number or a known flag name", value)
		}
		v |= uint32(n)
	}
	return v, nil
}

func lookupFold(names map[string]uint32, s string) (uint32, bool) {
	for k, v := range names {
		if strings.EqualFold(k, s) {
			return v, true
		}
	}
	return 0, false
}

// MetabaseBool reads a boolean as IIS writes it: TRUE/FALSE, or a DWORD
// where any non-zero value (IIS uses 1 and -1) is true.
func MetabaseBool(value string) (bool, error) {
	switch strings.ToUpper(strings.TrimSpace(value)) {
	case "TRUE":
		return true, nil
	case "FALSE":
		return false, nil
	}
	n, err := MetabaseUint(value, nil)
	if err != nil {
		return false, fmt.Errorf("%q is not TRUE or FALSE", value)
	}
	return n != 0, nil
}

// MetabaseList splits a MULTISZ value: MetaBase.xml writes one string per
// line inside the attribute.
func MetabaseList(value string) []string {
	var out []string
	for _, s := range strings.Split(value, "\n") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
