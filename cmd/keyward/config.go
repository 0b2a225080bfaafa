package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// configName is the config file looked for in the data directory when
// neither --config nor KEYWARD_CONFIG names one.
const configName = "keyward.yaml"

// rawConfig is the config file as written. Its keys mirror the global
// flags. Every value may use ${VAR}; an unset VAR is an error.
type rawConfig struct {
	Data            string       `yaml:"data"`
	MasterKey       stringList   `yaml:"master_key"`
	KeyDir          string       `yaml:"key_dir"`
	RecoveryKeyFile string       `yaml:"recovery_key_file"`
	ExecTimeout     string       `yaml:"exec_timeout"`
	Server          string       `yaml:"server"`
	Token           secretString `yaml:"token"`
	TokenFile       string       `yaml:"token_file"`
	CACert          string       `yaml:"ca_cert"`
}

var configKeys = []string{"data", "master_key", "key_dir", "recovery_key_file", "exec_timeout", "server", "token", "token_file", "ca_cert"}

// fileConfig is a validated config file. Relative paths are resolved
// against the directory of the file.
type fileConfig struct {
	Path            string
	Data            string
	MasterKeys      []string
	KeyDir          string
	RecoveryKeyFile string
	ExecTimeout     time.Duration
	Server          string // base URL of a keyward server: client mode
	Token           string // secret: never shown
	TokenFile       string
	CACert          string
}

// secretString is a value that no error quotes: yaml.v3 quotes a scalar
// it cannot decode (e.g. "token: !!int kwt_…"), whole. Only token is one.
type secretString string

func (s *secretString) UnmarshalYAML(n *yaml.Node) error {
	var v string
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("line %d: token: want a string (not shown: it is a secret); remove any !!tag", n.Line)
	}
	*s = secretString(v)
	return nil
}

// stringList accepts one string or a list of strings.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	case yaml.SequenceNode:
		var ss []string
		if err := n.Decode(&ss); err != nil {
			return fmt.Errorf("line %d: master_key: want a list of provider specs: %w", n.Line, err)
		}
		*l = ss
		return nil
	}
	return fmt.Errorf("line %d: master_key: want a provider spec or a list of them", n.Line)
}

// loadConfig reads and validates the config file at path.
func loadConfig(path string, getenv func(string) (string, bool)) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	raw, err := parseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c, err := raw.validate(filepath.Dir(path), getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

func parseConfig(b []byte) (*rawConfig, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return &rawConfig{}, nil // an empty file sets nothing
	} else if err != nil {
		return nil, err
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, errors.New("holds more than one YAML document")
	}
	if err := checkKeys(&doc); err != nil {
		return nil, err
	}
	var raw rawConfig
	dec = yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	return &raw, nil
}

// checkKeys refuses unknown or repeated keys with a message that names
// them and their line.
func checkKeys(doc *yaml.Node) error {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of keys (%s)", m.Line, strings.Join(configKeys, ", "))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if !slices.Contains(configKeys, k.Value) {
			return fmt.Errorf("line %d: unknown key %q; known keys: %s", k.Line, k.Value, strings.Join(configKeys, ", "))
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
	}
	return nil
}

func (r *rawConfig) validate(dir string, getenv func(string) (string, bool)) (*fileConfig, error) {
	c := &fileConfig{}
	var err error
	expand := func(key, v string) string {
		if err != nil {
			return ""
		}
		var s string
		s, err = expandVars(key, v, getenv)
		return s
	}
	c.Data = resolvePath(dir, expand("data", r.Data))
	c.KeyDir = resolvePath(dir, expand("key_dir", r.KeyDir))
	c.RecoveryKeyFile = resolvePath(dir, expand("recovery_key_file", r.RecoveryKeyFile))
	timeout := expand("exec_timeout", r.ExecTimeout)
	c.Server = expand("server", r.Server)
	c.Token = expand("token", string(r.Token))
	c.TokenFile = resolvePath(dir, expand("token_file", r.TokenFile))
	c.CACert = resolvePath(dir, expand("ca_cert", r.CACert))
	for _, spec := range r.MasterKey {
		c.MasterKeys = append(c.MasterKeys, expand("master_key", spec))
	}
	if err != nil {
		return nil, err
	}
	for _, spec := range c.MasterKeys {
		if strings.TrimSpace(spec) == "" {
			return nil, errors.New("master_key: empty provider spec")
		}
	}
	if c.Token != "" && c.TokenFile != "" {
		return nil, errors.New("token and token_file exclude each other; keep one")
	}
	if timeout != "" {
		if c.ExecTimeout, err = parseTimeout(timeout); err != nil {
			return nil, fmt.Errorf("exec_timeout: %w", err)
		}
	}
	return c, nil
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandVars replaces each ${VAR} in v by the variable's value. An unset
// variable is an error, so a typo never silently becomes "".
func expandVars(key, v string, getenv func(string) (string, bool)) (string, error) {
	var missing string
	out := varRef.ReplaceAllStringFunc(v, func(ref string) string {
		name := varRef.FindStringSubmatch(ref)[1]
		val, ok := getenv(name)
		if !ok && missing == "" {
			missing = name
		}
		return val
	})
	if missing != "" {
		return "", fmt.Errorf("%s: ${%s} is not set; set it, or write the value without the reference", key, missing)
	}
	return out, nil
}

func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func parseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 10s, 1m)", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be positive", s)
	}
	return d, nil
}
