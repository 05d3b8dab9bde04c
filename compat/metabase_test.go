package compat

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/mailbridge/mailbridge/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestImportGolden imports every testdata/*.xml and compares the result with
// testdata/*.toml; every golden must also load as a mailbridge configuration.
// Run `go test ./compat -run Golden -update` to rewrite the goldens.
func TestImportGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.xml: %v", err)
	}
	type golden struct {
		name, xml string
		site      int
	}
	var cases []golden
	for _, f := range files {
		cases = append(cases, golden{strings.TrimSuffix(filepath.Base(f), ".xml"), f, 1})
	}
	// --site picks another virtual server of the same file.
	cases = append(cases, golden{"smarthost-tls-site2", "testdata/smarthost-tls.xml", 2})
	// IPSecurity undecodable (site 2), and denying by name (site 3).
	cases = append(cases, golden{"ipsec-names-only-site2", "testdata/ipsec-names-only.xml", 2})
	cases = append(cases, golden{"ipsec-names-only-site3", "testdata/ipsec-names-only.xml", 3})
	// Unicode, final-dot and wildcard alias domains beside real ones.
	cases = append(cases, golden{"domains-unmatchable-site2", "testdata/domains-unmatchable.xml", 2})
	// A variable the import cannot know in LogFileDirectory.
	cases = append(cases, golden{"env-paths-site2", "testdata/env-paths.xml", 2})
	// Required TLS: IIS skipped the certificate checks (2), verified a
	// named smart host (3).
	cases = append(cases, golden{"smarthost-ip-tls-site2", "testdata/smarthost-ip-tls.xml", 2})
	cases = append(cases, golden{"smarthost-ip-tls-site3", "testdata/smarthost-ip-tls.xml", 3})
	for _, c := range cases {
		name, xmlFile, site := c.name, c.xml, c.site
		t.Run(name, func(t *testing.T) {
			got := importFile(t, xmlFile, site)
			golden := filepath.Join("testdata", name+".toml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the import of %s:\n%s", golden, xmlFile, lineDiff(string(want), string(got)))
			}
			c, err := parseImport(golden, got)
			if err != nil {
				t.Fatalf("the import does not load:\n%v", err)
			}
			checkNotWider(t, got, c)
		})
	}
}

// checkNotWider fails where an import opens what IIS may have kept shut:
// local_domains = [] written out (every domain local), a relay_from
// covering every address (an open relay).
func checkNotWider(t testing.TB, out []byte, c *config.Config) {
	t.Helper()
	if bytes.Contains(out, []byte("\nlocal_domains = []")) {
		t.Errorf("the import writes local_domains = [] (every domain local):\n%s", out)
	}
	if all4, all6 := config.CoversAll(c.Inbound.RelayFrom); all4 || all6 {
		t.Errorf("the import's relay_from %v is an open relay:\n%s", c.Inbound.RelayFrom, out)
	}
}

// parseImport loads an import as config.Parse does on the machine it is
// made for. Its folders are IIS's, Windows paths, which mailbridge refuses
// elsewhere (a relative folder named 'C:\inetpub\mailroot' would take the
// mail); so outside Windows each is first made a path of this system
// ('C:\inetpub\mailroot' becomes '/C:/inetpub/mailroot', '\\srv\share'
// becomes '//srv/share'), and every other key is checked as on Windows.
func parseImport(name string, out []byte) (*config.Config, error) {
	if runtime.GOOS == "windows" {
		return config.Parse(name, out)
	}
	return config.Parse(name, windowsPathsHere(out))
}

// keyString is a line of an import that sets a key to a string.
var keyString = regexp.MustCompile(`(?m)^\w+ = (?:'[^'\n]*'|"(?:[^"\\\n]|\\.)*")$`)

// windowsPathsHere rewrites the Windows paths of a TOML text as paths of
// this system, for parseImport.
func windowsPathsHere(text []byte) []byte {
	return keyString.ReplaceAllFunc(text, func(line []byte) []byte {
		var kv map[string]any
		if _, err := toml.Decode(string(line), &kv); err != nil || len(kv) != 1 {
			return line
		}
		for k, v := range kv {
			p, ok := v.(string)
			drive := ok && len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
			if !drive && !strings.HasPrefix(p, `\\`) {
				return line
			}
			p = strings.ReplaceAll(p, `\`, "/")
			if drive {
				p = "/" + p
			}
			var b bytes.Buffer
			if err := toml.NewEncoder(&b).Encode(map[string]string{k: p}); err != nil {
				return line
			}
			return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		}
		return line
	})
}

func importFile(t testing.TB, file string, site int) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMetabase(filepath.ToSlash(file), data)
	if err != nil {
		t.Fatalf("ParseMetabase: %v", err)
	}
	out, err := ImportIIS(m, site)
	if err != nil {
		t.Fatalf("ImportIIS: %v", err)
	}
	return out
}

// lineDiff shows the first lines that differ, with their numbers.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
			if shown++; shown == 10 {
				break
			}
		}
	}
	return b.String()
}

// A UTF-16 copy (what Notepad's "Unicode" writes) imports like the original.
func TestImportUTF16(t *testing.T) {
	data, err := os.ReadFile("testdata/fresh-install.xml")
	if err != nil {
		t.Fatal(err)
	}
	u := utf16.Encode([]rune(string(data)))
	le := []byte{0xFF, 0xFE}
	for _, c := range u {
		le = binary.LittleEndian.AppendUint16(le, c)
	}
	m1, err := ParseMetabase("a", data)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := ParseMetabase("a", le)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m1, m2) {
		t.Fatal("UTF-16 file parsed differently from the UTF-8 one")
	}
}

func TestParseMetabaseErrors(t *testing.T) {
	tests := []struct {
		name, data string
		line       int
		want       string
	}{
		{"unclosed", "<configuration>\n<MBProperty>\n<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n   MaxMessageSize=\"1\">\n</MBProperty>", 5, "malformed XML"},
		{"bad attribute", "<configuration>\n<IIsSmtpServer Location =\"/LM/SmtpSvc/1\" Max=1>\n</IIsSmtpServer></configuration>", 2, "malformed XML"},
		{"not a metabase", "<html><body>hello</body></html>", 0, "not an IIS MetaBase.xml"},
		{"empty", "", 0, "not an IIS MetaBase.xml"},
		{"custom without name", "<c>\n<IIsSmtpServer Location=\"/LM/SmtpSvc/1\">\n\n<Custom Value=\"1\"/>\n</IIsSmtpServer></c>", 4, "without a Name"},
		{"latin-1", "<c>\xe9</c>", 0, "not UTF-8"},
		// XML 1.0's "Unique Att Spec": encoding/xml keeps both values.
		{"duplicate attribute", "<c>\n<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n\tMaxMessageSize=\"10485760\"\n\tMaxMessageSize=\"1048576\"/>\n</c>", 4, "attribute MaxMessageSize appears twice in <IIsSmtpServer> (line 2)"},
		{"duplicate attribute, one line", "<c><IIsSmtpServer Location=\"/LM/SmtpSvc/1\" A=\"1\" A=\"1\"/></c>", 1, "attribute A appears twice"},
		{"utf-16le without BOM", string(utf16LE("<?xml version=\"1.0\"?>\n<c/>")), 0, "UTF-16 without a byte-order mark (little-endian)"},
		{"utf-16be without BOM", string(utf16BE("\r\n<c/>")), 0, "UTF-16 without a byte-order mark (big-endian)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetabase("MetaBase.xml", []byte(tt.data))
			var me *MetabaseError
			if !errors.As(err, &me) || !errors.Is(err, ErrMetabase) {
				t.Fatalf("got %v, want a *MetabaseError", err)
			}
			if me.Line != tt.line || me.File != "MetaBase.xml" || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %q (line %d), want line %d and %q", err, me.Line, tt.line, tt.want)
			}
		})
	}
}

func utf16LE(s string) []byte {
	var b []byte
	for _, c := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}

func utf16BE(s string) []byte {
	var b []byte
	for _, c := range utf16.Encode([]rune(s)) {
		b = binary.BigEndian.AppendUint16(b, c)
	}
	return b
}

func TestImportErrors(t *testing.T) {
	head := "<?xml version =\"1.0\"?>\n<configuration>\n<MBProperty>\n"
	tail := "</MBProperty>\n</configuration>\n"
	tests := []struct {
		name, body string
		site       int
		line       int
		want       string
	}{
		{"no server", `<IIsWebServer Location ="/LM/W3SVC/1"/>`, 1, 0, "no SMTP virtual server"},
		{"other site", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"/>\n<IIsSmtpServer Location =\"/LM/SmtpSvc/3\"/>", 2, 0, "/LM/SmtpSvc/1 (line 4), /LM/SmtpSvc/3 (line 5)"},
		{"bad size", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n\tMaxMessageSize=\"lots\"/>", 1, 5, `MaxMessageSize: "lots" is not a number`},
		{"bad binding", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n\tServerBindings=\":smtp:\"/>", 1, 5, `port "smtp"`},
		{"bad port", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n\n\tRemoteSmtpPort=\"70000\"/>", 1, 6, "RemoteSmtpPort: port 70000"},
		{"drop is pickup", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n\tPickupDirectory=\"D:\\Mail\\In\"\n\tDropDirectory=\"d:\\mail\\in\\\"/>", 1, 6, "DropDirectory: Drop is the same folder as Pickup"},
		{"bad bool", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n\tSmtpDotStuffPickupDirFiles=\"maybe\"/>", 1, 5, "not TRUE or FALSE"},
		{"attribute and custom differ", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n\tMaxMessageSize=\"10485760\">\n<Custom Name=\"MaxMessageSize\" ID=\"36865\" Value=\"1048576\" Type=\"DWORD\"/>\n</IIsSmtpServer>", 1, 6,
			`MetaBase.xml:6: /LM/SmtpSvc/1: MaxMessageSize is given twice with different values, "10485760" on line 5 and "1048576" on line 6`},
		{"two customs differ", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\">\n<Custom Name=\"RelayIpList\" Value=\"" + relayLocalhost + "\"/>\n<Custom Name=\"relayiplist\" Value=\"\"/>\n</IIsSmtpServer>", 1, 6,
			"relayiplist is given twice with different values"},
		{"domain property differs", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"/>\n<IIsSmtpDomain Location =\"/LM/SmtpSvc/1/Domain/a.example\" RouteAction=\"1\">\n<Custom Name=\"RouteAction\" Value=\"16\"/>\n</IIsSmtpDomain>", 1, 6,
			"/LM/SmtpSvc/1/Domain/a.example: RouteAction is given twice"},
		{"same location twice", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"/>\n<IIsSmtpServer Location =\"/LM/SMTPSVC/1/\" ServerBindings=\":26:\"/>", 1, 5,
			"Location /LM/SMTPSVC/1/ is given twice, by <IIsSmtpServer> on line 4 and <IIsSmtpServer> on line 5"},
		{"other site twice", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"/>\n<IIsSmtpServer Location =\"/LM/SmtpSvc/2\"/>\n<IIsSmtpServer Location =\"/LM/SmtpSvc/2\"/>", 1, 6,
			"Location /LM/SmtpSvc/2 is given twice"},
		{"unknown variable in a folder", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n\tPickupDirectory=\"%MAILROOT%\\Pickup\"/>", 1, 5,
			`PickupDirectory: %MAILROOT%\Pickup holds the environment variable %MAILROOT%`},
		{"control character in a folder", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n\tQueueDirectory=\"D:\\Q\x7f\"/>", 1, 5,
			"QueueDirectory: \"D:\\\\Q\\x7f\" holds a control character"},
		{"bad flags", "<IIsSmtpServer Location =\"/LM/SmtpSvc/1\">\n<Custom Name=\"AuthFlags\" ID=\"6000\" Value=\"AuthBasic | AuthMagic\" Type=\"DWORD\"/>\n</IIsSmtpServer>", 1, 5, "AuthFlags"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMetabase("MetaBase.xml", []byte(head+tt.body+"\n"+tail))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ImportIIS(m, tt.site)
			var me *MetabaseError
			if !errors.As(err, &me) {
				t.Fatalf("got %v, want a *MetabaseError", err)
			}
			if me.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %q (line %d), want line %d and %q", err, me.Line, tt.line, tt.want)
			}
		})
	}
}

// The same value given twice (an attribute and a <Custom> child, as
// some export tools write) is no conflict: it imports as given once.
func TestImportIdenticalDuplicate(t *testing.T) {
	once := importSite1(t, `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" MaxMessageSize="10485760"/></c>`)
	twice := importSite1(t, `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" MaxMessageSize="10485760">`+
		`<Custom Name="MaxMessageSize" ID="36865" Value=" 10485760 " Type="DWORD"/></IIsSmtpServer></c>`)
	if !bytes.Equal(once, twice) {
		t.Fatalf("a repeated identical value changed the import:\n%s", lineDiff(string(once), string(twice)))
	}
}

func TestMetabaseUint(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"100", 100, true},
		{"0x400", 0x400, true},
		{"-1", 0xFFFFFFFF, true},
		{"4294967295", 0xFFFFFFFF, true},
		{"AuthBasic | AuthAnonymous", 3, true},
		{"authntlm|AUTHBASIC", 6, true},
		{"AuthBasic | 16", 18, true},
		{"", 0, false},
		{"AuthBasic |", 0, false},
		{"4294967296", 0, false},
		{"twelve", 0, false},
	}
	for _, tt := range tests {
		got, err := MetabaseUint(tt.in, authFlagNames)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("MetabaseUint(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// The RelayIpList that allows 127.0.0.1, byte for byte as scripts set it
// through WMI (the layout DecodeIPSecList documents).
const relayLocalhost = "1800008020000080" + "3C00008044000080" + "010000004C000000" +
	"0000000000000000" + "0100000001000000" + "0200000002000000" + "0400000000000000" + "4C000080" +
	"0000000000000000" + "0000000000000000" + "FFFFFFFF" + "7F000001"

func TestDecodeIPSecListVector(t *testing.T) {
	l, err := DecodeIPSecList(relayLocalhost)
	if err != nil {
		t.Fatal(err)
	}
	want := &IPSecList{Grant: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("got %+v, want %+v", l, want)
	}
	if got := encodeIPSecList(want); !strings.EqualFold(got, relayLocalhost) {
		t.Fatalf("test encoder disagrees with the vector:\n got %s\nwant %s", got, relayLocalhost)
	}
}

func TestDecodeIPSecListRoundTrip(t *testing.T) {
	tests := []*IPSecList{
		{Grant: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("192.168.1.10/32")}},
		{Deny: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, DenyNames: []string{"*.spam.example"}},
		{Grant: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")}, GrantNames: []string{"app.example.com", "*.corp.example.com"}},
		{},
	}
	for _, want := range tests {
		got, err := DecodeIPSecList(encodeIPSecList(want))
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	for _, bad := range []string{"zz", "0100", relayLocalhost[:len(relayLocalhost)-8], "FFFFFFFF" + relayLocalhost[8:]} {
		if l, err := DecodeIPSecList(bad); err == nil {
			t.Errorf("DecodeIPSecList(%q) = %+v, want an error", bad, l)
		}
	}
	if l, err := DecodeIPSecList(" \n\t "); l != nil || err != nil {
		t.Errorf("blank value: got %v, %v", l, err)
	}
}

// IIS compares (client & mask) == (address & mask), so an address stored
// with bits set beyond its mask (10.0.0.1 with 255.0.0.0) stands for the
// whole subnet. The import writes it as that range, without host bits
// (10.0.0.0/8), which the configuration refuses: "10.0.0.1/8" could be
// one host meant, or the /8.
func TestImportIPSecListHostBits(t *testing.T) {
	unmasked := func(s string, bits int) netip.Prefix { return netip.PrefixFrom(netip.MustParseAddr(s), bits) }
	relay := encodeIPSecList(&IPSecList{Grant: []netip.Prefix{unmasked("10.0.0.1", 8), unmasked("192.168.1.77", 24), unmasked("2001:db8::1", 32), unmasked("::ffff:172.16.5.4", 108)}})
	ipsec := encodeIPSecList(&IPSecList{Deny: []netip.Prefix{unmasked("203.0.113.9", 24)}})
	out := importSite1(t, `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" RelayIpList="`+relay+`" IPSecurity="`+ipsec+`"/></c>`)
	for _, want := range []string{
		`relay_from = ["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "::ffff:172.16.0.0/108"]`,
		`deny_from = ["203.0.113.0/24"]`,
	} {
		if !strings.Contains(string(out), "\n"+want+"\n") {
			t.Errorf("want %s in:\n%s", want, out)
		}
	}
	if _, err := parseImport("import.toml", out); err != nil {
		t.Fatalf("the import does not load: %v\n%s", err, out)
	}
}

// IIS's lists are IPv4 only, and mailbridge listens on IPv6 too: where a
// list names 127.0.0.1, ::1, the same machine, is added, to grants and to
// denials alike (found from outside: "localhost" reaches ::1 first).
func TestImportAddsIPv6Loopback(t *testing.T) {
	one := netip.MustParsePrefix("127.0.0.1/32")
	for _, tt := range []struct {
		relay, ipsec *IPSecList
		want         []string
	}{
		{&IPSecList{Grant: []netip.Prefix{one}}, &IPSecList{Grant: []netip.Prefix{one, netip.MustParsePrefix("10.0.0.0/8")}},
			[]string{`relay_from = ["127.0.0.1", "::1"]`, `allow_from = ["127.0.0.1", "10.0.0.0/8", "::1"]`}},
		{&IPSecList{Grant: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, &IPSecList{Deny: []netip.Prefix{one}},
			[]string{`relay_from = ["10.0.0.0/8"]`, `deny_from = ["127.0.0.1", "::1"]`}},
	} {
		out := importSite1(t, `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" RelayIpList="`+encodeIPSecList(tt.relay)+`" IPSecurity="`+encodeIPSecList(tt.ipsec)+`"/></c>`)
		for _, want := range tt.want {
			if !strings.Contains(string(out), "\n"+want+"\n") {
				t.Errorf("want %s in:\n%s", want, out)
			}
		}
	}
}

// encodeIPSecList writes l in the layout DecodeIPSecList reads: one address
// entry per run of equal masks, names one to an entry.
func encodeIPSecList(l *IPSecList) string {
	const ref = 0x80000000
	type entry struct {
		family, size int
		bits         int
		addrs        []netip.Addr
	}
	group := func(ps []netip.Prefix) []entry {
		var es []entry
		for _, p := range ps {
			size, fam := 4, 2
			if p.Addr().Is6() {
				size, fam = 16, 23
			}
			if n := len(es); n > 0 && es[n-1].bits == p.Bits() && es[n-1].size == size {
				es[n-1].addrs = append(es[n-1].addrs, p.Addr())
				continue
			}
			es = append(es, entry{fam, size, p.Bits(), []netip.Addr{p.Addr()}})
		}
		return es
	}
	deny, grant := group(l.Deny), group(l.Grant)
	off := 24
	denyAt := off
	off += 8 + 20*len(deny)
	grantAt := off
	off += 8 + 20*len(grant)
	denyNameAt := off
	off += 8 + 12*len(l.DenyNames)
	grantNameAt := off
	off += 8 + 12*len(l.GrantNames)
	refSize := off
	var data []byte
	u32 := func(b []byte, v int) []byte { return binary.LittleEndian.AppendUint32(b, uint32(v)) }
	addrHeader := func(es []entry, n int) []byte {
		b := u32(u32(nil, len(es)), n)
		for _, e := range es {
			first := off + len(data)
			mask := make([]byte, e.size)
			for i := 0; i < e.bits; i++ {
				mask[i/8] |= 0x80 >> (i % 8)
			}
			data = append(data, mask...)
			for _, a := range e.addrs {
				data = append(data, a.AsSlice()...)
			}
			last := 0
			if e.bits%8 != 0 {
				last = int(mask[e.bits/8])
			}
			b = u32(u32(u32(u32(u32(b, e.family), len(e.addrs)+1), e.bits/8), last), first|ref)
		}
		return b
	}
	nameHeader := func(names []string) []byte {
		b := u32(u32(nil, len(names)), len(names))
		for _, n := range names {
			at := off + len(data)
			data = append(append(data, n...), 0)
			b = u32(u32(u32(b, strings.Count(n, ".")+1), 1), at|ref)
		}
		return b
	}
	var h []byte
	h = u32(h, denyAt|ref)
	h = u32(h, grantAt|ref)
	h = u32(h, denyNameAt|ref)
	h = u32(h, grantNameAt|ref)
	h = u32(h, 1)
	h = u32(h, refSize)
	h = append(h, addrHeader(deny, len(l.Deny))...)
	h = append(h, addrHeader(grant, len(l.Grant))...)
	h = append(h, nameHeader(l.DenyNames)...)
	h = append(h, nameHeader(l.GrantNames)...)
	return strings.ToUpper(hex.EncodeToString(append(h, data...)))
}

// FuzzImportIIS checks that no input crashes the parser or the importer,
// and that whatever the importer writes loads as a mailbridge
// configuration: an import never hands an administrator a file that
// mailbridge then rejects.
func FuzzImportIIS(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint8(1))
	}
	f.Add([]byte("<c><IIsSmtpServer Location =\"/LM/SmtpSvc/1\" RelayIpList=\""+relayLocalhost+"\"/></c>"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, site uint8) {
		m, err := ParseMetabase("MetaBase.xml", data)
		if err != nil {
			if !errors.Is(err, ErrMetabase) {
				t.Fatalf("error is not a MetabaseError: %v", err)
			}
			return
		}
		out, err := ImportIIS(m, int(site%4))
		if err != nil {
			if !errors.Is(err, ErrMetabase) {
				t.Fatalf("error is not a MetabaseError: %v", err)
			}
			return
		}
		c, err := parseImport("import.toml", out)
		if err != nil {
			t.Fatalf("the import does not load: %v\n%s", err, out)
		}
		checkNotWider(t, out, c)
	})
}

func FuzzDecodeIPSecList(f *testing.F) {
	f.Add(relayLocalhost)
	f.Add(encodeIPSecList(&IPSecList{Deny: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, GrantNames: []string{"a.example"}}))
	f.Fuzz(func(t *testing.T, s string) {
		DecodeIPSecList(s)
	})
}

// FuzzImportValues puts arbitrary values into the properties the importer
// converts, so that the fuzzer reaches the conversions rather than the XML
// syntax; every import it accepts must load.
func FuzzImportValues(f *testing.F) {
	f.Add("mail.example.com", "[10.0.0.5]", ":25:", `C:\m\Pickup`, `C:\m\Drop`, `C:\m\Queue`, `C:\m\Badmail`, "2097152", "15,30,60,240", "example.com")
	f.Add("", "smtp.example.com", "10.0.0.1:2525:\n:25:", `D:\In`, `D:\Out\Drop\`, `E:\Q`, `\\srv\share\Bad`, "52428800", "1", "*.example.com")
	// Found by this target: a retry beyond any duration (some 292 years)
	// was written, and could not be loaded.
	f.Add("mail.example.com", "", ":25:", `C:\m\Pickup`, `C:\m\Drop`, `C:\m\Queue`, `C:\m\Badmail`, "2097152", "200000000", "example.com")
	f.Fuzz(func(t *testing.T, fqdn, smart, bindings, pickup, drop, queue, badmail, size, retry, domain string) {
		var b strings.Builder
		b.WriteString("<configuration><MBProperty>\n<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n")
		for _, kv := range [][2]string{
			{"FullyQualifiedDomainName", fqdn}, {"SmartHost", smart}, {"ServerBindings", bindings},
			{"PickupDirectory", pickup}, {"DropDirectory", drop}, {"QueueDirectory", queue},
			{"BadMailDirectory", badmail}, {"MaxMessageSize", size}, {"SmtpRemoteProgressiveRetry", retry},
			{"DefaultDomain", domain}, {"RelayIpList", hex.EncodeToString([]byte(domain))},
		} {
			var v bytes.Buffer
			if err := xmlEscape(&v, kv[1]); err != nil {
				return
			}
			b.WriteString("\t" + kv[0] + "=\"" + v.String() + "\"\n")
		}
		b.WriteString(">\n</IIsSmtpServer>\n<IIsSmtpDomain Location =\"/LM/SmtpSvc/1/Domain/")
		var v bytes.Buffer
		if err := xmlEscape(&v, domain); err != nil {
			return
		}
		b.WriteString(v.String() + "\" RouteAction=\"16\"/>\n</MBProperty></configuration>\n")
		m, err := ParseMetabase("MetaBase.xml", []byte(b.String()))
		if err != nil {
			return // values XML cannot carry, such as control characters
		}
		out, err := ImportIIS(m, 1)
		if err != nil {
			if !errors.Is(err, ErrMetabase) {
				t.Fatalf("error is not a MetabaseError: %v", err)
			}
			return
		}
		c, err := parseImport("import.toml", out)
		if err != nil {
			t.Fatalf("the import does not load: %v\n%s", err, out)
		}
		checkNotWider(t, out, c)
	})
}

func xmlEscape(w *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	return xml.EscapeText(w, []byte(s))
}

// The product promises 20 MB attachments: IIS's untouched 2 MB default is
// never imported, and a smaller limit set on purpose comes with a warning.
func TestImportSizes(t *testing.T) {
	tests := []struct {
		attr     string
		msg, att int64
		warn     bool
	}{
		{"", 30 << 20, 20 << 20, false},
		{`MaxMessageSize="2097152"`, 30 << 20, 20 << 20, false},
		{`MaxMessageSize="0"`, 30 << 20, 20 << 20, false},
		// The DWORD's largest value, either spelling: no limit, as 0.
		{`MaxMessageSize="4294967295"`, 30 << 20, 20 << 20, false},
		{`MaxMessageSize="-1"`, 30 << 20, 20 << 20, false},
		{`MaxMessageSize="10485760"`, 10 << 20, 7680 << 10, true},
		{`MaxMessageSize="1000"`, 1000, 1000, true},
		{`MaxMessageSize="52428800"`, 50 << 20, 37.5 * (1 << 20), false},
	}
	for _, tt := range tests {
		m, err := ParseMetabase("MetaBase.xml", []byte(`<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" `+tt.attr+`/></c>`))
		if err != nil {
			t.Fatal(err)
		}
		out, err := ImportIIS(m, 1)
		if err != nil {
			t.Fatal(err)
		}
		c, err := parseImport("import.toml", out)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tt.attr, err, out)
		}
		if c.Inbound.MaxMessageSize != tt.msg || c.Inbound.MaxAttachmentSize != tt.att {
			t.Errorf("%s: max_message_size %d, max_attachment_size %d; want %d, %d", tt.attr, c.Inbound.MaxMessageSize, c.Inbound.MaxAttachmentSize, tt.msg, tt.att)
		}
		if got := strings.Contains(string(out), "WARNING: IIS MaxMessageSize"); got != tt.warn {
			t.Errorf("%s: warning %v, want %v", tt.attr, got, tt.warn)
		}
		if nolimit := strings.Contains(tt.attr, `"0"`) || strings.Contains(tt.attr, "-1") || strings.Contains(tt.attr, "4294967295"); nolimit && !strings.Contains(string(out), "): no limit.") {
			t.Errorf("%s: the import does not say IIS had no limit:\n%s", tt.attr, out)
		}
	}
}

// MaxRecipients above mailbridge's largest (IIS writes 4294967295 for
// no limit) is imported as that largest, not as the default of 100.
func TestImportMaxRecipients(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  int
		note  string
	}{
		{"500", 500, "IIS MaxRecipients: recipients"},
		{"1000000", 1000000, "IIS MaxRecipients: recipients"},
		{"4294967295", 1000000, "IIS MaxRecipients = 4294967295 (line 1): no practical limit"},
		{"-1", 1000000, "IIS MaxRecipients = -1 (the DWORD 4294967295) (line 1): no practical limit"},
		{"-5", 1000000, "IIS MaxRecipients = -5 (the DWORD 4294967291) (line 1): no practical limit"},
		{"0x1F4", 500, "IIS MaxRecipients: recipients"},
		{"0", 100, "IIS MaxRecipients = 0 (line 1) is outside 1 to 1000000"},
	} {
		out := importSite1(t, `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" MaxRecipients="`+tt.value+`"/></c>`)
		c, err := parseImport("import.toml", out)
		if err != nil {
			t.Fatalf("%s: %v", tt.value, err)
		}
		text := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\n# ", " ")), " ")
		if c.Inbound.MaxRecipients != tt.want || !strings.Contains(text, tt.note) {
			t.Errorf("MaxRecipients %s: max_recipients %d, want %d and the note %q:\n%s", tt.value, c.Inbound.MaxRecipients, tt.want, tt.note, out)
		}
	}
}

// A second ServerBinding cannot be served: the advice says how to reach
// mailbridge instead, and never suggests a second instance on the same
// folders, which the mail root's lock refuses.
// A timeout of more than a day is taken for none (found from outside:
// RemoteTimeout="-5" became command_timeout = "4294967291s"), and a retry
// list that is not one is said on screen as well as in the file.
func TestImportOddTimeoutsAndRetry(t *testing.T) {
	m, err := ParseMetabase("MetaBase.xml", []byte(`<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" RemoteTimeout="-5" ConnectionTimeout="90000" SmtpRemoteProgressiveRetry="10,x,30"/></c>`))
	if err != nil {
		t.Fatal(err)
	}
	out, notes, err := ImportIISNotes(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{"IIS RemoteTimeout = -5 (the DWORD 4294967291) (line 1) is not a timeout", "IIS ConnectionTimeout = 90000 (line 1) is not a timeout"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "command_timeout =") || strings.Contains(text, "\nretry =") {
		t.Errorf("imported:\n%s", text)
	}
	if !strings.Contains(strings.Join(notes, "\n"), `IIS SmtpRemoteProgressiveRetry "10,x,30" (line 1) is not a list of minutes`) {
		t.Errorf("notes: %q", notes)
	}
}

func TestImportExtraBindings(t *testing.T) {
	for _, tt := range []struct {
		bindings, want string
	}{
		{"192.168.1.5:25:\n192.168.1.6:2525:", `point its clients at 192.168.1.5 port 25`},
		{"192.168.1.5:25:\n192.168.1.6:25:", `set bind = "" to listen on port 25 of every address`},
		{"192.168.1.6:2525:\n:25:", `point its clients at port 25`},
	} {
		out := importSite1(t, `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" ServerBindings="`+tt.bindings+`"/></c>`)
		text := strings.Join(strings.Fields(strings.ReplaceAll(string(out), "\n# ", " ")), " ")
		if !strings.Contains(text, tt.want) || !strings.Contains(text, "the mail root is locked by the mailbridge using it") || strings.Contains(text, "run a second mailbridge") {
			t.Errorf("%q:\n%s", tt.bindings, out)
		}
	}
}

// The smart host's user name is written into [outbound], commented out with
// a password file to fill in, whether or not RouteAction asks IIS to
// authenticate (IIS keeps the name when security is set back to
// anonymous); it is never left among the settings not carried over.
func TestImportRouteUserName(t *testing.T) {
	tests := []struct {
		name, service, server string
		user, note            string // "" user: no username line
	}{
		{"user, no RouteAction", ``, `RouteUserName="relayuser"`,
			"relayuser", `IIS RouteUserName "relayuser" (line 1) is set, but RouteAction asks for no authentication`},
		{"user, anonymous RouteAction", ``, `RouteAction="0" RouteUserName="relayuser"`,
			"relayuser", `IIS RouteUserName "relayuser" (line 1) is set, but RouteAction asks for no authentication`},
		{"user inherited from the service", `RouteUserName="relayuser"`, `SmartHost="hub.test"`,
			"relayuser", `IIS RouteUserName "relayuser" (line 1) is set`},
		{"basic authentication", ``, `RouteAction="256" RouteUserName="relayuser"`,
			"relayuser", `IIS authenticated to the smart host as "relayuser" (RouteAction 256, line 1)`},
		{"NTLM without a user", ``, `RouteAction="SMTP_AUTH_NTLM"`,
			"user@example.com", `IIS authenticated to the smart host (RouteAction 128, line 1)`},
		{"quote in the user", ``, `RouteUserName="a&quot;b"`, `a\"b`, `IIS RouteUserName "a"b"`},
		{"no user, anonymous", ``, `RouteAction="0"`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xml := `<c><IIsSmtpService Location ="/LM/SmtpSvc" ` + tt.service + `/><IIsSmtpServer Location ="/LM/SmtpSvc/1" ` + tt.server + `/></c>`
			raw := importSite1(t, xml)
			out := string(raw)
			if _, err := parseImport("import.toml", raw); err != nil {
				t.Fatalf("the import does not load: %v\n%s", err, out)
			}
			outbound := out[strings.Index(out, "\n[outbound]\n"):strings.Index(out, "\n[pickup]\n")]
			if tt.user == "" {
				if strings.Contains(outbound, "username") {
					t.Fatalf("username in [outbound]:\n%s", outbound)
				}
				return
			}
			for _, want := range []string{"\n# username = \"" + tt.user + "\"\n", "\n# password_file = '"} {
				if !strings.Contains(outbound, want) {
					t.Errorf("[outbound] lacks %q:\n%s", want, outbound)
				}
			}
			// The comments unwrapped, to find the notes.
			text := strings.Join(strings.Fields(strings.ReplaceAll(outbound, "# ", "")), " ")
			for _, want := range []string{tt.note, "uncomment both lines"} {
				if !strings.Contains(text, want) {
					t.Errorf("[outbound] lacks the note %q:\n%s", want, outbound)
				}
			}
			if strings.Contains(out, "RouteUserName = ") {
				t.Errorf("RouteUserName listed as not carried over:\n%s", out)
			}
		})
	}
}

// Basic authentication that IIS did without TLS (AlwaysUseSsl FALSE, its
// default) is imported with verify_certificate = false: once the
// administrator uncomments username, mailbridge's default would verify the
// smart host's certificate and defer every message to a self-signed one,
// which IIS reached. Where IIS required TLS, or did not send the password
// itself (NTLM), the default stays.
func TestImportClearTextAuth(t *testing.T) {
	const note = "IIS sent the smart host's password without TLS"
	tests := []struct {
		name, attrs string
		verify      string // the verify_certificate line written, "" none
	}{
		{"Basic, AlwaysUseSsl FALSE", `SmartHost="exch01.fabrikam.local" AlwaysUseSsl="FALSE" RouteAction="0x100"`, "\nverify_certificate = false\n"},
		{"Basic, AlwaysUseSsl not set", `SmartHost="exch01.fabrikam.local" RouteAction="SMTP_AUTH_CLEARTEXT"`, "\nverify_certificate = false\n"},
		{"Basic and NTLM", `SmartHost="[10.0.0.5]" RouteAction="0x180"`, "\nverify_certificate = false\n"},
		{"Basic, no smart host", `RouteAction="256"`, "\n# verify_certificate = false\n"},
		{"Basic over TLS", `SmartHost="exch01.fabrikam.local" AlwaysUseSsl="TRUE" RouteAction="256"`, ""},
		{"NTLM", `SmartHost="exch01.fabrikam.local" RouteAction="SMTP_AUTH_NTLM"`, ""},
		{"anonymous", `SmartHost="exch01.fabrikam.local" RouteAction="0"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xml := `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" FullyQualifiedDomainName="app02.fabrikam.local" RouteUserName="FABRIKAM\svc-relay" ` + tt.attrs + `/></c>`
			m, err := ParseMetabase("MetaBase.xml", []byte(xml))
			if err != nil {
				t.Fatal(err)
			}
			raw, notes, err := ImportIISNotes(m, 1)
			if err != nil {
				t.Fatal(err)
			}
			out := string(raw)
			noted := strings.Contains(strings.Join(notes, "\n"), note)
			if tt.verify == "" {
				if strings.Contains(out, "verify_certificate = false") || noted {
					t.Fatalf("verify_certificate = false or the note, where IIS did not send the password in plain text:\n%s\nnotes: %q", out, notes)
				}
				return
			}
			if !strings.Contains(out, tt.verify) || !noted {
				t.Fatalf("want %q in [outbound] and the note %q:\n%s\nnotes: %q", tt.verify, note, out, notes)
			}
			if strings.HasPrefix(tt.verify, "\n# ") {
				return // no server to finish the import with
			}
			// As the administrator finishes it: the user name and a
			// password uncommented. The certificate stays unchecked and
			// TLS opportunistic, so the password goes only over STARTTLS.
			done := strings.Replace(out, "\n# username = ", "\nusername = ", 1)
			done = regexp.MustCompile(`\n# password_file = '[^'\n]*'\n`).ReplaceAllString(done, "\npassword = \"secret\"\n")
			c, err := parseImport("import.toml", []byte(done))
			if err != nil {
				t.Fatalf("the finished import does not load: %v\n%s", err, done)
			}
			if o := c.Outbound; o.Username != `FABRIKAM\svc-relay` || o.Password != "secret" || o.TLS != "opportunistic" || o.VerifyCertificate {
				t.Errorf("username %q, password %q, tls %q, verify_certificate %v; want FABRIKAM\\svc-relay, secret, opportunistic, false", o.Username, o.Password, o.TLS, o.VerifyCertificate)
			}
		})
	}
}

// SmartHostType says whether IIS used its smart host: 0 never (it
// delivered to MX itself), 1 after direct delivery failed, 2 always. The
// import says so where mailbridge, which always uses it, differs.
func TestImportSmartHostType(t *testing.T) {
	for _, tt := range []struct{ typ, want string }{
		{"0", "IIS SmartHostType = 0 (line 1): IIS did not use this smart host"},
		{"1", "IIS SmartHostType = 1 (line 1): IIS tried direct delivery first"},
		{"2", ""},
	} {
		xml := `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" SmartHost="[10.0.0.5]" SmartHostType="` + tt.typ + `"/></c>`
		raw := importSite1(t, xml)
		out := strings.Join(strings.Fields(strings.ReplaceAll(string(raw), "\n# ", " ")), " ")
		if !strings.Contains(out, `server = "[10.0.0.5]"`) {
			t.Fatalf("type %s: no server:\n%s", tt.typ, raw)
		}
		if tt.want != "" && !strings.Contains(out, tt.want) || tt.want == "" && strings.Contains(out, "SmartHostType") {
			t.Errorf("type %s:\n%s", tt.typ, raw)
		}
	}
}

// ImportIISNotes lists on the screen, one line each, what works
// differently after the migration: README step 2 promises it, and a
// comment in the file alone is found too late (found from outside). Each
// want is part of one note; none may be in any note.
func TestImportNotes(t *testing.T) {
	server := func(attrs string) string {
		return `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" FullyQualifiedDomainName="mail.contoso.example" SmartHost="relay.contoso.example" ` + attrs + `/></c>`
	}
	tests := []struct {
		name, file, xml string // file: a testdata file, else xml
		site            int
		want, none      []string
	}{
		{name: "fresh install", file: "testdata/fresh-install.xml", site: 1,
			none: []string{"local domain", "AUTH", "relay_from", "deny_from"}},
		{name: "no domains", file: "testdata/no-domains.xml", site: 1,
			want: []string{"no local domain was imported, so every domain is local: all mail received over SMTP goes to Drop, none of it is relayed, and any client can put mail for any domain into Drop; set [inbound] local_domains"}},
		{name: "IPSecurity by host name only", file: "testdata/ipsec-names-only.xml", site: 1,
			want: []string{"IIS IPSecurity (line 6) let in only clients named by host name (app1.contoso.example), which mailbridge cannot match, so [inbound] deny_from refuses every client: none can connect until you list their addresses in allow_from and delete that line"}},
		{name: "IPSecurity undecodable", file: "testdata/ipsec-names-only.xml", site: 2,
			want: []string{"IIS IPSecurity (line 12) could not be decoded, so [inbound] deny_from refuses every client"}},
		{name: "IPSecurity denying by name", file: "testdata/ipsec-names-only.xml", site: 3,
			none: []string{"deny_from refuses every client"}},
		{name: "RelayIpList undecodable", xml: server(`RelayIpList="18000080 not hex"`),
			want: []string{"IIS RelayIpList (line 1) could not be decoded, so relay_from = []: clients that relayed through IIS are refused; list them in [inbound] relay_from"}},
		{name: "RelayIpList all except", file: "testdata/open-relay.xml", site: 1,
			want: []string{"IIS RelayIpList (line 6) let every client relay (an open relay), which is not imported, so relay_from = []: clients that relayed through IIS are refused"}},
		{name: "RelayIpList granting all", file: "testdata/open-relay-grant.xml", site: 1,
			want: []string{"(an open relay), which is not imported, so relay_from = []"}},
		{name: "RelayIpList empty", xml: server(`RelayIpList=""`),
			none: []string{"relay_from"}},
		{name: "inbound AUTH", xml: server(`AuthFlags="AuthBasic | AuthAnonymous | AuthNTLM"`),
			want: []string{`IIS offered inbound AUTH (AuthFlags "AuthBasic | AuthAnonymous | AuthNTLM", line 1); mailbridge offers none: clients set to log in must send without it, and relay only from addresses in [inbound] relay_from`}},
		{name: "anonymous only", xml: server(`AuthFlags="AuthAnonymous"`),
			none: []string{"AUTH"}},
		{name: "second binding", xml: server("ServerBindings=\"127.0.0.1:25:\n127.0.0.1:587:\""),
			want: []string{`IIS also listened on 127.0.0.1 port 587 (ServerBindings "127.0.0.1:587:"); mailbridge listens only on 127.0.0.1 port 25: point its clients at 127.0.0.1 port 25`}},
		{name: "second address, same port", xml: server("ServerBindings=\"192.168.1.5:25:\n192.168.1.6:25:\""),
			want: []string{`IIS also listened on 192.168.1.6 port 25 (ServerBindings "192.168.1.6:25:"); mailbridge listens only on 192.168.1.5 port 25: set bind = "" to listen on port 25 of every address`}},
		{name: "every address besides one", xml: server("ServerBindings=\"192.168.1.6:2525:\n:25:\""),
			want: []string{`IIS also listened on 192.168.1.6 port 2525 (ServerBindings "192.168.1.6:2525:"); mailbridge listens only on port 25 of every address: point its clients at port 25`}},
		{name: "one binding", xml: server(`ServerBindings=":25:"`),
			none: []string{"listened"}},
		{name: "FQDN not a host name", xml: `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" FullyQualifiedDomainName="host.example.com.." SmartHost="relay.contoso.example"/></c>`,
			want: []string{`IIS FullyQualifiedDomainName "host.example.com.." (line 1) is not a host name mailbridge can announce, so mailbridge will announce this computer's name`}},
		{name: "the same binding twice", xml: server("ServerBindings=\":25:\n:25:\""),
			none: []string{"listened"}},
		{name: "an address, and every address on its port", xml: server("ServerBindings=\"192.168.1.6:25:\n:25:\""),
			none: []string{"listened"}},
		{name: "other virtual servers", file: "testdata/ipsec-names-only.xml", site: 2,
			want: []string{"this configuration serves /LM/SmtpSvc/2 only; the file has other SMTP virtual servers, /LM/SmtpSvc/1 (line 4), /LM/SmtpSvc/3 (line 16): import each with --site N into a configuration of its own"}},
		{name: "one virtual server", file: "testdata/no-domains.xml", site: 1,
			none: []string{"virtual server"}},
		{name: "no smart host", file: "testdata/fresh-install.xml", site: 1,
			want: []string{"IIS had no smart host (it delivered to each domain's mail servers itself); with no [outbound] server, Pickup and relayed mail is queued and never sent; set [outbound] server"}},
		{name: "smart host with a port", xml: `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" SmartHost="smtp.contoso.local:587"/></c>`,
			want: []string{`IIS SmartHost "smtp.contoso.local:587" (line 1) cannot be used: a port cannot be part of it (IIS took the port from RemoteSmtpPort); with no [outbound] server, Pickup and relayed mail is queued and never sent; set [outbound] server`}},
		{name: "smart host not an address", xml: `<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" SmartHost="[relay]"/></c>`,
			want: []string{`IIS SmartHost "[relay]" (line 1) cannot be used: the brackets must hold an IP address; with no [outbound] server, Pickup and relayed mail is queued`}},
		{name: "smart host", xml: server(""),
			none: []string{"[outbound] server"}},
		{name: "NCSA log", xml: server(`LogType="1" LogPluginClsid="{FF16065F-DE82-11CF-BC0A-00AA006111E0}"`),
			want: []string{"IIS logged in the NCSA Common Log File Format (LogPluginClsid {FF16065F-DE82-11CF-BC0A-00AA006111E0}); mailbridge writes W3C Extended instead ([log] w3c_dir): programs that read the old log must read that format"}},
		{name: "unknown log plug-in", xml: server(`LogType="1" LogPluginClsid="{00000000-0000-0000-0000-000000000001}"`),
			want: []string{"IIS logged in another format than W3C Extended (LogPluginClsid {00000000-0000-0000-0000-000000000001})"}},
		{name: "W3C log, lower case", xml: server(`LogType="1" LogPluginClsid="{ff160663-de82-11cf-bc0a-00aa006111e0}"`),
			none: []string{"log"}},
		{name: "NCSA log, logging off", xml: server(`LogType="0" LogPluginClsid="{FF16065F-DE82-11CF-BC0A-00AA006111E0}"`),
			none: []string{"log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xml, file, site := []byte(tt.xml), "MetaBase.xml", 1
			if tt.file != "" {
				var err error
				if xml, err = os.ReadFile(tt.file); err != nil {
					t.Fatal(err)
				}
				file, site = tt.file, tt.site
			}
			m, err := ParseMetabase(file, xml)
			if err != nil {
				t.Fatal(err)
			}
			_, notes, err := ImportIISNotes(m, site)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(notes, "\n")
			for _, n := range notes {
				if strings.ContainsAny(n, "\r\n") {
					t.Errorf("a note of more than one line: %q", n)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("no note says %q; notes:\n%s", w, all)
				}
			}
			for _, w := range tt.none {
				if strings.Contains(all, w) {
					t.Errorf("a note says %q; notes:\n%s", w, all)
				}
			}
		})
	}
}

// importSite1 imports SMTP virtual server 1 of a MetaBase.xml text.
func importSite1(t *testing.T, xml string) []byte {
	t.Helper()
	m, err := ParseMetabase("MetaBase.xml", []byte(xml))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ImportIIS(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A FullyQualifiedDomainName in DNS's absolute form ("mail.contoso.local.")
// is imported without its final dot, which config refuses.
func TestImportFQDNWithFinalDot(t *testing.T) {
	m, err := ParseMetabase("MetaBase.xml", []byte(`<c><IIsSmtpServer Location ="/LM/SmtpSvc/1" FullyQualifiedDomainName="mail.contoso.local."/></c>`))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := ImportIISNotes(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "\nhostname = \"mail.contoso.local\"\n") {
		t.Fatalf("no hostname without the dot in:\n%s", out)
	}
}
