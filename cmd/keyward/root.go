package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// app is one invocation of the CLI: its streams, its environment and the
// global flags. Commands read their settings through app.settings, so that
// a flag beats an environment variable, which beats the config file, which
// beats the default.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) (string, bool)

	root  *cobra.Command
	flags globalFlags
	set   *settings // resolved on first use

	stdinRecoveryKey *string // read from standard input, once (recovery.go)
}

// globalFlags are the persistent flags of the root command.
type globalFlags struct {
	data            string
	config          string
	keyDir          string
	recoveryKeyFile string
	execTimeout     time.Duration
	server          string
	token           string
	tokenFile       string
	caCert          string
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	ctx = keyward.WithActor(ctx, localActor(getenv)) // audit: who ran it, in local mode
	a := &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	a.root = a.newRootCmd()
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	a.root.SetArgs(args)
	cmd, err := a.root.ExecuteContextC(ctx)
	if err != nil {
		return a.fail(cmd, err)
	}
	return exitOK
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "keyward",
		Short: "Keep credentials, tokens and documents encrypted at rest, and manage their keys",
		Long: `keyward keeps sensitive data encrypted at rest in SQLite and manages the keys.

Global settings come from, in order of precedence: a flag, an environment
variable (KEYWARD_DATA, KEYWARD_CONFIG, KEYWARD_KEY_DIR,
KEYWARD_RECOVERY_KEY_FILE, KEYWARD_EXEC_TIMEOUT, KEYWARD_MASTER_KEY,
KEYWARD_ADDR, KEYWARD_TOKEN, KEYWARD_TOKEN_FILE, KEYWARD_CA_CERT), the
config file (YAML: data, master_key, key_dir, recovery_key_file,
exec_timeout, server, token, token_file, ca_cert), and the default.
"keyward config" shows what is in effect.

Client mode: with --server URL (or KEYWARD_ADDR), the data, token,
maintenance, unlock, status and keys export/import commands go to that
keyward server's HTTP API instead of the data directory, authenticated by
the API token.

Exit status: 0 success, 1 error, 2 wrong command line.`,
		Args:          noArgsOrUnknown,
		RunE:          func(cmd *cobra.Command, _ []string) error { return usagef(cmd, "missing command") },
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	// Groups run only to report a missing subcommand: show them as
	// "keyward db [command]" alone, not also as runnable.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(),
		"{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &usageError{cmd: cmd, err: err} })

	pf := root.PersistentFlags()
	pf.StringVar(&a.flags.data, "data", "", "data `DIR` (env KEYWARD_DATA; default ./keyward-data)")
	pf.StringVar(&a.flags.config, "config", "", "config `FILE` (env KEYWARD_CONFIG; default <data dir>/keyward.yaml if it exists)")
	pf.StringVar(&a.flags.keyDir, "key-dir", "", "`DIR` of the auto provider's key files (env KEYWARD_KEY_DIR)")
	pf.StringVar(&a.flags.recoveryKeyFile, "recovery-key-file", "", "unlock with the recovery key read from `FILE`; - to type it (env KEYWARD_RECOVERY_KEY_FILE)")
	pf.DurationVar(&a.flags.execTimeout, "exec-timeout", 0, "`DURATION` an exec: provider may run (env KEYWARD_EXEC_TIMEOUT; default 10s)")
	pf.StringVar(&a.flags.server, "server", "", "client mode: send the commands to the keyward server at `URL` (env KEYWARD_ADDR)")
	pf.StringVar(&a.flags.token, "token", "", "client mode: API `TOKEN` (env KEYWARD_TOKEN; prefer --token-file: arguments show in ps)")
	pf.StringVar(&a.flags.tokenFile, "token-file", "", "client mode: read the API token from `FILE` (env KEYWARD_TOKEN_FILE)")
	pf.StringVar(&a.flags.caCert, "ca-cert", "", "client mode: trust the CA certificate(s) in PEM `FILE` (env KEYWARD_CA_CERT)")

	root.AddCommand(
		a.initCmd(),
		a.dbCmd(),
		a.putCmd(), a.getCmd(), a.lsCmd(), a.rmCmd(),
		a.attachCmd(),
		a.slotCmd(),
		a.statusCmd(),
		a.unlockCmd(),
		a.maintenanceCmd(),
		a.tokenCmd(),
		a.keysCmd(), a.auditCmd(),
		a.configCmd(),
		a.versionCmd(),
		a.serveCmd(),
	)
	return root
}

// group returns a command that only holds subcommands: run bare or with an
// unknown subcommand, it is a usage error.
func (a *app) group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgsOrUnknown,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef(cmd, "missing subcommand")
		},
	}
	c.AddCommand(subs...)
	return c
}

// noArgsOrUnknown rejects stray words after a command that takes none,
// which for a group means an unknown subcommand.
func noArgsOrUnknown(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if !cmd.HasSubCommands() {
		return usagef(cmd, "takes no arguments, got %q", args[0])
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return &usageError{cmd: cmd, err: fmt.Errorf("%s", msg)}
}

// exactArgs requires exactly n arguments; names says what they are.
func exactArgs(names ...string) cobra.PositionalArgs {
	return rangeArgs(len(names), len(names), names...)
}

// rangeArgs requires between min and max arguments (max < 0: no limit).
func rangeArgs(minN, maxN int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		n := len(args)
		if n >= minN && (maxN < 0 || n <= maxN) {
			return nil
		}
		if maxN == 0 {
			return usagef(cmd, "takes no arguments, got %q", args[0])
		}
		want := fmt.Sprintf("%d", minN)
		switch {
		case maxN < 0:
			want = fmt.Sprintf("at least %d", minN)
		case maxN != minN:
			want = fmt.Sprintf("%d to %d", minN, maxN)
		}
		return usagef(cmd, "want %s argument(s) (%s), got %d", want, strings.Join(names, " "), n)
	}
}
