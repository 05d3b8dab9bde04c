package compat

// Text helpers of ImportIIS: TOML output, and Windows paths handled as
// text (the importer runs on any system, the paths are the IIS server's).

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/mailbridge/mailbridge/config"
)

// tomlWriter writes TOML with comments wrapped to a readable width. Every
// comment is cleaned of control characters, which TOML forbids there.
type tomlWriter struct{ b strings.Builder }

func (w *tomlWriter) blank() { w.b.WriteString("\n") }

func (w *tomlWriter) section(name string) { w.b.WriteString("[" + name + "]\n") }

func (w *tomlWriter) kv(key, value string) { w.b.WriteString(key + " = " + value + "\n") }

// kvf writes a key line built from a format.
func (w *tomlWriter) kvf(format string, a ...any) { w.b.WriteString(fmt.Sprintf(format, a...) + "\n") }

// code writes a commented-out key on one line, so that removing the '#'
// gives valid TOML.
func (w *tomlWriter) code(format string, a ...any) {
	w.b.WriteString("# " + cleanComment(fmt.Sprintf(format, a...)) + "\n")
}

func (w *tomlWriter) comment(format string, a ...any) {
	text := cleanComment(fmt.Sprintf(format, a...))
	if text == "" {
		w.b.WriteString("#\n")
		return
	}
	indent := ""
	if strings.HasPrefix(text, "  ") {
		indent = "    "
	}
	line := ""
	for _, word := range strings.Split(text, " ") {
		if line != "" && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > 76 {
			w.b.WriteString("# " + strings.TrimRight(line, " ") + "\n")
			line = indent
		}
		if line == "" || line == indent {
			line += word
		} else {
			line += " " + word
		}
	}
	w.b.WriteString("# " + strings.TrimRight(line, " ") + "\n")
}

func cleanComment(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f:
			return '?'
		}
		return r
	}, s)
}

// tomlString is a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlPath writes a Windows path as a TOML literal string ('C:\mail'),
// which needs no doubled backslashes, unless it holds a quote.
func tomlPath(s string) string {
	if strings.ContainsAny(s, "'\r\n") || strings.IndexFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) >= 0 {
		return tomlString(s)
	}
	return "'" + s + "'"
}

func tomlList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Windows paths are handled as text: the importer runs on any system.

func cleanWinPath(p string) string {
	p = strings.TrimSpace(p)
	for len(p) > 3 && (strings.HasSuffix(p, `\`) || strings.HasSuffix(p, "/")) {
		p = p[:len(p)-1]
	}
	return p
}

func winDir(p string) string {
	i := strings.LastIndexAny(p, `\/`)
	if i <= 0 {
		return ""
	}
	if i == 2 && p[1] == ':' {
		return p[:3] // C:\
	}
	return p[:i]
}

// pathKey compares Windows paths as Windows does: case-insensitive, either
// slash, "." and ".." resolved.
func pathKey(p string) string {
	return strings.ToLower(path.Clean(strings.ReplaceAll(p, `\`, "/")))
}

func winBase(p string) string { return p[strings.LastIndexAny(p, `\/`)+1:] }

func joinWin(dir, name string) string {
	if strings.HasSuffix(dir, `\`) || strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + `\` + name
}

// sameVolume compares drive letters or \\server\share prefixes.
func sameVolume(a, b string) bool { return strings.EqualFold(volume(a), volume(b)) }

func volume(p string) string {
	if len(p) >= 2 && p[1] == ':' {
		return p[:2]
	}
	if strings.HasPrefix(p, `\\`) {
		parts := strings.SplitN(p[2:], `\`, 3)
		if len(parts) >= 2 {
			return `\\` + parts[0] + `\` + parts[1]
		}
	}
	return ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// winVars are the environment variables IIS's own defaults write in
// paths, with the values of a standard Windows installation (the system on
// C:). The importer may run elsewhere, so it cannot ask the IIS server.
var winVars = []struct{ name, value string }{
	{"%SystemDrive%", `C:`},
	{"%SystemRoot%", `C:\Windows`},
	{"%windir%", `C:\Windows`},
}

// expandWinVars expands the variables of winVars in p (case-insensitive,
// as Windows). It returns the path, whether it expanded any, and the
// first other %NAME% left in it ("" when none).
func expandWinVars(p string) (string, bool, string) {
	expanded := false
	for _, v := range winVars {
		for {
			i := strings.Index(strings.ToLower(p), strings.ToLower(v.name))
			if i < 0 {
				break
			}
			p = p[:i] + v.value + p[i+len(v.name):]
			expanded = true
		}
	}
	if i := strings.IndexByte(p, '%'); i >= 0 {
		if j := strings.IndexByte(p[i+1:], '%'); j > 0 && !strings.ContainsAny(p[i+1:i+1+j], `\/ `) {
			return p, expanded, p[i : i+2+j]
		}
	}
	return p, expanded, ""
}

// sizeValue writes a size as config reads it: "20MB", or bytes.
func sizeValue(n int64) string {
	s := config.FormatSize(n)
	if strings.HasSuffix(s, "B") {
		return tomlString(s)
	}
	return s
}

func fmtMinutes(n uint32) string {
	if n%60 == 0 {
		return fmt.Sprintf("%dh", n/60)
	}
	return fmt.Sprintf("%dm", n)
}

func fmtSeconds(n uint32) string {
	switch {
	case n%3600 == 0:
		return fmt.Sprintf("%dh", n/3600)
	case n%60 == 0:
		return fmt.Sprintf("%dm", n/60)
	}
	return fmt.Sprintf("%ds", n)
}

// validHostname returns why s is not a host name mailbridge's
// configuration accepts, or "".
func validHostname(s string) string {
	if _, err := config.HostName(s); err != nil {
		return "it " + err.Error()
	}
	return ""
}

// validSmartHost accepts what IIS's smart host field did: a name, an IPv4
// address, or an address in brackets.
func validSmartHost(s string) string {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err != nil || a.Zone() != "" {
			return "the brackets must hold an IP address"
		}
		return ""
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return ""
	}
	if strings.Contains(s, ":") {
		return "a port cannot be part of it (IIS took the port from RemoteSmtpPort)"
	}
	return validHostname(s)
}
