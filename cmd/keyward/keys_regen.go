package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

type regenFlags struct {
	dbs               []string
	backup            string
	passEnv, passFile string
	recipients        []string
	noBackup, offline bool
	dryRun, yes       bool
	rate              string
}

// keysRegenCmds are the `keys` subcommands of regeneration.
func (a *app) keysRegenCmds() []*cobra.Command {
	return []*cobra.Command{a.regenerateCmd(), a.jobsCmd(), a.destroyCmd()}
}

func (a *app) regenerateCmd() *cobra.Command {
	var f regenFlags
	c := &cobra.Command{
		Use:   "regenerate",
		Short: "Re-encrypt every entry and attachment under new data keys (resumable)",
		Long: `Make a new data key version primary for each chosen database (the old primary
becomes active) and re-encrypt every entry and attachment onto it, in batches
that each commit with the job's cursor: a crash loses nothing, and the job
resumes where it was with "keyward keys jobs resume ID" or at the next
"keyward serve". Clients go on reading and writing (online); --offline
switches maintenance on for the duration instead. At the end nothing is left
on the old versions, which become retired ("keyward keys destroy" deletes
them).

A backup export of the current keys is written first (--backup FILE,
encrypted with --passphrase-env, --passphrase-file or --recipient); without
one, --no-backup must be given. On a terminal it asks for confirmation
(--yes skips it); elsewhere --yes is required.

Progress goes to standard error: a bar on a terminal, else one JSON line per
batch (job, pass, database, phase, done, total, skipped, failed: counts,
never content). The summary goes to standard output.`,
		Example: `  keyward keys regenerate --backup keys.age --passphrase-env BACKUP_PASS --yes
  keyward keys regenerate --db app --no-backup --offline --rate 2000/s --yes
  keyward keys regenerate --dry-run`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.regenerate(cmd, &f) },
	}
	fl := c.Flags()
	fl.StringArrayVar(&f.dbs, "db", nil, "database `NAME` to regenerate (repeat; default every database)")
	fl.StringVar(&f.backup, "backup", "", "write a backup export of the current keys to `FILE` first (must not exist)")
	fl.StringVar(&f.passEnv, "passphrase-env", "", "encrypt the backup with the passphrase in environment variable `VAR`")
	fl.StringVar(&f.passFile, "passphrase-file", "", "encrypt the backup with the passphrase in `FILE` (first line)")
	fl.StringArrayVar(&f.recipients, "recipient", nil, "encrypt the backup to age `RECIPIENT` (age1…; repeat)")
	fl.BoolVar(&f.noBackup, "no-backup", false, "start without a backup (keep an export from keyward keys export)")
	fl.BoolVar(&f.offline, "offline", false, "switch maintenance on while it runs and rewrite in bigger batches")
	fl.BoolVar(&f.dryRun, "dry-run", false, "count what would be re-encrypted; change nothing")
	fl.BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	fl.StringVar(&f.rate, "rate", "", "limit to `N/s` entries per second")
	return c
}

func (a *app) regenerate(cmd *cobra.Command, f *regenFlags) (err error) {
	rate, err := parseRate(f.rate)
	if err != nil {
		return usagef(cmd, "--rate: %v", err)
	}
	if !f.dryRun {
		if err := checkBackupFlags(cmd, f); err != nil {
			return err
		}
	}
	b, err := a.backend(cmd, needUnlocked)
	if err != nil {
		return err
	}
	defer closeBackend(b, &err)
	jb := b.(jobBackend)
	counts, err := jb.CountRegenerate(a.ctx, f.dbs)
	if err != nil {
		return err
	}
	if f.dryRun {
		return a.printCounts(counts)
	}
	if err := a.confirm(f.yes, regenQuestion(counts, f.offline)); err != nil {
		return err
	}
	opts := keyward.RegenerateOptions{Databases: f.dbs, Offline: f.offline, Rate: rate, NoBackup: f.noBackup}
	var commit func() error
	if f.backup != "" {
		var abort func()
		if opts.Recipients, err = a.backupRecipients(f); err != nil {
			return err
		}
		if opts.Backup, commit, abort, err = createBackup(f.backup); err != nil {
			return err
		}
		defer abort()
	}
	job, err := jb.Regenerate(a.ctx, opts)
	if err != nil {
		return err
	}
	if commit != nil {
		if err := commit(); err != nil {
			return fmt.Errorf("backup %s: %w; the job %s is recorded but not run: keep a key export, then `keyward keys jobs resume %s`", f.backup, err, job.ID, job.ID)
		}
		fmt.Fprintf(a.stderr, "keyward: backup of the current keys written to %s\n", f.backup)
	}
	fmt.Fprintf(a.stderr, "keyward: job %s started\n", job.ID)
	return a.follow(jb, job.ID, job.Progress.Total)
}

func checkBackupFlags(cmd *cobra.Command, f *regenFlags) error {
	n := 0
	for _, set := range []bool{f.passEnv != "", f.passFile != "", len(f.recipients) > 0} {
		if set {
			n++
		}
	}
	switch {
	case f.noBackup && (f.backup != "" || n > 0):
		return usagef(cmd, "--no-backup goes without --backup and its passphrase or recipients")
	case f.noBackup:
		return nil
	case f.backup == "":
		return usagef(cmd, "refusing to start without a backup of the current keys: give --backup FILE with "+
			"--passphrase-env VAR, --passphrase-file FILE or --recipient age1…, or --no-backup if you have an export")
	case n != 1:
		return usagef(cmd, "--backup needs exactly one of --passphrase-env VAR, --passphrase-file FILE and --recipient age1… (repeatable)")
	}
	return nil
}

// backupRecipients turns the flags into age recipients.
func (a *app) backupRecipients(f *regenFlags) ([]age.Recipient, error) {
	if len(f.recipients) > 0 {
		var out []age.Recipient
		for _, s := range f.recipients {
			r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("--recipient %q: not an age X25519 recipient (age1…): %w", s, err)
			}
			out = append(out, r)
		}
		return out, nil
	}
	pass, _, err := a.unlockSecret(f.passEnv, f.passFile, "")
	if err != nil {
		return nil, err
	}
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		return nil, fmt.Errorf("backup passphrase: %w", err)
	}
	return []age.Recipient{r}, nil
}

// createBackup opens FILE.partial (0600, refusing an existing FILE);
// commit syncs it and renames it to FILE, abort removes what is left.
func createBackup(path string) (io.Writer, func() error, func(), error) {
	if fileExists(path) {
		return nil, nil, nil, fmt.Errorf("backup file %s exists: choose another name (an old backup is never overwritten)", path)
	}
	part := path + ".partial"
	fh, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("backup: %w", err)
	}
	done := false
	commit := func() error {
		if err := fh.Sync(); err != nil {
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
		done = true
		return os.Rename(part, path)
	}
	abort := func() {
		if !done {
			fh.Close()
			os.Remove(part)
		}
	}
	return fh, commit, abort, nil
}

func parseRate(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "/s"), 64)
	if err != nil || v <= 0 {
		return 0, errors.New("want a positive number of entries per second, such as 500/s")
	}
	return v, nil
}

func regenQuestion(counts []api.RegenerateCount, offline bool) string {
	var rows int64
	var names []string
	for _, c := range counts {
		rows += c.Entries + c.Attachments
		names = append(names, c.Name)
	}
	mode := "online (clients keep working)"
	if offline {
		mode = "offline (maintenance on: data requests get 503 until it ends)"
	}
	return fmt.Sprintf("Re-encrypt %d entries and attachments of %s under new data keys, %s?", rows, strings.Join(names, ", "), mode)
}

// confirm asks question on a terminal; without one, only --yes confirms.
func (a *app) confirm(yes bool, question string) error {
	if yes {
		return nil
	}
	in, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return fmt.Errorf("%w: standard input is not a terminal, so nobody can confirm: add --yes to go ahead", keyward.ErrInvalid)
	}
	fmt.Fprintf(a.stderr, "%s Type yes to go on: ", question)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	if strings.TrimSpace(line) != "yes" {
		return errors.New("not confirmed: nothing was changed")
	}
	return nil
}

func (a *app) printCounts(counts []api.RegenerateCount) error {
	t := newTable(a.stdout)
	t.row("DATABASE", "ENTRIES", "ATTACHMENTS", "VERSIONS TO RETIRE")
	for _, c := range counts {
		vs := make([]string, len(c.Versions))
		for i, v := range c.Versions {
			vs[i] = strconv.FormatUint(uint64(v), 10)
		}
		t.row(c.Name, strconv.FormatInt(c.Entries, 10), strconv.FormatInt(c.Attachments, 10), strings.Join(vs, ","))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stderr, "keyward: dry run: nothing was changed")
	return nil
}
