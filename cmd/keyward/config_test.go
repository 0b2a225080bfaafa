package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testEnv = map[string]string{"HOME": "/home/k", "EMPTY": ""}

func testGetenv(k string) (string, bool) { v, ok := testEnv[k]; return v, ok }

var configTests = []struct {
	name    string
	yaml    string
	want    *fileConfig
	wantErr string
}{
	{name: "empty", yaml: "", want: &fileConfig{}},
	{name: "comment only", yaml: "# nothing\n", want: &fileConfig{}},
	{
		name: "all keys",
		yaml: "data: d\nmaster_key: auto\nkey_dir: /k\nrecovery_key_file: rk\nexec_timeout: 1m\n",
		want: &fileConfig{Data: "/etc/keyward/d", MasterKeys: []string{"auto"}, KeyDir: "/k",
			RecoveryKeyFile: "/etc/keyward/rk", ExecTimeout: time.Minute},
	},
	{
		name: "master_key list and vars",
		yaml: "master_key: [auto, 'file:${HOME}/k', 'env:X${EMPTY}']\n",
		want: &fileConfig{MasterKeys: []string{"auto", "file:/home/k/k", "env:X"}},
	},
	{name: "dollar without braces stays", yaml: "key_dir: /a/$HOME\n", want: &fileConfig{KeyDir: "/a/$HOME"}},
	{name: "unknown key", yaml: "data: a\nmasterkey: auto\n", wantErr: `line 2: unknown key "masterkey"`},
	{name: "unset var", yaml: "data: ${NOPE}/x\n", wantErr: "data: ${NOPE} is not set"},
	{name: "repeated key", yaml: "data: a\ndata: b\n", wantErr: `key "data" given twice`},
	{name: "not a mapping", yaml: "- a\n", wantErr: "want a mapping"},
	{name: "two documents", yaml: "data: a\n---\ndata: b\n", wantErr: "more than one YAML document"},
	{name: "bad duration", yaml: "exec_timeout: 10\n", wantErr: `exec_timeout: "10" is not a duration`},
	{name: "zero duration", yaml: "exec_timeout: 0s\n", wantErr: "must be positive"},
	{name: "empty spec", yaml: "master_key: ['']\n", wantErr: "empty provider spec"},
	{name: "map for master_key", yaml: "master_key: {a: b}\n", wantErr: "master_key: want a provider spec"},
	{name: "list for data", yaml: "data: [a]\n", wantErr: "cannot unmarshal"},
}

func TestParseConfig(t *testing.T) {
	for _, tt := range configTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAndValidate([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("config %q: error = %v, want one containing %q", tt.yaml, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("config %q: %v", tt.yaml, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config %q (-want +got):\n%s", tt.yaml, diff)
			}
		})
	}
}

func parseAndValidate(b []byte) (*fileConfig, error) {
	raw, err := parseConfig(b)
	if err != nil {
		return nil, err
	}
	return raw.validate("/etc/keyward", testGetenv)
}

var jsonFieldTests = []struct {
	in      string
	want    map[string]string
	wantErr string
}{
	{in: `{}`, want: map[string]string{}},
	{in: `{"a": "x", "n": 1.50, "b": true, "f": false, "u": "\u00e9\n"}`,
		want: map[string]string{"a": "x", "n": "1.50", "b": "true", "f": "false", "u": "é\n"}},
	{in: ` {"a":"1"} `, want: map[string]string{"a": "1"}},
	{in: `{"a": {"b": 1}}`, wantErr: `field "a": nested objects and arrays`},
	{in: `{"a": [1]}`, wantErr: `field "a": nested objects and arrays`},
	{in: `{"a": null}`, wantErr: `field "a": null is not a value`},
	{in: `null`, wantErr: "got null"},
	{in: `["a"]`, wantErr: "want a JSON object"},
	{in: `"a"`, wantErr: "want a JSON object"},
	{in: `{"a": "1"} {}`, wantErr: "unexpected data after the JSON object"},
	{in: `{"a": `, wantErr: "want a JSON object"},
	{in: ``, wantErr: "want a JSON object"},
}

func TestParseJSONFields(t *testing.T) {
	for _, tt := range jsonFieldTests {
		got, err := parseJSONFields([]byte(tt.in))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseJSONFields(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseJSONFields(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseJSONFields(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

var printableTests = []struct{ in, want string }{
	{"plain value", "plain value"},
	{"é ü", "é ü"},
	{"two\nlines", `"two\nlines"`},
	{"esc\x1b[2J", `"esc\x1b[2J"`},
	{"bad\xffutf8", `"bad\xffutf8"`},
}

func TestPrintable(t *testing.T) {
	for _, tt := range printableTests {
		if got := printable(tt.in); got != tt.want {
			t.Errorf("printable(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
