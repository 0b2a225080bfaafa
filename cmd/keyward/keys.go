package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/serverlock"
)

type exportFlags struct {
	output           string
	dbs, recipients  []string
	passEnv, passFil string
	armor, force     bool
}

func (a *app) keysExportCmd() *cobra.Command {
	var f exportFlags
	c := &cobra.Command{
		Use:   "export -o FILE",
		Short: "Write every data key version to an encrypted age file",
		Long: `Write every data key version (primary, active and retired) of the databases
given with --db (default: all), with their check values and the deployment
id, to FILE: an age file (docs/formats.md) that the age CLI opens too.

It is encrypted either with a passphrase (--passphrase-env VAR,
--passphrase-file FILE, or typed twice at a terminal prompt) or to one or
more age public keys (--recipient age1…, made with age-keygen). Anyone who
opens it can decrypt every record of these databases: keep it as carefully
as the recovery key, away from the data directory and its backups.

FILE is written to a temporary file beside it (mode 0600), synced and
renamed: it appears complete or not at all. An existing FILE is kept unless
--force is given.

Through a server (--server) only --recipient exports are possible: a
passphrase export is made on the data directory.`,
		Example: `  age-keygen -o backup-key.txt     # keep backup-key.txt offline
  keyward keys export -o keys.age --recipient age1...
  KEYWARD_EXPORT_PASS=... keyward keys export -o keys.age --passphrase-env KEYWARD_EXPORT_PASS`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.keysExport(cmd, &f) },
	}
	fl := c.Flags()
	fl.StringVarP(&f.output, "output", "o", "", "write the export to `FILE` (required)")
	fl.StringArrayVar(&f.dbs, "db", nil, "export the database `NAME` only; repeat for several (default: all)")
	fl.StringArrayVar(&f.recipients, "recipient", nil, "encrypt to the age public key `age1…`; repeat for several")
	fl.StringVar(&f.passEnv, "passphrase-env", "", "encrypt with the passphrase in environment variable `VAR`")
	fl.StringVar(&f.passFil, "passphrase-file", "", "encrypt with the passphrase in `FILE` (its first line)")
	fl.BoolVar(&f.armor, "armor", false, "write ASCII armor (text) instead of binary")
	fl.BoolVar(&f.force, "force", false, "replace FILE if it exists")
	return c
}

// minPassphrase is the length under which an export passphrase draws a
// warning: it alone protects every key.
const minPassphrase = 12

func (a *app) keysExport(cmd *cobra.Command, f *exportFlags) (err error) {
	if f.output == "" {
		return usagef(cmd, "give the export file with -o FILE")
	}
	withPass := f.passEnv != "" || f.passFil != ""
	switch {
	case f.passEnv != "" && f.passFil != "":
		return usagef(cmd, "--passphrase-env and --passphrase-file exclude each other")
	case withPass && len(f.recipients) > 0:
		return usagef(cmd, "a passphrase and --recipient exclude each other (age allows one or the other)")
	}
	for _, r := range f.recipients {
		if _, err := parseRecipient(r); err != nil {
			return usagef(cmd, "--recipient: %v", err)
		}
	}
	if _, err := os.Lstat(f.output); err == nil && !f.force {
		return fmt.Errorf("%s exists: choose another file, or give --force to replace it", f.output)
	}
	req := exportRequest{Databases: f.dbs, Recipients: f.recipients, Armor: f.armor}
	if len(f.recipients) == 0 {
		if req.Passphrase, err = a.exportPassphrase(cmd, f); err != nil {
			return err
		}
	}
	b, err := a.backend(cmd, needUnlocked)
	if err != nil {
		return err
	}
	defer closeBackend(b, &err)
	var res exportResult
	err = writeFileAtomic(f.output, f.force, func(w io.Writer) error {
		var err error
		res, err = b.ExportKeys(a.ctx, w, req)
		return err
	})
	if err != nil {
		return err
	}
	to, open := fmt.Sprintf("%d age recipient(s)", len(f.recipients)), " --identity KEY-FILE"
	if req.Passphrase != "" {
		to, open = "a passphrase", ""
	}
	fmt.Fprintf(a.stderr, "exported %d key version(s) of %d database(s) from %s to %s, encrypted to %s\n",
		res.Keys, res.Databases, b.Where(), f.output, to)
	fmt.Fprintln(a.stderr, "whoever opens it can decrypt every record of these databases: keep it offline, apart from the data's backups;")
	fmt.Fprintf(a.stderr, "check it now and then: keyward keys import %s%s --dry-run\n", f.output, open)
	return nil
}

// exportPassphrase reads the passphrase of an export: from the flags, else
// typed twice at a terminal.
func (a *app) exportPassphrase(cmd *cobra.Command, f *exportFlags) (string, error) {
	var pass string
	var err error
	if f.passEnv != "" || f.passFil != "" {
		pass, err = a.readPassphrase(f.passEnv, f.passFil)
	} else {
		pass, err = a.promptPassphrase(cmd, "passphrase for the export", true)
	}
	if err != nil {
		return "", err
	}
	if len([]rune(pass)) < minPassphrase {
		fmt.Fprintf(a.stderr, "keyward: warning: the passphrase has fewer than %d characters, and it alone protects every key in the export\n", minPassphrase)
	}
	return pass, nil
}

// promptPassphrase asks for a passphrase at the terminal on standard
// input, without echo; with confirm, twice. A usage error when standard
// input is not a terminal.
func (a *app) promptPassphrase(cmd *cobra.Command, what string, confirm bool) (string, error) {
	fd, ok := a.stdinTerminal()
	if !ok {
		return "", usagef(cmd, "no %s given and no terminal to ask on: use --passphrase-env VAR or --passphrase-file FILE", what)
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprintf(a.stderr, "%s: ", prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(a.stderr)
		defer clear(b)
		return string(b), err
	}
	pass, err := ask(strings.ToUpper(what[:1]) + what[1:])
	if err != nil {
		return "", fmt.Errorf("read the passphrase: %w", err)
	}
	if pass == "" {
		return "", errors.New("empty passphrase")
	}
	if confirm {
		again, err := ask("Again, to confirm")
		if err != nil {
			return "", fmt.Errorf("read the passphrase: %w", err)
		}
		if again != pass {
			return "", errors.New("the two passphrases differ; nothing was written")
		}
	}
	return pass, nil
}

// readStdinSecret reads a secret from standard input: at a terminal after
// the prompt "prompt: ", without echo; otherwise all of it, or at most
// limit bytes (limit < 0: no bound). The caller clears what it gets.
func (a *app) readStdinSecret(prompt string, limit int64) ([]byte, error) {
	if fd, ok := a.stdinTerminal(); ok {
		fmt.Fprintf(a.stderr, "%s: ", prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(a.stderr)
		return b, err
	}
	if limit < 0 {
		return io.ReadAll(a.stdin)
	}
	return io.ReadAll(io.LimitReader(a.stdin, limit))
}

// stdinTerminal returns standard input's descriptor if it is a terminal.
func (a *app) stdinTerminal() (int, bool) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// parseRecipient reads one age public key (age1…).
func parseRecipient(s string) (age.Recipient, error) {
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(s)), "AGE-SECRET-KEY") {
		return nil, errors.New("that is an age secret key (an identity), which must stay private: give its public key (age1…, printed by age-keygen)")
	}
	rs, err := age.ParseRecipients(strings.NewReader(s))
	if err != nil || len(rs) != 1 || strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%q is not an age public key (age1…, from age-keygen)", printable(s))
	}
	return rs[0], nil
}

// lockDataDir takes the data directory's server lock for a command that
// reads or changes raw keys, and returns its release. Without a store
// there is nothing to lock (opening it fails next, with its own message).
func (a *app) lockDataDir(s *settings, holder string) (func(), error) {
	if !fileExists(filepath.Join(s.DataDir, keyward.DBFile)) {
		return func() {}, nil
	}
	l, err := serverlock.Acquire(s.DataDir, holder)
	if err != nil {
		return nil, err
	}
	return func() { _ = l.Release() }, nil
}
