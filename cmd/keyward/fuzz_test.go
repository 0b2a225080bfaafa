package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/internal/fuzzseed"
)

// FuzzParseConfig checks that no error shows the token the file holds,
// that a config parseConfig accepts survives yaml.Marshal and parseConfig,
// and that what validate accepts keeps its rules: token and token_file
// not both, no blank master_key, relative paths resolved.
func FuzzParseConfig(f *testing.F) {
	for _, b := range fuzzseed.Files(f, "config/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		token := configToken(b)
		raw, err := parseConfig(b)
		if err != nil {
			noSecret(t, "parseConfig", err, token)
			return
		}
		out, err := yaml.Marshal(raw)
		if err != nil {
			t.Fatalf("yaml.Marshal(%+v) = %v", raw, err)
		}
		again, err := parseConfig(out)
		if err != nil {
			t.Fatalf("parseConfig(%q) = %v; it was written from %q", out, err, b)
		}
		if diff := cmp.Diff(raw, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("config %q does not survive a round trip (-first +second):\n%s", b, diff)
		}
		c, err := raw.validate("/etc/keyward", testGetenv)
		if err != nil {
			noSecret(t, "validate", err, token)
			return
		}
		if c.Token != "" && c.TokenFile != "" {
			t.Fatalf("config %q: token and token_file both accepted", b)
		}
		for _, spec := range c.MasterKeys {
			if strings.TrimSpace(spec) == "" {
				t.Fatalf("config %q: blank master_key accepted", b)
			}
		}
		for _, p := range []string{c.Data, c.KeyDir, c.RecoveryKeyFile, c.TokenFile, c.CACert} {
			if p != "" && !filepath.IsAbs(p) {
				t.Fatalf("config %q: path %q left relative", b, p)
			}
		}
		if c.ExecTimeout < 0 {
			t.Fatalf("config %q: exec_timeout %v", b, c.ExecTimeout)
		}
	})
}

// configToken returns the token a config file holds as written (read
// as YAML nodes, so that a bad tag does not hide it), or "" when it has
// none worth looking for: a short one could appear in an error by chance,
// and a ${VAR} reference is no secret.
func configToken(b []byte) string {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) != 1 {
		return ""
	}
	m := doc.Content[0]
	tok := ""
	for i := 0; m.Kind == yaml.MappingNode && i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "token" {
			tok = m.Content[i+1].Value
		}
	}
	if len(tok) < 8 || strings.Contains(tok, "${") {
		return ""
	}
	return tok
}

// noSecret fails if err shows secret or its first 7 characters the way
// yaml.v3 abbreviates a value ("`abcdefg...`").
func noSecret(t *testing.T, what string, err error, secret string) {
	t.Helper()
	if secret == "" {
		return
	}
	if msg := err.Error(); strings.Contains(msg, secret) || strings.Contains(msg, "`"+secret[:7]+"...`") {
		t.Fatalf("%s error %q shows the secret %q", what, msg, secret)
	}
}

// FuzzParseJSONFields checks that `put --json` input gives fields that
// survive json.Marshal and parseJSONFields, and that no error shows a
// field's value.
func FuzzParseJSONFields(f *testing.F) {
	for _, b := range fuzzseed.Files(f, "json_fields/*") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := parseJSONFields(b)
		if err != nil {
			var m map[string]any
			if json.Unmarshal(b, &m) == nil {
				for _, v := range m {
					if s, ok := v.(string); ok && len(s) >= 8 {
						noSecret(t, "parseJSONFields", err, s)
					}
				}
			}
			return
		}
		out, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseJSONFields(out)
		if err != nil || !cmp.Equal(fields, again) {
			t.Fatalf("fields of %q do not survive a round trip: %q, %v", b, again, err)
		}
	})
}
