package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// locateSample holds what makes finding a line hard: brackets, commas,
// quotes and "#" inside strings and comments, multi-line strings, items
// sharing a line, nested lists, inline tables, a byte order mark.
const locateSample = "\ufeffhostname = \"h\" # [x]\n" + `[inbound]
local_domains = ["a", "b",  # "c",
  "d"]
"relay_from" = [ ]
allow_from = [ """1,
2]""", '''3'''''', "4\"]",
  [5, [6,
   7]], { k = "8" }, 9 ]
[ outbound ]
retry = ['1m'
, '2m']
port = 25
[pickup]
ignore = """
x = [
"""
quiet_period = "2s"
`

// TestLocate: the lines of keys and of list items, whatever strings and
// comments hold.
func TestLocate(t *testing.T) {
	p := locate([]byte(locateSample))
	for k, want := range map[string]int{
		"hostname": 1, "inbound": 2, "inbound.local_domains": 3, "inbound.relay_from": 5,
		"inbound.allow_from": 6, "outbound": 10, "outbound.retry": 11, "outbound.port": 13,
		"pickup": 14, "pickup.ignore": 15, "pickup.quiet_period": 18,
	} {
		if got := p.keys[k]; got != want {
			t.Errorf("key %s: line %d, want %d", k, got, want)
		}
	}
	if line, ok := p.keys["x"]; ok {
		t.Errorf("a key inside a multi-line string was located, on line %d", line)
	}
	for k, want := range map[string]string{
		"inbound.local_domains": "[3 3 4]",
		"inbound.relay_from":    "[]",
		"inbound.allow_from":    "[6 7 7 8 9 9]",
		"outbound.retry":        "[11 12]",
	} {
		if got := fmt.Sprint(p.items[k]); got != want {
			t.Errorf("items of %s: lines %s, want %s", k, got, want)
		}
	}
}

// FuzzLocate: on any document the TOML library accepts, every list it
// decodes has as many items located, each on a line of the document, none
// before its key; on any text at all, locate returns.
func FuzzLocate(f *testing.F) {
	f.Add(locateSample)
	f.Add("[inbound]\nlocal_domains = [\n  \"good.example\",\n  \"bad..example\",\n]\n")
	f.Add("a = [\"\\\\\", '\\', \"\"\"\\\"\"\"\"\", [[]], {b = [1, {c = [2]}]}]\n[[t]]\nd = [3]\n[[t]]\nd = [4, 5]\n")
	f.Add("x.y.\"z\" = [1979-05-27 07:32:00Z, 1.5e3, inf, true]\n")
	f.Fuzz(func(t *testing.T, data string) {
		p := locate([]byte(data))
		var raw map[string]any
		if _, err := toml.Decode(data, &raw); err != nil {
			return
		}
		lines := strings.Count(data, "\n") + 1
		for k, items := range p.items {
			for _, n := range items {
				if n < 1 || n > lines || n < p.keys[k] {
					t.Fatalf("%s: item on line %d; the key is on line %d of %d", k, n, p.keys[k], lines)
				}
			}
		}
		checkItemCounts(t, raw, "", p)
	})
}

// checkItemCounts checks that every list in the decoded table t (whose
// dotted name is prefix) has as many items located. Arrays of tables
// ([[t]]) are skipped: their keys repeat, and the loader rejects them.
func checkItemCounts(t *testing.T, table map[string]any, prefix string, p positions) {
	t.Helper()
	for k, v := range table {
		dotted := prefix + k
		switch v := v.(type) {
		case map[string]any:
			checkItemCounts(t, v, dotted+".", p)
		case []any:
			if got := len(p.items[dotted]); got != len(v) {
				t.Fatalf("%s: %d items located, the TOML library decodes %d: %v", dotted, got, len(v), p.items[dotted])
			}
		}
	}
}
