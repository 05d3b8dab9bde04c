package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/config"
)

const testMetabase = `<?xml version ="1.0"?>
<configuration xmlns="urn:microsoft-catalog:XML_Metabase_V64_0">
<MBProperty>
<IIsSmtpService	Location ="/LM/SmtpSvc"
		FullyQualifiedDomainName="mail.example.com"
		MaxMessageSize="2097152"
	>
</IIsSmtpService>
<IIsSmtpServer	Location ="/LM/SmtpSvc/1"
		DropDirectory="D:\Scans\Drop"
		PickupDirectory="D:\Scans\Pickup"
		QueueDirectory="D:\Scans\Queue"
		BadMailDirectory="D:\Scans\Badmail"
		ServerBindings=":2525:"
		SmartHost="[10.0.0.5]"
		RemoteSmtpPort="587"
	>
	<Custom Name="AuthFlags" ID="6000" Value="AuthBasic | AuthAnonymous" Type="DWORD" UserType="IIS_MD_UT_FILE" Attributes="INHERIT" />
</IIsSmtpServer>
<IIsSmtpServer	Location ="/LM/SmtpSvc/2"
		ServerBindings="127.0.0.1:26:"
		RouteUserName="relayuser"
	>
</IIsSmtpServer>
</MBProperty>
</configuration>
`

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := realMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

// import-iis writes a configuration that mailbridge then loads from a file,
// as an administrator would use it: import-iis > mailbridge.toml.
func TestImportIISCommand(t *testing.T) {
	dir := testDir(t)
	mb := filepath.Join(dir, "MetaBase.xml")
	if err := os.WriteFile(mb, []byte(testMetabase), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"import-iis", mb}, []string{"port = 2525", `server = "[10.0.0.5]"`, "port = 587", `root = 'D:\Scans'`, `hostname = "mail.example.com"`}},
		{[]string{"import-iis", "--site", "2", mb}, []string{`bind = "127.0.0.1"`, "port = 26", "\n# username = \"relayuser\"\n"}},
		{[]string{"import-iis", mb, "--site=2"}, []string{"port = 26"}},
	}
	for _, tt := range tests {
		code, out, errs := runCmd(t, tt.args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errs)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
		cfgFile := filepath.Join(dir, "mailbridge.toml")
		if err := os.WriteFile(cfgFile, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(cfgFile)
		if runtime.GOOS == "windows" {
			// The notes on what changes may be there (other sites,
			// AUTH); not the one on Windows paths.
			if err != nil || strings.Contains(errs, "Windows paths") {
				t.Errorf("%v: the imported configuration does not load: %v\nstderr:\n%s", tt.args, err, errs)
			}
			continue
		}
		// Elsewhere IIS's folders, Windows paths, are refused (they would
		// be relative folders named 'D:\Scans' here), and nothing else.
		var problems config.Errors
		if !errors.As(err, &problems) {
			t.Fatalf("%v: the import of Windows paths loads outside Windows: %v", tt.args, err)
		}
		for _, p := range problems {
			if !strings.HasPrefix(p.Key, "mailroot.") && p.Key != "log.w3c_dir" || !p.Is(config.ErrWindowsPath) {
				t.Errorf("%v: %s\nwant only Windows-path problems", tt.args, p)
			}
		}
		if !strings.Contains(errs, "note: the folders are IIS's, Windows paths: the configuration is for a Windows machine") {
			t.Errorf("%v: no note on the Windows paths; stderr:\n%s", tt.args, errs)
		}
	}
}

func TestImportIISCommandErrors(t *testing.T) {
	dir := testDir(t)
	bad := filepath.Join(dir, "broken.xml")
	os.WriteFile(bad, []byte("<configuration>\n<MBProperty>\n<IIsSmtpServer Location =\"/LM/SmtpSvc/1\">\n</MBProperty>\n"), 0o644)
	good := filepath.Join(dir, "MetaBase.xml")
	os.WriteFile(good, []byte(testMetabase), 0o644)
	// Found from outside: the import stopped at the first bad value.
	many := filepath.Join(dir, "many.xml")
	os.WriteFile(many, []byte("<configuration>\n<MBProperty>\n<IIsSmtpServer Location =\"/LM/SmtpSvc/1\"\n"+
		"\tMaxRecipients=\"many\"\n\tServerBindings=\":smtp:\"\n\tRemoteSmtpPort=\"-5\"\n\tRemoteTimeout=\"soon\"/>\n</MBProperty>\n</configuration>\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing file", []string{"import-iis", filepath.Join(dir, "nope.xml")}, 1, "nope.xml"},
		{"malformed", []string{"import-iis", bad}, 1, bad + ":4: malformed XML"},
		{"no such site", []string{"import-iis", good, "--site", "7"}, 1, "no SMTP virtual server /LM/SmtpSvc/7; the file has /LM/SmtpSvc/1 (line 9), /LM/SmtpSvc/2 (line 20)"},
		{"bad site", []string{"import-iis", "--site", "0", good}, 2, "numbered from 1"},
		{"two files", []string{"import-iis", good, good}, 2, "one MetaBase.xml at a time"},
		{"every bad value", []string{"import-iis", many}, 1, "mailbridge import-iis: " + many + ":5: ServerBindings: \":smtp:\": port \"smtp\""},
		{"every bad value", []string{"import-iis", many}, 1, "mailbridge import-iis: " + many + ":4: MaxRecipients: \"many\" is not a number"},
		{"every bad value", []string{"import-iis", many}, 1, "mailbridge import-iis: " + many + ":6: RemoteSmtpPort: port -5 (the DWORD 4294967291) is not from 1 to 65535"},
		// In the file's order (found from outside: by the import's steps).
		{"every bad value", []string{"import-iis", many}, 1, ":4: MaxRecipients: \"many\" is not a number or a known flag name\nmailbridge import-iis: " + many + ":5: ServerBindings"},
		{"every bad value", []string{"import-iis", many}, 1, "mailbridge import-iis: " + many + ":7: RemoteTimeout: \"soon\" is not a number"},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct {
			name string
			args []string
			code int
			want string
		}{"no default", []string{"import-iis"}, 2, "no default outside Windows"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.want) || out != "" {
				t.Fatalf("exit %d, stderr %q, stdout %q; want exit %d and %q", code, errs, out, tt.code, tt.want)
			}
		})
	}
}

// What works differently after the migration is listed on standard error,
// one line each, not only in comments of the file (found from outside).
func TestImportIISNotes(t *testing.T) {
	dir := testDir(t)
	tests := []struct {
		name, xml string
		want      []string
	}{
		{"settings mailbridge does not have", `<configuration><MBProperty>
<IIsSmtpServer Location ="/LM/SmtpSvc/1" ServerBindings=":25:" SmartHost="relay.example.com" SmartHostType="0"
	MasqueradeDomain="corp.example" RouteAction="256" RouteUserName="relayuser"/>
</MBProperty></configuration>
`, []string{
			"  - IIS delivered to each domain's mail servers (SmartHostType = 0)",
			"  - the smart host's password cannot be imported",
			"  - IIS sent the smart host's password without TLS; mailbridge sends it only over STARTTLS, without checking the certificate (verify_certificate = false)",
			`  - MasqueradeDomain = corp.example (line 3) is not carried over: mailbridge relays the sender address untouched`,
		}},
		// What was said only in the file's comments: no domain, no smart
		// host, a second binding, another virtual server, NCSA logging,
		// inbound AUTH.
		{"said only in comments before", `<configuration><MBProperty>
<IIsSmtpServer Location ="/LM/SmtpSvc/1" ServerBindings="127.0.0.1:25:
127.0.0.1:587:" LogType="1" LogPluginClsid="{FF16065F-DE82-11CF-BC0A-00AA006111E0}" AuthFlags="AuthBasic | AuthNTLM"/>
<IIsSmtpServer Location ="/LM/SmtpSvc/2" ServerBindings=":2525:"/>
</MBProperty></configuration>
`, []string{
			"  - this configuration serves /LM/SmtpSvc/1 only; the file has other SMTP virtual servers, /LM/SmtpSvc/2 (line 4): import each with --site N",
			`  - IIS also listened on 127.0.0.1 port 587 (ServerBindings "127.0.0.1:587:"); mailbridge listens only on 127.0.0.1 port 25`,
			"  - no local domain was imported, so every domain is local",
			`  - IIS offered inbound AUTH (AuthFlags "AuthBasic | AuthNTLM", line 3); mailbridge offers none`,
			"  - IIS had no smart host (it delivered to each domain's mail servers itself); with no [outbound] server, Pickup and relayed mail is queued and never sent",
			"  - IIS logged in the NCSA Common Log File Format",
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := filepath.Join(dir, fmt.Sprintf("MetaBase%d.xml", i))
			if err := os.WriteFile(mb, []byte(tt.xml), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCmd(t, "import-iis", mb)
			if code != 0 || !strings.Contains(out, "[outbound]") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
			if !strings.Contains(errs, "mail flows differently here") {
				t.Errorf("stderr lacks the notes' heading:\n%s", errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
}

// The help says where IIS keeps the file, on every system (found from
// outside: on Linux it said "default: none outside Windows" and no more).
// Letter case is compared loosely: on Windows the path comes from
// %SystemRoot%, which Wine spells C:\windows.
func TestImportIISHelpNamesTheFile(t *testing.T) {
	code, out, errs := runCmd(t, "import-iis", "--help")
	if code != 0 || !strings.Contains(strings.ToLower(out+errs), `c:\windows\system32\inetsrv\metabase.xml`) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}
