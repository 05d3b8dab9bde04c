package compat

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mailbridge/mailbridge/config"
)

// IIS defaults of a fresh SMTP virtual server (iis-reference.md section 6),
// used where MetaBase.xml leaves a property out.
const (
	iisDefaultMailroot       = `C:\Inetpub\mailroot`
	iisDefaultMaxMessageSize = 2097152
	iisDefaultLogDir         = `C:\Windows\System32\LogFiles`
)

// mailbridge's own limits: the product promises 20 MB attachments, and
// base64 makes them about 27 MB on the wire.
const (
	promisedAttachment = 20 << 20
	promisedMessage    = 30 << 20
)

// RouteAction bits of IIsSmtpDomain (and of the virtual server, for its
// outbound security), as the IIS SMTP Service defines them.
const (
	routeDrop       = 0x1
	routeSmartHost  = 0x2
	routeSSL        = 0x4
	routeSASL       = 0x8
	routeAlias      = 0x10
	routeDefault    = 0x40
	routeAuthNTLM   = 0x80
	routeAuthClear  = 0x100
	routeIPRelay    = 0x400
	routeAuthRelay  = 0x800
	routeDomRelay   = 0x1000
	routeAuthKerb   = 0x200000
	routeAuthAnyOut = routeSASL | routeAuthNTLM | routeAuthClear | routeAuthKerb
)

var routeActionNames = map[string]uint32{
	"SMTP_DROP": routeDrop, "SMTP_SMARTHOST": routeSmartHost, "SMTP_SSL": routeSSL,
	"SMTP_SASL": routeSASL, "SMTP_ALIAS": routeAlias, "SMTP_DELIVER": 0x20,
	"SMTP_DEFAULT": routeDefault, "SMTP_AUTH_NTLM": routeAuthNTLM,
	"SMTP_AUTH_CLEARTEXT": routeAuthClear, "SMTP_ETRN_CMD": 0x200,
	"SMTP_IP_RELAY": routeIPRelay, "SMTP_AUTH_RELAY": routeAuthRelay,
	"SMTP_DOMAIN_RELAY": routeDomRelay, "SMTP_AUTH_KERBEROS": routeAuthKerb,
}

var authFlagNames = map[string]uint32{
	"AuthAnonymous": 1, "AuthBasic": 2, "AuthNTLM": 4, "AuthMD5": 16, "AuthPassport": 64,
}

// explained are properties mailbridge has no key for, with the reason.
var explained = map[string]string{
	"MaxSessionSize":                    "mailbridge limits each message (max_message_size), not the bytes of a whole session",
	"MaxOutConnections":                 "mailbridge sends only to the Outbound Server, over [outbound] connections",
	"MaxOutConnectionsPerDomain":        "mailbridge sends only to the Outbound Server, over [outbound] connections",
	"HopCount":                          "mailbridge does not count Received headers; mail loops are stopped by the Outbound Server",
	"EnableReverseDnsLookup":            "mailbridge never looks up client names: reverse DNS stalls clients before the greeting",
	"MasqueradeDomain":                  "mailbridge relays the sender address untouched",
	"SendNdrTo":                         "mailbridge sends each non-delivery report to the message's sender only, no copy to another address; every failure is also in Badmail with a .BDR reason file",
	"SendBadTo":                         "mailbridge sends undeliverable mail to no address: it stays in Badmail (.BAD, with a .BDR reason file)",
	"SmtpDsnOptions":                    "mailbridge offers clients no DSN extension (RFC 3461); it sends non-delivery reports, and delay notices after [outbound] delay_notification",
	"SmtpLocalDelayExpireMinutes":       "local mail goes straight to Drop; there is no local queue to expire",
	"SmtpLocalNDRExpireMinutes":         "local mail goes straight to Drop; there is no local queue to expire",
	"SmtpRemoteRetryThreshold":          "mailbridge follows [outbound] retry alone",
	"AlwaysUseSsl":                      "imported as [outbound] tls",
	"RemoteSmtpSecurePort":              "mailbridge uses [outbound] port for every connection",
	"RouteUserName":                     "imported as [outbound] username (commented out until its password is given)",
	"RoutePassword":                     "stored encrypted in the metabase: it cannot be imported; enter it again where [outbound] takes the password",
	"SaslLogonDomain":                   "mailbridge offers no inbound AUTH",
	"NTAuthenticationProviders":         "mailbridge offers no inbound AUTH",
	"SmtpClearTextProvider":             "mailbridge offers no inbound AUTH",
	"SecureBindings":                    "IIS's secure port: in mailbridge, set [inbound] tls_port to it, with pfx_path and pfx_password (a PFX file exported from the Windows certificate store)",
	"SSLCertHash":                       "inbound TLS uses a PFX file in mailbridge, not the Windows certificate store",
	"SSLStoreName":                      "inbound TLS uses a PFX file in mailbridge, not the Windows certificate store",
	"AccessSSLFlags":                    "inbound TLS uses a PFX file in mailbridge, not the Windows certificate store",
	"LogFileTruncateSize":               "mailbridge starts a new IIS-format log each day (exYYMMDD.log)",
	"LogFileLocaltimeRollover":          "mailbridge rolls the IIS-format log over at midnight UTC, as IIS's default did",
	"LogExtFileFlags":                   "mailbridge writes the field list of IIS's default W3C SMTP log",
	"LogOdbcDataSource":                 "mailbridge does not log to ODBC",
	"LogOdbcTableName":                  "mailbridge does not log to ODBC",
	"LogOdbcUserName":                   "mailbridge does not log to ODBC",
	"LogOdbcPassword":                   "mailbridge does not log to ODBC",
	"SmtpInboundCommandSupportOptions":  "mailbridge advertises its own ESMTP extensions",
	"SmtpOutboundCommandSupportOptions": "mailbridge uses the extensions the Outbound Server offers",
	"AllowVerify":                       "mailbridge does not verify addresses (VRFY)",
	"AllowExpand":                       "mailbridge does not expand lists (EXPN)",
	"ShouldDeliver":                     "mailbridge always delivers what it accepts",
	"DomainRouting":                     "mailbridge routes every relayed message through the Outbound Server",
	"RoutingDll":                        "IIS routing plug-ins do not exist in mailbridge",
	"RoutingSources":                    "obsolete in IIS itself",
	"SmtpAdvQueueDll":                   "IIS queue plug-ins do not exist in mailbridge",
	"SmtpEventlogLevel":                 "mailbridge logs through [log] (and the Windows service's event log)",
	"SmtpMaxRemoteQThreads":             "mailbridge sends over [outbound] connections",
	"LimitRemoteConnections":            "mailbridge sends over [outbound] connections",
	"SmtpConnectTimeout":                "mailbridge has one [outbound] connect_timeout",
	"SmtpMailFromTimeout":               "mailbridge has one [outbound] command_timeout",
	"SmtpRcptToTimeout":                 "mailbridge has one [outbound] command_timeout",
	"SmtpDataTimeout":                   "mailbridge has one [outbound] command_timeout",
	"SmtpBdatTimeout":                   "mailbridge has one [outbound] command_timeout",
	"SmtpAuthTimeout":                   "mailbridge has one [outbound] command_timeout",
	"SmtpSaslTimeout":                   "mailbridge has one [outbound] command_timeout",
	"SmtpTurnTimeout":                   "mailbridge has one [outbound] command_timeout",
	"SmtpRsetTimeout":                   "mailbridge has one [outbound] command_timeout",
	"SmtpHeloTimeout":                   "mailbridge has one [outbound] command_timeout",
	"SmtpMailNoHelo":                    "mailbridge requires HELO/EHLO as RFC 5321 does",
	"SmtpDomainValidationFlags":         "mailbridge accepts any syntactically valid domain",
	"SmtpAuthFlags":                     "mailbridge offers no inbound AUTH",
	"SmtpSSLRequireTrustedCA":           "outbound certificate checks are set in [outbound]",
	"SmtpSSLCertHostnameValidation":     "outbound certificate checks are set in [outbound]",
	"SmtpUseTcpDns":                     "mailbridge does not look up MX records",
	"UpdatedDefaultDomain":              "IIS bookkeeping",
	"UpdatedFQDN":                       "IIS bookkeeping",
	"SmtpDisableRelayForBlockingIp":     "mailbridge has no IP block list",
	"SmtpLocalRetryMinutes":             "local mail goes straight to Drop; there is no local retry",
	"SmtpLocalRetryAttempts":            "local mail goes straight to Drop; there is no local retry",
	"SmtpRemoteRetryAttempts":           "mailbridge follows [outbound] retry and expiration",
	"SmtpRemoteRetryMinutes":            "mailbridge follows [outbound] retry",
	"SmtpFlushMailFile":                 "mailbridge always syncs files before acknowledging them",
	"SmtpCommandLogMask":                "the IIS-format log records the commands of IIS's default log",
	"EtrnDays":                          "mailbridge does not support ETRN",
	"EtrnSubdomains":                    "mailbridge does not support ETRN",
	"AuthTurnList":                      "mailbridge does not support TURN",
	"CSideEtrnDomains":                  "mailbridge does not support ETRN",
	"MaxDirChangeIOSize":                "the Pickup watcher sizes its own buffers",
	"MaxMailObjects":                    "mailbridge keeps no in-memory message limit",
	"MaxBandwidth":                      "mailbridge does not throttle bandwidth",
	"SmtpIpRestrictionFlag":             "see relay_from and allow_from above",
	"SmtpRoutingTableType":              "mailbridge routes every relayed message through the Outbound Server",
	"SmtpDsUseCat":                      "mailbridge does not look up recipients in Active Directory",
	"DisableSocketPooling":              "IIS socket internals",
	"ConnectResponse":                   "mailbridge greets with IIS's banner text (see [compat])",
	"ServerListenBacklog":               "the operating system's default backlog applies",
	"ServerListenTimeout":               "see [inbound] command_timeout",
	"MaxEndpointConnections":            "see [inbound] max_connections",
	"MaxSmtpErrors":                     "mailbridge closes a session after 3 errors, as RFC 5321 advises",
}

// iisInternals are administration properties with no meaning outside IIS;
// they are named in one line rather than explained one by one.
var iisInternals = map[string]bool{
	"AdminACL": true, "AdminACLBin": true, "KeyType": true, "ServerState": true, "Win32Error": true,
	"ServerAutoStart": true, "ServerSize": true, "ServerComment": true, "SmtpServiceVersion": true,
	"ClusterEnabled": true, "AppPoolId": true, "MaxBatchedMessagesHack": true, "SmtpServer": true,
	"LogModuleList": true, "SmtpDsDataDirectory": true, "SmtpDsDefaultMailRoot": true,
	"SmtpDsBindType": true, "SmtpDsSchemaType": true, "SmtpDsHost": true, "SmtpDsDomain": true,
	"SmtpDsAccount": true, "SmtpDsPassword": true, "SmtpDsNamingContext": true, "SmtpDsPort": true,
	"SmtpDsFlags": true, "SmtpDSNLanguageID": true,
}

// secret properties are stored encrypted (the metabase's SECURE attribute):
// their values are not repeated in the output.
var secret = map[string]bool{"RoutePassword": true, "SmtpDsPassword": true, "LogOdbcPassword": true, "SessionKey": true}

// w3cLogClsid is the log plug-in IIS used for its W3C Extended SMTP log.
const w3cLogClsid = "{FF160663-DE82-11CF-BC0A-00AA006111E0}"

// iisLogFormats names IIS's other log plug-ins (LogPluginClsid), by the
// CLSIDs of IIS's ilogobj.hxx (NCSALOG_CLSID, ASCLOG_CLSID, ODBCLOG_CLSID),
// upper case.
var iisLogFormats = map[string]string{
	"{FF16065F-DE82-11CF-BC0A-00AA006111E0}": "the NCSA Common Log File Format",
	"{FF160657-DE82-11CF-BC0A-00AA006111E0}": "the Microsoft IIS Log File Format",
	"{FF16065B-DE82-11CF-BC0A-00AA006111E0}": "an ODBC database",
}

// ImportIIS turns the SMTP virtual server /LM/SmtpSvc/site of m into a
// complete, commented mailbridge configuration in TOML. Settings found but
// not carried over are written as comments with the reason; relay and
// domain keys are written commented out with the values IIS had. A value
// mailbridge would use but cannot read is a *MetabaseError with its line.
func ImportIIS(m *Metabase, site int) ([]byte, error) {
	out, _, err := ImportIISNotes(m, site)
	return out, err
}

// ImportIISNotes is ImportIIS, and also lists, one line each, what will
// work differently after the migration (the file's comments say more):
// found from outside, such settings were said only in comments at the
// end of the file, where an administrator may not look.
func ImportIISNotes(m *Metabase, site int) ([]byte, []string, error) {
	imp, err := newImport(m, site)
	if err != nil {
		return nil, nil, err
	}
	if err := imp.write(); err != nil {
		return nil, nil, err
	}
	return []byte(imp.w.b.String()), imp.notes, nil
}

type iisImport struct {
	m       *Metabase
	site    int
	service *MetabaseNode // /LM/SmtpSvc, inherited by the server; may be nil
	server  *MetabaseNode
	domains []*MetabaseNode
	used    map[string]bool // lower-case property names consumed
	w       tomlWriter
	notes   []string // what works differently after the migration (ImportIISNotes)
	// errs holds every bad value found: found from outside, an import
	// that stopped at the first one had the administrator fix a line per
	// run. A bad DWORD is recorded and read as absent; any other problem
	// ends its step (write lists the steps), and the next step runs.
	errs []error
}

// note records a line for ImportIISNotes.
func (imp *iisImport) note(format string, a ...any) {
	imp.notes = append(imp.notes, fmt.Sprintf(format, a...))
}

// otherServers lists the file's SMTP virtual servers other than the one
// imported, with their lines.
func (imp *iisImport) otherServers() []string {
	var others []string
	for _, n := range imp.m.Nodes {
		if strings.EqualFold(n.Class, "IIsSmtpServer") && n != imp.server {
			others = append(others, fmt.Sprintf("%s (line %d)", n.Location, n.Line))
		}
	}
	return others
}

func newImport(m *Metabase, site int) (*iisImport, error) {
	loc := fmt.Sprintf("/LM/SmtpSvc/%d", site)
	imp := &iisImport{m: m, site: site, used: map[string]bool{}}
	imp.service = m.Find("IIsSmtpService", "/LM/SmtpSvc")
	imp.server = m.Find("IIsSmtpServer", loc)
	if imp.server == nil {
		var found []string
		for _, n := range m.Nodes {
			if strings.EqualFold(n.Class, "IIsSmtpServer") {
				found = append(found, fmt.Sprintf("%s (line %d)", n.Location, n.Line))
			}
		}
		if len(found) == 0 {
			return nil, &MetabaseError{File: m.File, Msg: "no SMTP virtual server (IIsSmtpServer node) in this file: was the IIS SMTP Service installed when it was saved?"}
		}
		return nil, &MetabaseError{File: m.File, Msg: fmt.Sprintf("no SMTP virtual server %s; the file has %s (choose one with --site N)", loc, strings.Join(found, ", "))}
	}
	prefix := strings.ToLower(loc + "/Domain/")
	for _, n := range m.Nodes {
		if strings.EqualFold(n.Class, "IIsSmtpDomain") && strings.HasPrefix(strings.ToLower(n.Location), prefix) && len(n.Location) > len(prefix) {
			imp.domains = append(imp.domains, n)
		}
	}
	if err := smtpLocationsOnce(m); err != nil {
		return nil, err
	}
	for _, n := range append([]*MetabaseNode{imp.service, imp.server}, imp.domains...) {
		if err := propsOnce(m.File, n); err != nil {
			return nil, err
		}
	}
	return imp, nil
}

// smtpLocationsOnce refuses a file that gives one SMTP Location twice: the
// metabase is a tree with one node per path, so two nodes for
// /LM/SmtpSvc/1 are a hand edit or a merge gone wrong, and which one IIS
// used cannot be told from the file. (Suggesting --site N for the second
// one, as the list of other servers did, could not work: both are site 1.)
func smtpLocationsOnce(m *Metabase) error {
	seen := map[string]*MetabaseNode{}
	for _, n := range m.Nodes {
		key := strings.ToLower(strings.TrimRight(n.Location, "/"))
		if key != "/lm/smtpsvc" && !strings.HasPrefix(key, "/lm/smtpsvc/") {
			continue
		}
		if first, dup := seen[key]; dup {
			return &MetabaseError{File: m.File, Line: n.Line, Msg: fmt.Sprintf(
				"Location %s is given twice, by <%s> on line %d and <%s> on line %d: IIS keeps one node per Location; remove the one IIS did not use",
				n.Location, first.Class, first.Line, n.Class, n.Line)}
		}
		seen[key] = n
	}
	return nil
}

// propsOnce refuses a property given twice with different values in one
// node: as an attribute and as a <Custom> child, or as two <Custom>
// children. The parser keeps both and Prop returns the first, so the
// other would be dropped unmentioned; which one IIS honoured cannot be
// told. The same value twice is harmless and accepted.
func propsOnce(file string, n *MetabaseNode) error {
	if n == nil {
		return nil
	}
	show := func(p MetabaseProp) string {
		if secret[canonicalName(p.Name)] {
			return "(encrypted)"
		}
		return "\"" + shorten(p.Value) + "\""
	}
	var err *MetabaseError
	for j, b := range n.Props {
		for _, a := range n.Props[:j] {
			if !strings.EqualFold(a.Name, b.Name) || strings.TrimSpace(a.Value) == strings.TrimSpace(b.Value) {
				continue
			}
			what := fmt.Sprintf("%s is given twice with different values, %s on line %d and %s on line %d",
				b.Name, show(a), a.Line, show(b), b.Line)
			if err == nil {
				err = &MetabaseError{File: file, Line: b.Line, Msg: n.Location + ": " + what}
			} else {
				err.Msg += "; and " + what
			}
			break
		}
	}
	if err != nil {
		err.Msg += ": remove the value IIS did not use"
		return err
	}
	return nil
}

// get returns a property of the virtual server, or the one it inherits from
// the SMTP Service node, and marks it used.
func (imp *iisImport) get(name string) (MetabaseProp, bool) {
	imp.used[strings.ToLower(name)] = true
	if p, ok := imp.server.Prop(name); ok {
		return p, true
	}
	if imp.service != nil {
		return imp.service.Prop(name)
	}
	return MetabaseProp{}, false
}

func (imp *iisImport) fail(p MetabaseProp, format string, a ...any) error {
	err := &MetabaseError{File: imp.m.File, Line: p.Line, Msg: p.Name + ": " + fmt.Sprintf(format, a...)}
	imp.errs = append(imp.errs, err)
	return err
}

// steps runs each step, and records the error that ended one, if fail has
// not recorded it already.
func (imp *iisImport) steps(steps ...func() error) {
	for _, step := range steps {
		if err := step(); err != nil && !slices.Contains(imp.errs, err) {
			imp.errs = append(imp.errs, err)
		}
	}
}

// dword shows a DWORD property's value as the file wrote it, with the
// number it stands for when they differ: "-5" is read as 4294967291, as
// IIS read it, and showing only the number hid what the file said.
func dword(p MetabaseProp, n uint32) string {
	v := strings.TrimSpace(p.Value)
	if v == strconv.FormatUint(uint64(n), 10) {
		return v
	}
	return fmt.Sprintf("%s (the DWORD %d)", v, n)
}

// number reads a DWORD property; ok is false when it is absent, or when
// its value is not a number: that is recorded (imp.errs), and the import
// goes on to find any other bad value.
func (imp *iisImport) number(name string) (uint32, MetabaseProp, bool) {
	p, ok := imp.get(name)
	if !ok || strings.TrimSpace(p.Value) == "" {
		return 0, p, false
	}
	n, err := MetabaseUint(p.Value, nil)
	if err != nil {
		imp.fail(p, "%v", err)
		return 0, p, false
	}
	return n, p, true
}

func (imp *iisImport) write() error {
	w := &imp.w
	where := imp.server.Location
	imp.used["servercomment"] = true // named in the heading
	if c, ok := imp.server.Prop("ServerComment"); ok && c.Value != "" {
		where += fmt.Sprintf(" (\"%s\")", c.Value)
	}
	w.comment("mailbridge configuration imported from IIS by `mailbridge import-iis`.")
	w.comment("Source: %s, SMTP virtual server %s.", imp.m.File, where)
	if others := imp.otherServers(); len(others) > 0 {
		w.comment("The file has other SMTP virtual servers too: %s. Import each with --site N into a configuration of its own (its own port and folders).", strings.Join(others, ", "))
		imp.note("this configuration serves %s only; the file has other SMTP virtual servers, %s: import each with --site N into a configuration of its own", imp.server.Location, strings.Join(others, ", "))
	}
	w.comment("")
	w.comment("Check it with `mailbridge check --config FILE` before IIS is stopped. IIS settings that mailbridge cannot carry over are comments saying why; keys that need a decision are commented out with the values IIS had.")
	w.blank()
	imp.steps(imp.writeHostname, imp.writeMailroot, imp.writeInbound, imp.writeOutbound, imp.writePickup)
	imp.writeLog()
	imp.writeLeftovers()
	// In the file's order (found from outside: by the import's steps).
	sort.SliceStable(imp.errs, func(i, j int) bool { return errLine(imp.errs[i]) < errLine(imp.errs[j]) })
	return errors.Join(imp.errs...)
}

// maxTimeout bounds the IIS timeouts taken (seconds): found from outside,
// RemoteTimeout="-5" became command_timeout = "4294967291s", 136 years.
// IIS's own default is 600; past a day, the value is taken for no timeout.
const maxTimeout = 86400

// errLine is the MetaBase.xml line an import error names, 0 for none.
func errLine(err error) int {
	var me *MetabaseError
	if errors.As(err, &me) {
		return me.Line
	}
	return 0
}

func (imp *iisImport) writeHostname() error {
	w := &imp.w
	p, ok := imp.get("FullyQualifiedDomainName")
	if v := strings.TrimSpace(p.Value); strings.HasSuffix(v, ".") && !strings.HasSuffix(v, "..") {
		// DNS's absolute form, "mail.contoso.local.": the dot is the
		// root's, no part of the name SMTP announces (as localDomain).
		p.Value = strings.TrimSuffix(v, ".")
	}
	switch {
	case !ok || strings.TrimSpace(p.Value) == "":
		w.comment("FullyQualifiedDomainName is not set: IIS used this computer's name, and so does mailbridge.")
		w.code(`hostname = "mail.example.com"`)
	case validHostname(strings.TrimSpace(p.Value)) != "":
		w.comment("IIS FullyQualifiedDomainName \"%s\" (line %d) is not a host name mailbridge can announce: %s.", p.Value, p.Line, validHostname(strings.TrimSpace(p.Value)))
		w.code(`hostname = "mail.example.com"`)
		imp.note("IIS FullyQualifiedDomainName %q (line %d) is not a host name mailbridge can announce, so mailbridge will announce this computer's name in its greeting and Received headers; set hostname", p.Value, p.Line)
	default:
		w.comment("The name in the greeting, EHLO and Received headers (IIS FullyQualifiedDomainName).")
		w.kv("hostname", tomlString(strings.TrimSpace(p.Value)))
	}
	w.blank()
	return nil
}

// writeMailroot keeps IIS's folders. IIS's own layout becomes one root;
// custom folders are set one by one, with SortTemp next to Drop so that
// Drop files still appear by a rename on the same volume (Drop may be on a
// volume of its own; Pickup, Queue and Badmail share one: CheckVolumes).
func (imp *iisImport) writeMailroot() error {
	w := &imp.w
	type folder struct{ key, prop, name, path string }
	folders := []folder{
		{"pickup", "PickupDirectory", "Pickup", ""},
		{"drop", "DropDirectory", "Drop", ""},
		{"queue", "QueueDirectory", "Queue", ""},
		{"badmail", "BadMailDirectory", "Badmail", ""},
	}
	var defaulted []string
	lines := map[string]int{}
	var expanded []string
	for i := range folders {
		f := &folders[i]
		if p, ok := imp.get(f.prop); ok && strings.TrimSpace(p.Value) != "" {
			// IIS expanded %SystemDrive% and the like in its folders;
			// mailbridge takes paths literally, so a variable left in
			// would become a folder named "%SystemDrive%".
			path, did, unknown := expandWinVars(p.Value)
			if i := strings.IndexFunc(strings.TrimSpace(path), isControl); i >= 0 {
				// Windows allows no control character in a file name,
				// and mailbridge's configuration refuses them in paths.
				return imp.fail(p, "%q holds a control character, which no Windows path can", strings.TrimSpace(p.Value))
			}
			if unknown != "" {
				return imp.fail(p, "%s holds the environment variable %s, whose value on the IIS server the import cannot know: write the path out in this copy of MetaBase.xml and import again", strings.TrimSpace(p.Value), unknown)
			}
			if did {
				expanded = append(expanded, fmt.Sprintf("%s %s", f.prop, strings.TrimSpace(p.Value)))
			}
			f.path = cleanWinPath(path)
			lines[f.prop] = p.Line
		} else {
			f.path = iisDefaultMailroot + `\` + f.name
			defaulted = append(defaulted, f.prop)
		}
	}
	// One folder in two roles would make mailbridge relay received mail,
	// or read its own temporary files as mail; IIS refused it too.
	dropDir := winDir(folders[1].path)
	if dropDir == "" {
		dropDir = "."
	}
	sortTemp := folder{"sorttemp", "", "SortTemp", joinWin(dropDir, "SortTemp")}
	seen := map[string]folder{}
	for _, f := range append(folders, sortTemp) {
		k := pathKey(f.path)
		if o, dup := seen[k]; dup {
			msg := fmt.Sprintf("%s is the same folder as %s (%s); mailbridge needs a folder of its own for each role", f.name, o.name, f.path)
			if f.prop == "" {
				msg = fmt.Sprintf("%s (%s) is where mailbridge puts SortTemp, next to Drop; move %s", o.name, f.path, o.name)
				return &MetabaseError{File: imp.m.File, Line: lines[o.prop], Msg: o.prop + ": " + msg}
			}
			return &MetabaseError{File: imp.m.File, Line: lines[f.prop], Msg: f.prop + ": " + msg}
		}
		seen[k] = f
	}
	w.section("mailroot")
	if len(expanded) > 0 {
		w.comment("IIS wrote %s; expanded as a standard Windows installation has them (%%SystemDrive%% C:, %%SystemRoot%% and %%windir%% C:\\Windows): check them on the IIS server.", strings.Join(expanded, ", "))
	}
	if len(defaulted) > 0 {
		w.comment("Not set in MetaBase.xml, so IIS's defaults under %s: %s.", iisDefaultMailroot, strings.Join(defaulted, ", "))
	}
	root := winDir(folders[0].path)
	layout := root != ""
	for _, f := range folders {
		if !strings.EqualFold(winDir(f.path), root) || !strings.EqualFold(winBase(f.path), f.name) {
			layout = false
		}
	}
	if layout {
		w.comment("IIS kept Pickup, Drop, Queue, Badmail and SortTemp under one mail root; mailbridge uses the same folders.")
		w.kv("root", tomlPath(root))
		w.blank()
		return nil
	}
	w.comment("IIS used custom folders; mailbridge uses the same ones. The mail root holds SortTemp, where Drop files are written before they are renamed into Drop: it is the folder that holds Drop, so that both are on one volume. Drop may be on another volume than Pickup, Queue and Badmail, which must share one.")
	w.kv("root", tomlPath(dropDir))
	for _, f := range append(folders, sortTemp) {
		w.kv(f.key, tomlPath(f.path))
	}
	if !sameVolume(folders[0].path, folders[2].path) {
		w.comment("WARNING: Pickup and Queue are on different volumes: a file is claimed from Pickup by renaming it into Queue, which needs one volume. Move one of them (mailbridge check reports this too).")
	}
	if !sameVolume(folders[2].path, folders[3].path) {
		w.comment("WARNING: Queue and Badmail are on different volumes: a message that cannot be delivered is moved from Queue into Badmail by one rename, which needs one volume. Move one of them (mailbridge check reports this too).")
	}
	w.blank()
	return nil
}

func (imp *iisImport) writeInbound() error {
	w := &imp.w
	w.section("inbound")
	imp.steps(imp.writeBindings, imp.writeSizes)
	if n, p, ok := imp.number("MaxRecipients"); ok {
		if n >= 1 && n <= 1_000_000 {
			w.comment("IIS MaxRecipients: recipients accepted per message.")
			w.kv("max_recipients", strconv.FormatUint(uint64(n), 10))
		} else if n > 1_000_000 {
			// IIS writes 4294967295 (-1) for "no limit"; the default of
			// 100 would refuse the large mailings IIS took.
			w.comment("IIS MaxRecipients = %s (line %d): no practical limit. mailbridge needs one; it takes its largest, 1000000.", dword(p, n), p.Line)
			w.kv("max_recipients", "1000000")
		} else {
			w.comment("IIS MaxRecipients = %s (line %d) is outside 1 to 1000000; mailbridge keeps its default of 100.", dword(p, n), p.Line)
		}
	}
	if n, p, ok := imp.number("MaxConnections"); ok {
		if n >= 1 && n <= 1_000_000 {
			w.comment("IIS MaxConnections: simultaneous inbound connections.")
			w.kv("max_connections", strconv.FormatUint(uint64(n), 10))
		} else {
			w.comment("IIS MaxConnections = %s (line %d) means no limit; mailbridge keeps a cap (default 200) so that a flood cannot exhaust the machine.", dword(p, n), p.Line)
		}
	}
	// IIS had no such bound: a gateway or an application server that
	// opens many sessions at once would be turned away past it.
	w.comment("IIS had no limit per client address; mailbridge lets one address hold half of max_connections at once (max_connections_per_ip): raise it for a client that needs more, such as a gateway relaying all inbound mail.")
	if n, p, ok := imp.number("ConnectionTimeout"); ok {
		if n >= 1 && n <= maxTimeout {
			w.comment("IIS ConnectionTimeout = %d seconds: how long a client may stay silent.", n)
			w.kv("command_timeout", tomlString(fmtSeconds(n)))
			w.kv("data_timeout", tomlString(fmtSeconds(n)))
		} else {
			w.comment("IIS ConnectionTimeout = %s (line %d) is not a timeout; mailbridge keeps its default.", dword(p, n), p.Line)
		}
	}
	w.blank()
	return imp.writeRelay()
}

// writeBindings maps ServerBindings (MULTISZ of "IP:port:host") to the one
// address mailbridge listens on.
func (imp *iisImport) writeBindings() error {
	w := &imp.w
	p, ok := imp.get("ServerBindings")
	if !ok || strings.TrimSpace(p.Value) == "" {
		w.comment("ServerBindings is not set: IIS listened on port 25 of every address, and so does mailbridge.")
		w.kv("port", "25")
		return nil
	}
	type binding struct {
		ip   string
		port int
		raw  string
	}
	var bs []binding
	for _, raw := range MetabaseList(p.Value) {
		ip, port, err := parseBinding(raw)
		if err != nil {
			return imp.fail(p, "%q: %v", raw, err)
		}
		bs = append(bs, binding{ip, port, raw})
	}
	if len(bs) == 0 {
		return imp.fail(p, "no binding in %q", p.Value)
	}
	chosen := 0
	for i, b := range bs {
		if b.ip == "" {
			chosen = i
			break
		}
	}
	b := bs[chosen]
	w.comment("IIS ServerBindings \"%s\".", b.raw)
	if b.ip != "" {
		w.kv("bind", tomlString(b.ip))
	}
	w.kv("port", strconv.Itoa(b.port))
	// One mail root serves one mailbridge (its lock files refuse a
	// second), so a second instance for another binding would need
	// folders of its own: its mail would not reach this Drop, nor would
	// it send this Pickup. The advice says so rather than suggest it.
	here := fmt.Sprintf("port %d", b.port)
	if b.ip != "" {
		here = fmt.Sprintf("%s port %d", b.ip, b.port)
	}
	for i, o := range bs {
		if i == chosen || o.port == b.port && (b.ip == "" || o.ip == b.ip) {
			// Served all the same: the same binding twice, or an address
			// that listening on every address covers (found from
			// outside: a note that port 25 would not be served, where
			// it would).
			continue
		}
		how := fmt.Sprintf("point its clients at %s", here)
		if o.port == b.port && b.ip != "" {
			how = fmt.Sprintf("set bind = \"\" to listen on port %d of every address (this one too), or point its clients at %s", b.port, here)
		}
		w.comment("IIS also listened on \"%s\"; mailbridge listens on one address and port, so it will not: %s. A second mailbridge cannot serve it from the same folders: the mail root is locked by the mailbridge using it, so a second one needs its own Pickup, Drop and Queue, which the software using these folders would not see.", o.raw, how)
		imp.note("IIS also listened on %s (ServerBindings \"%s\"); mailbridge listens only on %s: %s", bindingText(o.ip, o.port), o.raw, bindingText(b.ip, b.port), how)
	}
	return nil
}

// bindingText names a binding for the screen: "port 25 of every address"
// for IIS's "(All Unassigned)", else "10.0.0.1 port 25".
func bindingText(ip string, port int) string {
	if ip == "" {
		return fmt.Sprintf("port %d of every address", port)
	}
	return fmt.Sprintf("%s port %d", ip, port)
}

func parseBinding(raw string) (string, int, error) {
	s := raw
	var ip string
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", 0, fmt.Errorf("not IP:port:host")
		}
		ip, s = s[1:end], s[end+1:]
		if !strings.HasPrefix(s, ":") {
			return "", 0, fmt.Errorf("not IP:port:host")
		}
		s = s[1:]
	} else {
		i := strings.Index(s, ":")
		if i < 0 {
			return "", 0, fmt.Errorf("not IP:port:host")
		}
		ip, s = s[:i], s[i+1:]
	}
	portStr := s
	if i := strings.Index(s, ":"); i >= 0 {
		portStr = s[:i]
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not from 1 to 65535", portStr)
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return "", 0, fmt.Errorf("%q is not an IP address", ip)
		}
		ip = a.String()
	}
	return ip, port, nil
}

// writeSizes keeps the product's 20 MB attachment promise: IIS's untouched
// 2 MB default is not imported, and a smaller limit set on purpose is
// imported with a warning.
func (imp *iisImport) writeSizes() error {
	w := &imp.w
	n, p, ok := imp.number("MaxMessageSize")
	keep := func() {
		w.kv("max_message_size", tomlString(config.FormatSize(promisedMessage)))
		w.kv("max_attachment_size", tomlString(config.FormatSize(promisedAttachment)))
	}
	switch {
	case !ok || n == iisDefaultMaxMessageSize:
		how := "MaxMessageSize is not set, so IIS used its default, 2 MB"
		if ok {
			how = fmt.Sprintf("IIS MaxMessageSize = %s (line %d) is IIS's default, 2 MB", dword(p, n), p.Line)
		}
		w.comment("%s. mailbridge keeps the product's promise of 20 MB attachments instead (about 27 MB once base64-encoded). To keep IIS's limit, set max_message_size = \"2MB\" and max_attachment_size = \"1536KB\".", how)
		keep()
	case n == 0 || n == 0xFFFFFFFF:
		// 0, and the DWORD's largest value (written 4294967295 or
		// -1), mean no limit. IIS still ended a session at
		// MaxSessionSize (10 MB by default), so the product's limits
		// take at least what IIS delivered in a default set-up.
		w.comment("IIS MaxMessageSize = %s (line %d): no limit. mailbridge needs one; it keeps 30 MB messages and 20 MB attachments. If applications sent larger mail through IIS (with MaxSessionSize raised too), raise both.", strings.TrimSpace(p.Value), p.Line)
		keep()
	case int64(n) < promisedMessage:
		att := int64(n) / 4 * 3 &^ 1023
		if att < 1024 {
			att = int64(n)
		}
		w.comment("WARNING: IIS MaxMessageSize = %s (line %d) was set on purpose and is smaller than the product's promise of 20 MB attachments. It is imported as it was, so messages over %s are refused as IIS refused them. To accept 20 MB attachments, set max_message_size = \"30MB\" and max_attachment_size = \"20MB\".", dword(p, n), p.Line, config.FormatSize(int64(n)))
		w.kv("max_message_size", sizeValue(int64(n)))
		w.comment("About 3/4 of max_message_size: base64 makes an attachment 4/3 larger.")
		w.kv("max_attachment_size", sizeValue(att))
	default:
		w.comment("IIS MaxMessageSize = %s (line %d); attachments may use about 3/4 of it (base64 makes them 4/3 larger).", dword(p, n), p.Line)
		w.kv("max_message_size", sizeValue(int64(n)))
		w.kv("max_attachment_size", sizeValue(int64(n)/4*3&^1023))
	}
	return nil
}

// writeRelay writes IIS's local domains, relay list and connection control
// as mailbridge's relay rules.
func (imp *iisImport) writeRelay() error {
	w := &imp.w
	w.comment("Relay and domain rules from IIS. With local_domains empty mailbridge accepts mail for every domain over SMTP and writes it all to Drop, and relays all Pickup mail to the Outbound Server.")
	local, alias, remote := imp.domainLists()
	// IIS's default domain is DefaultDomain, or the host's name
	// (FullyQualifiedDomainName) where DefaultDomain is not set.
	ownGiven := true
	if dd, ok := imp.get("DefaultDomain"); ok && strings.TrimSpace(dd.Value) != "" {
		if d := strings.TrimSpace(dd.Value); !containsFold(local, d) {
			local = append([]string{d}, local...)
		}
	} else if fq, ok := imp.get("FullyQualifiedDomainName"); ok && strings.TrimSpace(fq.Value) != "" {
		if d := strings.TrimSpace(fq.Value); !containsFold(local, d) {
			local = append([]string{d}, local...)
			w.comment("DefaultDomain is not set, so IIS's default (local) domain was FullyQualifiedDomainName, %s.", d)
		}
	} else {
		ownGiven = false
	}
	var domains, skipped []string
	for _, d := range append(append([]string{}, local...), alias...) {
		name, why := localDomain(d)
		switch {
		case why != "":
			skipped = append(skipped, fmt.Sprintf("%s (%s)", d, why))
		case !containsFold(domains, name):
			domains = append(domains, name)
		}
	}
	if len(skipped) > 0 {
		w.comment("IIS domains mailbridge cannot match, not imported (mailbridge compares exact domain names; list each one that receives mail): %s.", strings.Join(skipped, ", "))
	}
	if len(domains) > 0 {
		w.comment("IIS local domains (mail for them went to Drop): %s.", listOrNone(local))
		if len(alias) > 0 {
			w.comment("IIS alias domains (also local): %s.", strings.Join(alias, ", "))
		}
		w.comment("As in IIS: only these domains (and this host's own names) go to Drop, from SMTP and from Pickup alike; other domains are relayed for relay_from clients and refused for everyone else. Empty the list to drop mail for every domain received over SMTP (Pickup mail then all goes to the Outbound Server).")
		w.kvf("local_domains = %s", tomlList(domains))
	} else {
		// local_domains = [] makes every domain local: relayed mail
		// would land in Drop and never be sent, and any client could put
		// mail for any domain into Drop. Nothing is invented instead.
		had := "IIS had no DefaultDomain, no FullyQualifiedDomainName and no local or alias domain, so its default domain was this computer's name"
		if len(local)+len(alias) > 0 {
			had = "IIS's local and alias domains were " + strings.Join(append(append([]string{}, local...), alias...), ", ") + ", none of which mailbridge can match"
			if !ownGiven {
				had += "; with no DefaultDomain or FullyQualifiedDomainName, its default domain was this computer's name"
			}
		}
		w.comment("WARNING: no local domain could be imported: %s. Until local_domains is set, mailbridge treats every domain as local: all mail received over SMTP, relayed mail too, goes to Drop and none of it is sent (Pickup mail still goes to the Outbound Server), and any client can put mail for any domain into Drop. Set local_domains to the domains whose mail belongs in Drop (this computer's name, as in hostname, and each domain IIS received mail for), and uncomment it:", had)
		w.code(`local_domains = ["mail.example.com"]`)
		imp.note("no local domain was imported, so every domain is local: all mail received over SMTP goes to Drop, none of it is relayed, and any client can put mail for any domain into Drop; set [inbound] local_domains")
	}
	if len(remote) > 0 {
		imp.note("%d remote domain(s) had settings of their own in IIS (a route, relaying to them); mailbridge treats every remote domain alike, through the one Outbound Server", len(remote))
	}
	for _, r := range remote {
		w.comment("%s", r)
	}
	imp.writeIPList("RelayIpList", "relay_from", "relay", "relay mail to other domains")
	if p, ok := imp.get("RelayForAuth"); ok {
		if on, err := MetabaseBool(p.Value); err == nil && on {
			w.comment("IIS RelayForAuth (line %d): clients that authenticated could relay from anywhere. mailbridge offers no inbound AUTH: list those clients' addresses in relay_from.", p.Line)
		}
	}
	w.comment("Email Interceptor: IIS sent relayed mail straight to the smart host; intercept = true sends it to Drop first for processing.")
	w.kvf("intercept = false")
	imp.writeIPList("IPSecurity", "allow_from", "connect", "connect")
	if p, ok := imp.get("AuthFlags"); ok {
		flags, err := MetabaseUint(p.Value, authFlagNames)
		if err != nil {
			return imp.fail(p, "%v", err)
		}
		if flags&^1 != 0 {
			w.comment("IIS AuthFlags \"%s\" (line %d) offered inbound AUTH; mailbridge accepts mail without AUTH and trusts clients by address (relay_from).", p.Value, p.Line)
			imp.note("IIS offered inbound AUTH (AuthFlags \"%s\", line %d); mailbridge offers none: clients set to log in must send without it, and relay only from addresses in [inbound] relay_from", p.Value, p.Line)
		}
	}
	w.blank()
	return nil
}

// relayRefused ends the note for a RelayIpList imported as relay_from = []
// where IIS let clients relay: they are refused now (550 5.7.1 Unable to
// relay), which only the screen tells before the first complaint.
const relayRefused = "clients that relayed through IIS are refused; list them in [inbound] relay_from"

// denyEveryone is the deny_from written where IIS restricted connections
// in a way mailbridge cannot read or match: refusing every client is
// noticed at the first test, while allow_from = [] (everyone) would open
// the server unnoticed.
var denyEveryone = []string{"0.0.0.0/0", "::/0"}

// writeIPList writes an IPSECLIST property as relay_from or allow_from
// (and deny_from).
func (imp *iisImport) writeIPList(prop, grantKey, verb, action string) {
	w := &imp.w
	p, ok := imp.get(prop)
	l, err := DecodeIPSecList(p.Value)
	switch {
	case err != nil:
		if prop == "IPSecurity" {
			w.comment("WARNING: IIS IPSecurity (line %d) could not be decoded (%v), so which clients IIS let connect is unknown, and an empty allow_from would let every client connect. mailbridge refuses every client until you set allow_from (or deny_from) to what IIS had and delete the deny_from line below. The value as written, hexadecimal:", p.Line, err)
			imp.note("IIS IPSecurity (line %d) could not be decoded, so [inbound] deny_from refuses every client: none can connect until you set allow_from or deny_from as IIS had it and delete that line", p.Line)
		} else {
			w.comment("IIS %s (line %d) could not be decoded (%v); here it is as written, hexadecimal:", prop, p.Line, err)
			imp.note("IIS %s (line %d) could not be decoded, so %s = []: %s", prop, p.Line, grantKey, relayRefused)
		}
		h := strings.Join(strings.Fields(p.Value), "")
		for len(h) > 64 {
			w.comment("  %s", h[:64])
			h = h[64:]
		}
		w.comment("  %s", h)
		if prop == "IPSecurity" {
			w.kvf("deny_from = %s", tomlList(denyEveryone))
			return
		}
		w.kvf("%s = []", grantKey)
		return
	case l == nil && prop == "RelayIpList":
		if ok {
			w.comment("IIS RelayIpList (line %d) is empty: only the list below, with nobody on it, could relay by address.", p.Line)
		} else {
			w.comment("IIS RelayIpList is not set: no client could relay by address (IIS's fresh-install setting).")
		}
		w.kvf("%s = []", grantKey)
		return
	case l == nil:
		w.comment("IIS %s is not set: every client could %s.", prop, verb)
		w.kvf("%s = []", grantKey)
		return
	}
	names := func(ns []string) string {
		return fmt.Sprintf("name-based entries (%s) need reverse DNS lookups, which mailbridge never does: list their addresses instead.", strings.Join(ns, ", "))
	}
	if all4, all6 := config.CoversAll(l.Grant); prop == "RelayIpList" && !l.GrantByDefault() && (all4 || all6) {
		// A grant list that holds every address is the open relay of
		// "all except" written the other way round: refused the same.
		w.comment("WARNING: IIS RelayIpList (line %d) grants %s: every client could relay. That is an open relay, and mailbridge will not import one: list the clients that may relay.", p.Line, strings.Join(prefixStrings(l.Grant), ", "))
		w.kvf("%s = []", grantKey)
		imp.note("IIS RelayIpList (line %d) let every client relay (an open relay), which is not imported, so relay_from = []: %s", p.Line, relayRefused)
		return
	}
	if prop == "IPSecurity" && !l.GrantByDefault() && len(l.Grant) == 0 {
		// allow_from = [] admits everyone: IIS's "only the list below"
		// with names alone must not become "everyone may connect".
		w.comment("WARNING: IIS IPSecurity (line %d): only the clients below could connect, and IIS names them by host name only (%s), which mailbridge cannot match: it never looks names up. An empty allow_from would let every client connect, so mailbridge refuses every client until you list those clients' addresses in allow_from and delete the deny_from line below.", p.Line, strings.Join(l.GrantNames, ", "))
		w.kvf("deny_from = %s", tomlList(denyEveryone))
		imp.note("IIS IPSecurity (line %d) let in only clients named by host name (%s), which mailbridge cannot match, so [inbound] deny_from refuses every client: none can connect until you list their addresses in allow_from and delete that line", p.Line, shorten(strings.Join(l.GrantNames, ", ")))
		return
	}
	if !l.GrantByDefault() {
		w.comment("IIS %s (line %d): only the clients below could %s.", prop, p.Line, action)
		grant := prefixStrings(l.Grant)
		if withLoopback6(l.Grant) {
			// Found from outside: IIS's lists are IPv4 only, and IIS SMTP
			// listened on IPv4, where mailbridge listens on IPv6 too; a
			// program on this machine sending to "localhost", which
			// Windows resolves to ::1 first, was refused.
			w.comment("::1 is added: it is this machine over IPv6, as 127.0.0.1 is over IPv4, which IIS's IPv4-only list names; a program sending to \"localhost\" reaches ::1 first.")
			grant = append(grant, "::1")
		}
		w.kvf("%s = %s", grantKey, tomlList(grant))
		if len(l.GrantNames) > 0 {
			w.comment("IIS %s %s", prop, names(l.GrantNames))
		}
		return
	}
	if prop == "RelayIpList" {
		w.comment("WARNING: IIS RelayIpList (line %d) is \"all except the list below\": every client could relay except %s. That is an open relay, and mailbridge will not import one: list the clients that may relay.", p.Line, listOrNone(append(prefixStrings(l.Deny), l.DenyNames...)))
		w.kvf("%s = []", grantKey)
		imp.note("IIS RelayIpList (line %d) let every client relay (an open relay), which is not imported, so relay_from = []: %s", p.Line, relayRefused)
		return
	}
	w.comment("IIS %s (line %d): every client could %s except those below.", prop, p.Line, verb)
	w.kvf("%s = []", grantKey)
	deny := prefixStrings(l.Deny)
	if withLoopback6(l.Deny) {
		// As for a grant list (above): refused over IPv4, this machine
		// would get in over IPv6.
		w.comment("::1 is added: it is this machine over IPv6, as 127.0.0.1 is over IPv4, which IIS's IPv4-only list names.")
		deny = append(deny, "::1")
	}
	w.kvf("deny_from = %s", tomlList(deny))
	if len(l.DenyNames) > 0 {
		// Not matched, the names let in clients IIS refused.
		w.comment("WARNING: IIS %s refused clients by host name too (%s), which mailbridge cannot match: it never looks names up, so they can connect until their addresses are in deny_from.", prop, strings.Join(l.DenyNames, ", "))
	}
}

// withLoopback6 reports whether grant lets in 127.0.0.1, this machine over
// IPv4, and not ::1, the same machine over IPv6.
func withLoopback6(grant []netip.Prefix) bool {
	v4, v6 := false, false
	for _, p := range grant {
		v4 = v4 || p.Contains(netip.AddrFrom4([4]byte{127, 0, 0, 1}))
		v6 = v6 || p.Contains(netip.IPv6Loopback())
	}
	return v4 && !v6
}

// localDomain returns d as local_domains takes it, or why it cannot be
// imported. The configuration's own check decides (config.HostName:
// local_domains applies the same rules), so a Unicode name such as
// bücher.example is imported as written, as README says local_domains
// accepts it; a final dot (an absolute name, "example.com.") is dropped.
func localDomain(d string) (string, string) {
	d = strings.TrimSpace(d)
	if strings.HasSuffix(d, ".") && !strings.HasSuffix(d, "..") {
		d = strings.TrimSuffix(d, ".")
	}
	switch {
	case strings.Contains(d, "*"):
		return "", "a wildcard"
	case strings.HasPrefix(d, "["):
		return "", "an address"
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return "", "an address"
	}
	if _, err := config.HostName(d); err != nil {
		return "", "not a domain name: it " + err.Error()
	}
	return d, ""
}

// domainLists sorts the IIsSmtpDomain nodes by their RouteAction bits into
// local (drop) and alias domain names, and comment lines for remote ones.
func (imp *iisImport) domainLists() (local, alias, remote []string) {
	// The default domain is local whatever its bits say: IIS creates it
	// with the virtual server and will not delete it.
	var own []string
	for _, name := range []string{"DefaultDomain", "FullyQualifiedDomainName"} {
		if p, ok := imp.get(name); ok && strings.TrimSpace(p.Value) != "" {
			own = append(own, strings.TrimSpace(p.Value))
		}
	}
	for _, n := range imp.domains {
		name := n.Location[strings.LastIndex(strings.ToLower(n.Location), "/domain/")+len("/domain/"):]
		ra := uint32(0)
		raLine := n.Line
		if p, ok := n.Prop("RouteAction"); ok {
			v, err := MetabaseUint(p.Value, routeActionNames)
			if err != nil {
				remote = append(remote, fmt.Sprintf("IIS domain %s (line %d): RouteAction \"%s\" is not a number; the domain is not imported.", name, p.Line, p.Value))
				continue
			}
			ra, raLine = v, p.Line
		}
		switch {
		case ra&routeAlias != 0:
			alias = append(alias, name)
		case ra&(routeDrop|routeDefault) != 0 || containsFold(own, name):
			local = append(local, name)
		default:
			remote = append(remote, remoteDomain(n, name, ra, raLine))
		}
	}
	return local, alias, remote
}

// remoteDomain says what IIS did for a remote domain and what mailbridge
// does instead.
func remoteDomain(n *MetabaseNode, name string, ra uint32, line int) string {
	head := fmt.Sprintf("IIS remote domain %s (RouteAction %d, line %d):", name, ra, line)
	var how []string
	if ra&routeSmartHost != 0 {
		host := "its own smart host"
		if p, ok := n.Prop("RouteActionString"); ok && strings.TrimSpace(p.Value) != "" {
			host = strings.TrimSpace(p.Value)
		}
		how = append(how, fmt.Sprintf("mail for it went to %s, while mailbridge sends all relayed mail to the one Outbound Server", host))
	}
	if ra&routeSSL != 0 {
		how = append(how, "IIS required TLS to it: set the TLS mode of [outbound]")
	}
	if ra&routeAuthAnyOut != 0 {
		user := ""
		if p, ok := n.Prop("RouteUserName"); ok && p.Value != "" {
			user = fmt.Sprintf(" as \"%s\"", p.Value)
		}
		how = append(how, fmt.Sprintf("IIS authenticated%s: the password is stored encrypted and cannot be imported", user))
	}
	if ra&routeDomRelay != 0 {
		how = append(how, "IIS let any client relay mail to it; mailbridge relays only for relay_from clients, or add it to local_domains to drop it")
	}
	if ra&routeIPRelay != 0 {
		how = append(how, "IIS let the clients of its own RelayIpList relay to it; mailbridge has one relay_from for all domains")
	}
	if ra&routeAuthRelay != 0 {
		how = append(how, "IIS let authenticated clients relay to it; mailbridge offers no inbound AUTH")
	}
	if len(how) == 0 {
		how = append(how, "delivered like any other domain (through the Outbound Server in mailbridge)")
	}
	return head + " " + strings.Join(how, "; ") + "."
}

// neverSent ends the note for an import without [outbound] server: the
// mail IIS sent on (Pickup files, mail relayed for relay_from clients)
// waits in Queue until it expires into Badmail, and check only says "note".
const neverSent = "Pickup and relayed mail is queued and never sent; set [outbound] server"

func (imp *iisImport) writeOutbound() error {
	w := &imp.w
	w.section("outbound")
	host, hp := imp.get("SmartHost")
	typ, tp, typOK := imp.number("SmartHostType")
	smart := strings.TrimSpace(host.Value)
	haveServer := hp && smart != "" && validSmartHost(smart) == ""
	switch {
	case !hp || smart == "":
		w.comment("IIS had no smart host: it delivered to each domain's mail servers (MX) itself. mailbridge relays only through an Outbound Server: set one, or Pickup files are queued and not sent.")
		w.code(`server = "smtp.example.com"`)
		imp.note("IIS had no smart host (it delivered to each domain's mail servers itself); with no [outbound] server, %s", neverSent)
	case validSmartHost(smart) != "":
		w.comment("IIS SmartHost \"%s\" (line %d) cannot be used: %s. Set the Outbound Server by hand.", smart, host.Line, validSmartHost(smart))
		w.code(`server = "smtp.example.com"`)
		imp.note("IIS SmartHost \"%s\" (line %d) cannot be used: %s; with no [outbound] server, %s", smart, host.Line, validSmartHost(smart), neverSent)
	default:
		if strings.HasPrefix(smart, "[") {
			w.comment("The Outbound Server (IIS SmartHost; in brackets, an address, not a name to look up).")
		} else {
			w.comment("The Outbound Server (IIS SmartHost).")
		}
		w.kv("server", tomlString(smart))
		switch {
		case typOK && typ == 0:
			// SmartHostType (IIS 6 metabase reference): 0 when the
			// dialog has no smart host, 1 direct delivery first, 2
			// always the smart host. 0 beside a SmartHost value (a hand
			// edit, say) means IIS did not use it.
			w.comment("IIS SmartHostType = 0 (line %d): IIS did not use this smart host (0 means none is set), it delivered to each domain's mail servers (MX) itself. mailbridge sends everything through the Outbound Server: check that this server relays for every domain you send to.", tp.Line)
			imp.note("IIS delivered to each domain's mail servers (SmartHostType = 0); mailbridge sends everything through the Outbound Server, which must relay for every domain")
		case typOK && typ == 1:
			w.comment("IIS SmartHostType = 1 (line %d): IIS tried direct delivery first. mailbridge always sends through the Outbound Server.", tp.Line)
		}
	}
	port := uint32(25)
	if n, p, ok := imp.number("RemoteSmtpPort"); ok {
		port = n
		if n >= 1 && n <= 65535 {
			w.comment("IIS RemoteSmtpPort: the Outbound Server's port.")
			w.kv("port", strconv.FormatUint(uint64(n), 10))
		} else {
			imp.fail(p, "port %s is not from 1 to 65535", dword(p, n)) // recorded; the import goes on
		}
	}
	// IIS's AlwaysUseSsl defaults to FALSE: without it, IIS sent to the
	// smart host in plain text.
	ssl, sslSet := imp.get("AlwaysUseSsl")
	sslOn := false
	if sslSet {
		on, err := MetabaseBool(ssl.Value)
		if err != nil {
			return imp.fail(ssl, "%v", err)
		}
		sslOn = on
		if on {
			mode := "starttls"
			if port == 465 {
				mode = "implicit"
			}
			w.comment("IIS AlwaysUseSsl = TRUE (line %d): IIS used TLS to the smart host; mailbridge requires it too (\"starttls\" on port 25 or 587, \"implicit\" on 465).", ssl.Line)
			if haveServer {
				w.kvf("tls = %q", mode)
			} else {
				w.code("tls = %q", mode)
			}
			if err := imp.writeVerify(smart, haveServer); err != nil {
				return err
			}
		}
	}
	if err := imp.writeOutboundAuth(ssl, sslOn, haveServer); err != nil {
		return err
	}
	if p, ok := imp.get("SmtpRemoteProgressiveRetry"); ok && strings.TrimSpace(p.Value) != "" {
		var list []string
		bad := ""
		for _, s := range strings.Split(p.Value, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
			// Beyond some 292 years (math.MaxInt64 nanoseconds) no
			// duration holds it: mailbridge could not load the line.
			if err != nil || n == 0 || n > uint64(math.MaxInt64/int64(time.Minute)) {
				bad = s
				break
			}
			list = append(list, fmtMinutes(uint32(n)))
		}
		if bad != "" || len(list) == 0 {
			w.comment("IIS SmtpRemoteProgressiveRetry \"%s\" (line %d) is not a list of minutes; mailbridge keeps IIS's default, 15, 30, 60, then every 240 minutes.", p.Value, p.Line)
			imp.note("IIS SmtpRemoteProgressiveRetry \"%s\" (line %d) is not a list of minutes, so IIS's default retry schedule is kept (15, 30, 60, then every 240 minutes)", p.Value, p.Line)
		} else {
			w.comment("IIS SmtpRemoteProgressiveRetry \"%s\": minutes before each retry, the last one repeated.", p.Value)
			w.kv("retry", tomlList(list))
		}
	}
	if n, p, ok := imp.number("SmtpRemoteNDRExpireMinutes"); ok {
		if n >= 1 {
			w.comment("IIS SmtpRemoteNDRExpireMinutes = %d: a message not sent by then goes to Badmail.", n)
			w.kv("expiration", tomlString(fmtMinutes(n)))
		} else {
			w.comment("IIS SmtpRemoteNDRExpireMinutes = 0 (line %d) is not an expiration; mailbridge keeps 48h.", p.Line)
		}
	}
	if n, _, ok := imp.number("SmtpRemoteDelayExpireMinutes"); ok {
		w.comment("IIS SmtpRemoteDelayExpireMinutes = %d: when a delay is reported.", n)
		w.kv("delay_notification", tomlString(fmtMinutes(n)))
	}
	if n, p, ok := imp.number("MaxBatchedMessages"); ok {
		if n >= 1 && n <= 100_000 {
			w.comment("IIS MaxBatchedMessages: messages sent over one connection.")
			w.kv("max_messages_per_connection", strconv.FormatUint(uint64(n), 10))
		} else {
			w.comment("IIS MaxBatchedMessages = %s (line %d) means no limit; mailbridge keeps 20 per connection.", dword(p, n), p.Line)
		}
	}
	if n, p, ok := imp.number("RemoteTimeout"); ok {
		if n >= 1 && n <= maxTimeout {
			w.comment("IIS RemoteTimeout = %d seconds: how long to wait for the Outbound Server's reply.", n)
			w.kv("command_timeout", tomlString(fmtSeconds(n)))
		} else {
			w.comment("IIS RemoteTimeout = %s (line %d) is not a timeout; mailbridge keeps its default.", dword(p, n), p.Line)
		}
	}
	w.blank()
	return nil
}

// writeVerify carries over how IIS checked the smart host's certificate
// when it required TLS. mailbridge verifies the chain and the name
// together (verify_certificate); a required TLS whose verification
// cannot succeed defers every message until expiration, so:
//
//   - where IIS skipped either check (SmtpSSLRequireTrustedCA or
//     SmtpSSLCertHostnameValidation FALSE), it accepted certificates
//     mailbridge would refuse: verify_certificate = false, as IIS
//     delivered, with how to verify instead;
//   - where it verified (or the file does not say) and the smart host is
//     an IP address, the certificate would have to hold that address,
//     which few do: a WARNING asks for server_name.
func (imp *iisImport) writeVerify(smart string, haveServer bool) error {
	w := &imp.w
	type check struct {
		prop, what string
		p          MetabaseProp
		set, on    bool
	}
	checks := []*check{
		{prop: "SmtpSSLRequireTrustedCA", what: "from a CA it did not trust"},
		{prop: "SmtpSSLCertHostnameValidation", what: "whose name did not match the smart host"},
	}
	var skipped, kept []string
	for _, c := range checks {
		p, ok := imp.get(c.prop)
		if !ok || strings.TrimSpace(p.Value) == "" {
			continue
		}
		on, err := MetabaseBool(p.Value)
		if err != nil {
			return imp.fail(p, "%v", err)
		}
		c.p, c.set, c.on = p, true, on
		if on {
			kept = append(kept, fmt.Sprintf("%s = TRUE (line %d)", c.prop, p.Line))
		} else {
			skipped = append(skipped, fmt.Sprintf("IIS %s = FALSE (line %d): IIS accepted a certificate %s", c.prop, p.Line, c.what))
		}
	}
	key := func(format string, a ...any) {
		if haveServer {
			w.kvf(format, a...)
		} else {
			w.code(format, a...)
		}
	}
	if len(skipped) > 0 {
		w.comment("%s. mailbridge checks the CA and the name together or not at all, so it does not check the certificate (the connection is encrypted, not authenticated), and delivers where IIS did. To verify it, set ca_file to the smart host's CA (for an internal one) and server_name to the name in its certificate, and remove this line.", strings.Join(skipped, "; "))
		key("verify_certificate = false")
		return nil
	}
	if len(kept) > 0 {
		w.comment("IIS %s: IIS verified the smart host's certificate, and so does mailbridge (verify_certificate, on with TLS required).", strings.Join(kept, ", "))
	}
	ip := strings.Trim(smart, "[]")
	if _, err := netip.ParseAddr(ip); err == nil {
		w.comment("WARNING: the Outbound Server is an IP address (%s) and its certificate is verified, so it must hold that address, which few certificates do: otherwise every message is deferred, and goes to Badmail at expiration. Set server_name to the name in the smart host's certificate and uncomment it; if the certificate is self-signed, also set ca_file to it (or, if IIS did not verify it either, set verify_certificate = false).", ip)
		w.code(`server_name = "smtp.example.com"`)
	}
	return nil
}

// writeOutboundAuth writes the smart host's user name, commented out with
// a password file to fill in: the password is stored encrypted in the
// metabase. IIS keeps RouteUserName when outbound security is set back to
// anonymous (no authentication bit in RouteAction); the name is written
// then too, as IIS had it, with a note that IIS did not use it. ssl is
// AlwaysUseSsl (its line, when given), sslOn whether IIS required TLS.
func (imp *iisImport) writeOutboundAuth(ssl MetabaseProp, sslOn, haveServer bool) error {
	w := &imp.w
	ra, raLine := uint32(0), 0
	if p, ok := imp.get("RouteAction"); ok {
		v, err := MetabaseUint(p.Value, routeActionNames)
		if err != nil {
			return imp.fail(p, "%v", err)
		}
		ra, raLine = v, p.Line
	}
	u, _ := imp.get("RouteUserName")
	user := strings.TrimSpace(u.Value)
	switch {
	case ra&routeAuthAnyOut != 0 && user != "":
		w.comment("IIS authenticated to the smart host as \"%s\" (RouteAction %d, line %d). The password is stored encrypted in the metabase and cannot be imported: put it in a file readable only by mailbridge's account, name the file here and uncomment both lines.", user, ra, raLine)
		imp.note("the smart host's password cannot be imported: set [outbound] password_file (and username) before starting")
	case ra&routeAuthAnyOut != 0:
		w.comment("IIS authenticated to the smart host (RouteAction %d, line %d). The password is stored encrypted in the metabase and cannot be imported: put it in a file readable only by mailbridge's account, name the file here and uncomment both lines.", ra, raLine)
		imp.note("the smart host's user name and password cannot be imported: set [outbound] username and password_file before starting")
	case user != "":
		w.comment("IIS RouteUserName \"%s\" (line %d) is set, but RouteAction asks for no authentication, so IIS sent to the smart host without AUTH. If the Outbound Server needs AUTH, put the password (stored encrypted in the metabase, it cannot be imported) in a file readable only by mailbridge's account, name the file here and uncomment both lines.", user, u.Line)
	default:
		return nil
	}
	if user != "" {
		w.code("username = %s", tomlString(user))
	} else {
		w.code(`username = "user@example.com"`)
	}
	w.code(`password_file = 'C:\ProgramData\mailbridge\smarthost.pw'`)
	if ra&routeAuthClear != 0 && !sslOn {
		imp.writeClearTextAuth(ssl, haveServer)
	}
	return nil
}

// writeClearTextAuth carries over Basic authentication that IIS did without
// TLS (RouteAction SMTP_AUTH_CLEARTEXT, AlwaysUseSsl FALSE, its default):
// IIS sent the password in plain text to whatever answered. mailbridge
// sends a password only over TLS (the tls default, "opportunistic", then
// requires STARTTLS), and with username set it verifies the smart host's
// certificate by default (config's verifyByDefault), so an internal relay
// with a self-signed certificate (Exchange's default), which IIS reached,
// would defer every message. Not verifying keeps the delivery IIS had and
// still encrypts the password, which no one on the path could then read,
// as they could with IIS; verification is left for the administrator to
// turn on once the certificate is known to be valid.
func (imp *iisImport) writeClearTextAuth(ssl MetabaseProp, haveServer bool) {
	w := &imp.w
	how := "AlwaysUseSsl is not set"
	if ssl.Name != "" {
		how = fmt.Sprintf("AlwaysUseSsl = %s, line %d", strings.TrimSpace(ssl.Value), ssl.Line)
	}
	w.comment("IIS sent this password to the smart host without TLS (Basic authentication; %s). mailbridge sends it only over TLS: STARTTLS, where the smart host offers it (tls, default \"opportunistic\"); a smart host that offers no STARTTLS defers every message until it does (tls = \"none\" would send the password in plain text, as IIS did). With a username, mailbridge would also verify the smart host's certificate, and defer every message to a self-signed one (Exchange's default), which IIS reached; so the certificate is not checked (the password is encrypted, but whoever can pose as the smart host gets it, as with IIS). Once the smart host's certificate is known to be valid, set verify_certificate = true, with ca_file for an internal CA (or the certificate itself, if self-signed).", how)
	if haveServer {
		w.kvf("verify_certificate = false")
	} else {
		w.code("verify_certificate = false")
	}
	imp.note("IIS sent the smart host's password without TLS; mailbridge sends it only over STARTTLS, without checking the certificate (verify_certificate = false) so that a self-signed one does not defer mail: set it true, with ca_file, once the certificate is known to be valid")
}

func (imp *iisImport) writePickup() error {
	w := &imp.w
	w.section("pickup")
	if p, ok := imp.get("SmtpDotStuffPickupDirFiles"); ok {
		on, err := MetabaseBool(p.Value)
		if err != nil {
			return imp.fail(p, "%v", err)
		}
		if on {
			w.comment("IIS SmtpDotStuffPickupDirFiles: Pickup files are an SMTP DATA stream (\"..\" becomes \".\", a lone \".\" ends the message).")
		} else {
			w.comment("IIS SmtpDotStuffPickupDirFiles = FALSE: Pickup files are taken as written (\"..\" stays, a lone \".\" is text).")
		}
		w.kv("dot_stuffed", strconv.FormatBool(on))
	} else {
		w.comment("Pickup files are an SMTP DATA stream, as IIS read them (SmtpDotStuffPickupDirFiles, default TRUE).")
		w.kv("dot_stuffed", "true")
	}
	if p, ok := imp.get("DefaultDomain"); ok && strings.TrimSpace(p.Value) != "" {
		d := strings.TrimSpace(p.Value)
		if why := validHostname(d); why != "" {
			w.comment("IIS DefaultDomain \"%s\" (line %d) is not a domain mailbridge can use: %s.", d, p.Line, why)
		} else {
			w.comment("IIS DefaultDomain: appended to bare addresses without a domain.")
			w.kv("default_domain", tomlString(d))
		}
	}
	w.blank()
	return nil
}

func (imp *iisImport) writeLog() {
	w := &imp.w
	typ, _ := imp.get("LogType")
	clsid, _ := imp.get("LogPluginClsid")
	period, _ := imp.get("LogFilePeriod")
	dir, dirOK := imp.get("LogFileDirectory")
	w.section("log")
	w.comment("mailbridge's own structured log goes to stderr (or [log] file).")
	on, _ := MetabaseBool(typ.Value)
	if !on {
		w.comment("MetaBase.xml does not say that IIS kept an SMTP log (no LogType = 1).")
		w.blank()
		return
	}
	if c := strings.TrimSpace(clsid.Value); c != "" && !strings.EqualFold(c, w3cLogClsid) {
		// Programs that read IIS's log (log analysers, scripts) read its
		// format; they get W3C Extended lines, in another file.
		format, known := iisLogFormats[strings.ToUpper(c)]
		if !known {
			format = "another format than W3C Extended"
		}
		w.comment("IIS logged in %s (LogPluginClsid %s); mailbridge writes only the W3C Extended format.", format, c)
		imp.note("IIS logged in %s (LogPluginClsid %s); mailbridge writes W3C Extended instead ([log] w3c_dir): programs that read the old log must read that format", format, c)
	}
	logDir := iisDefaultLogDir
	if dirOK && strings.TrimSpace(dir.Value) != "" {
		d, _, unknown := expandWinVars(dir.Value)
		if strings.IndexFunc(strings.TrimSpace(d), isControl) >= 0 {
			w.comment("IIS LogFileDirectory %q (line %d) holds a control character, which no Windows path can; set w3c_dir by hand.", strings.TrimSpace(dir.Value), dir.Line)
			w.blank()
			return
		}
		if unknown != "" {
			// The log is not worth stopping the import for: the line
			// is left for the administrator to complete.
			w.comment("IIS wrote its W3C SMTP log under %s, which holds the environment variable %s, whose value on the IIS server the import cannot know. Write the folder out and uncomment:", strings.TrimSpace(dir.Value), unknown)
			w.code("w3c_dir = %s", tomlPath(joinWin(cleanWinPath(d), fmt.Sprintf("SMTPSVC%d", imp.site))))
			w.blank()
			return
		}
		logDir = cleanWinPath(d)
	}
	logDir = joinWin(logDir, fmt.Sprintf("SMTPSVC%d", imp.site))
	if p := strings.TrimSpace(period.Value); p != "" && p != "1" {
		w.comment("IIS started a new log file by LogFilePeriod = %s; mailbridge's IIS-format log is daily (exYYMMDD.log).", p)
	}
	w.comment("IIS wrote its W3C SMTP log under %s; mailbridge writes the same format there:", logDir)
	w.kvf("w3c_dir = %s", tomlPath(logDir))
	w.blank()
}

// writeLeftovers lists every other property of the virtual server (and
// what it inherits from the service) with the reason it is not imported.
func (imp *iisImport) writeLeftovers() {
	w := &imp.w
	type left struct {
		p    MetabaseProp
		from string
	}
	var rest []left
	seen := map[string]bool{}
	for _, n := range []*MetabaseNode{imp.server, imp.service} {
		if n == nil {
			continue
		}
		for _, p := range n.Props {
			k := strings.ToLower(p.Name)
			if imp.used[k] || seen[k] {
				continue
			}
			seen[k] = true
			rest = append(rest, left{p, n.Location})
		}
	}
	if len(rest) == 0 {
		return
	}
	w.comment("Other IIS settings, not carried over:")
	var internals []string
	for _, l := range rest {
		name := canonicalName(l.p.Name)
		if iisInternals[name] {
			internals = append(internals, name)
			continue
		}
		reason, ok := explained[name]
		if !ok {
			reason = "no mailbridge equivalent"
		}
		if attention[name] {
			imp.note("%s = %s (line %d) is not carried over: %s", l.p.Name, shorten(l.p.Value), l.p.Line, reason)
		}
		value := "\"" + shorten(l.p.Value) + "\""
		if secret[name] {
			value = "(encrypted; not shown)"
		}
		w.comment("  %s = %s (%s line %d): %s.", l.p.Name, value, l.from, l.p.Line, reason)
	}
	if len(internals) > 0 {
		sort.Strings(internals)
		w.comment("  IIS administration settings with no meaning for mailbridge: %s.", strings.Join(internals, ", "))
	}
}

// attention holds the properties left over whose loss changes how mail
// flows, which ImportIISNotes lists.
var attention = map[string]bool{
	"MasqueradeDomain": true, "SendNdrTo": true, "SendBadTo": true,
	"SecureBindings": true, "SSLCertHash": true,
}

// canonicalName returns the spelling used in the tables above.
func canonicalName(name string) string {
	for k := range explained {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	for k := range iisInternals {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 60 {
		r := []rune(s)
		return string(r[:57]) + "..."
	}
	return s
}
