package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

const defaultDataDir = "keyward-data"

// settings are the global options in effect, each with where it came from.
type settings struct {
	DataDir         string
	ConfigFile      string // "" when no config file is used
	KeyDir          string // "" means the provider's default
	RecoveryKeyFile string
	ExecTimeout     time.Duration // 0 means the library's default
	MasterKeys      []string      // for init

	// Client mode: with Server set, commands go to that keyward server.
	Server    string
	Token     string // the API token itself; never printed
	TokenFile string // or the file holding it
	CACert    string // PEM file of the CA that signed the server's certificate

	from map[string]string // setting name → "flag --x", "env X", "config", "default"
}

// settings resolves the global options once: flag > env > config > default.
func (a *app) settings(cmd *cobra.Command) (*settings, error) {
	if a.set != nil {
		return a.set, nil
	}
	s := &settings{from: map[string]string{}}
	data, dataFrom := a.pick(cmd, "data", "KEYWARD_DATA", a.flags.data)
	cfgPath, cfgFrom := a.pick(cmd, "config", "KEYWARD_CONFIG", a.flags.config)
	if cfgPath == "" {
		dir := data
		if dir == "" {
			dir = defaultDataDir
		}
		if p := filepath.Join(dir, configName); fileExists(p) {
			cfgPath, cfgFrom = p, "default location"
		}
	}
	fc := &fileConfig{}
	if cfgPath != "" {
		var err error
		if fc, err = loadConfig(cfgPath, a.getenv); err != nil {
			return nil, err
		}
		s.ConfigFile, s.from["config"] = cfgPath, cfgFrom
	}
	s.DataDir, s.from["data"] = orConfig(data, dataFrom, fc.Data)
	if s.DataDir == "" {
		s.DataDir, s.from["data"] = defaultDataDir, "default"
	}
	keyDir, keyDirFrom := a.pick(cmd, "key-dir", "KEYWARD_KEY_DIR", a.flags.keyDir)
	s.KeyDir, s.from["key_dir"] = orConfig(keyDir, keyDirFrom, fc.KeyDir)
	rkf, rkfFrom := a.pick(cmd, "recovery-key-file", "KEYWARD_RECOVERY_KEY_FILE", a.flags.recoveryKeyFile)
	s.RecoveryKeyFile, s.from["recovery_key_file"] = orConfig(rkf, rkfFrom, fc.RecoveryKeyFile)
	if err := a.resolveTimeout(cmd, s, fc); err != nil {
		return nil, err
	}
	s.MasterKeys, s.from["master_key"] = fc.MasterKeys, "config"
	if v, ok := a.getenv("KEYWARD_MASTER_KEY"); ok && strings.TrimSpace(v) != "" {
		s.MasterKeys, s.from["master_key"] = splitLines(v), "env KEYWARD_MASTER_KEY"
	}
	if len(s.MasterKeys) == 0 {
		s.MasterKeys, s.from["master_key"] = []string{"auto"}, "default"
	}
	if err := a.resolveClient(cmd, s, fc); err != nil {
		return nil, err
	}
	a.set = s
	return s, nil
}

// resolveClient resolves the client-mode settings. The token and the token
// file are one setting in two forms: the highest source that gives either
// wins, and one source giving both is an error.
func (a *app) resolveClient(cmd *cobra.Command, s *settings, fc *fileConfig) error {
	srv, srvFrom := a.pick(cmd, "server", "KEYWARD_ADDR", a.flags.server)
	s.Server, s.from["server"] = orConfig(srv, srvFrom, fc.Server)
	ca, caFrom := a.pick(cmd, "ca-cert", "KEYWARD_CA_CERT", a.flags.caCert)
	s.CACert, s.from["ca_cert"] = orConfig(ca, caFrom, fc.CACert)

	tok, tokFrom := a.pick(cmd, "token", "KEYWARD_TOKEN", a.flags.token)
	tf, tfFrom := a.pick(cmd, "token-file", "KEYWARD_TOKEN_FILE", a.flags.tokenFile)
	rank := func(from string) int {
		switch {
		case strings.HasPrefix(from, "flag"):
			return 2
		case strings.HasPrefix(from, "env"):
			return 1
		}
		return 0
	}
	switch {
	case tok != "" && tf != "" && rank(tokFrom) == rank(tfFrom):
		return usagef(cmd, "%s and %s exclude each other; keep one (prefer the file: a token on the command line shows in the process list)", tokFrom, tfFrom)
	case tok != "" && rank(tokFrom) >= rank(tfFrom):
		s.Token, s.from["token"] = tok, tokFrom
	case tf != "":
		s.TokenFile, s.from["token"] = tf, tfFrom
	case fc.Token != "":
		s.Token, s.from["token"] = fc.Token, "config"
	case fc.TokenFile != "":
		s.TokenFile, s.from["token"] = fc.TokenFile, "config"
	default:
		s.from["token"] = "not set"
	}
	return nil
}

// readToken returns the API token: the setting's value, or the first line
// of the token file.
func (a *app) readToken(s *settings) (string, error) {
	if s.Token != "" || s.TokenFile == "" {
		return strings.TrimSpace(s.Token), nil
	}
	b, err := os.ReadFile(s.TokenFile)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer clear(b)
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty; it should hold the secret printed by `keyward token create`", s.TokenFile)
	}
	a.warnIfShared("token file", s.TokenFile)
	return tok, nil
}

// pick returns the flag's value if it was given, else the environment
// variable's if it is set and not empty, and where the value came from.
func (a *app) pick(cmd *cobra.Command, flag, env, flagValue string) (string, string) {
	if cmd.Flags().Changed(flag) && flagValue != "" {
		return flagValue, "flag --" + flag
	}
	if v, ok := a.getenv(env); ok && v != "" {
		return v, "env " + env
	}
	return "", ""
}

func orConfig(v, from, cfg string) (string, string) {
	switch {
	case v != "":
		return v, from
	case cfg != "":
		return cfg, "config"
	}
	return "", "not set"
}

func (a *app) resolveTimeout(cmd *cobra.Command, s *settings, fc *fileConfig) error {
	switch v, ok := a.getenv("KEYWARD_EXEC_TIMEOUT"); {
	case cmd.Flags().Changed("exec-timeout"):
		if a.flags.execTimeout <= 0 {
			return usagef(cmd, "--exec-timeout must be positive")
		}
		s.ExecTimeout, s.from["exec_timeout"] = a.flags.execTimeout, "flag --exec-timeout"
	case ok && v != "":
		d, err := parseTimeout(v)
		if err != nil {
			return fmt.Errorf("KEYWARD_EXEC_TIMEOUT: %w", err)
		}
		s.ExecTimeout, s.from["exec_timeout"] = d, "env KEYWARD_EXEC_TIMEOUT"
	case fc.ExecTimeout > 0:
		s.ExecTimeout, s.from["exec_timeout"] = fc.ExecTimeout, "config"
	default:
		s.from["exec_timeout"] = "default"
	}
	return nil
}

// baseConfig turns the settings into the library's Config, without a
// recovery key.
func (a *app) baseConfig(s *settings) keyward.Config {
	return keyward.Config{
		DataDir:     s.DataDir,
		MasterKeys:  s.MasterKeys,
		KeyDir:      s.KeyDir,
		Getenv:      a.getenv,
		ExecTimeout: s.ExecTimeout,
	}
}

// libConfig turns the settings into the library's Config, reading the
// recovery key file if one is set.
func (a *app) libConfig(s *settings) (keyward.Config, error) {
	cfg := a.baseConfig(s)
	if s.RecoveryKeyFile != "" {
		rk, err := a.readRecoveryKey(s.RecoveryKeyFile)
		if err != nil {
			return cfg, err
		}
		cfg.RecoveryKey = rk
	}
	return cfg, nil
}

// warnIfShared warns when a file holding a secret is open to group or
// others.
func (a *app) warnIfShared(what, path string) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(a.stderr, "keyward: warning: %s %s is readable by others; run chmod 600 %s\n", what, path, path)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// splitLines splits a list of specs given one per line.
func splitLines(v string) []string {
	var out []string
	for line := range strings.Lines(v) {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func (a *app) configCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Show the settings in effect and where each comes from",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.settings(cmd)
			if err != nil {
				return err
			}
			timeout := "10s"
			if s.ExecTimeout > 0 {
				timeout = s.ExecTimeout.String()
			}
			t := newTable(a.stdout)
			row := func(k, v string) {
				from := s.from[k]
				if from == "" {
					from = "not set"
				}
				t.row(k+":", orDash(v), "("+from+")")
			}
			row("data", s.DataDir)
			row("config", s.ConfigFile)
			row("key_dir", s.KeyDir)
			row("recovery_key_file", s.RecoveryKeyFile)
			row("exec_timeout", timeout)
			row("master_key", strings.Join(s.MasterKeys, ", "))
			row("server", s.Server)
			switch {
			case s.Token != "":
				row("token", "(set)") // never the secret itself
			default:
				row("token", s.TokenFile)
			}
			row("ca_cert", s.CACert)
			return t.flush()
		},
	}
}
