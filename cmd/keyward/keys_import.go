package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/secret"
)

type importFlags struct {
	identities        []string
	passEnv, passFile string
	overwrite, dryRun bool
	rekey             bool
	specs             []string
	reencrypt, yes    bool
}

func (a *app) keysImportCmd() *cobra.Command {
	var f importFlags
	c := &cobra.Command{
		Use:   "import FILE",
		Short: "Add the keys of an export to this deployment (or re-key a moved one)",
		Long: `Open an export made by "keyward keys export", verify every key's check value,
and add its keys to this deployment, in one transaction:

  - the export must be of this deployment (ciphertexts are bound to it);
  - databases are matched by id; one missing here is created with the
    export's id and name (refused if another database has that name);
  - a missing key version is added, in its exported state, except that it
    never becomes a second primary: it is added active when the database
    has a primary here;
  - a version stored with the same key is left alone;
  - a version stored with another key is refused (nothing is imported)
    unless --overwrite, which replaces the stored key: rows encrypted under
    the replaced key no longer open. The report counts them and says which
    key opened a sample of them: run --dry-run first.

--dry-run prints what would change and changes nothing (exit status 1 if
some version conflicts). Open the export with --identity FILE (an age
identity file), --passphrase-env VAR, --passphrase-file FILE, or a
passphrase typed at the terminal. Through a server (--server), the export is
opened here and sent re-encrypted to a one-time key: the identity or
passphrase never leaves this machine.

--rekey brings back a data directory that no slot unlocks any more (moved
to a new machine without its auto key file, or restored from a backup): the
export must hold every key version the store holds; a new root key is made,
the export's keys are wrapped under it, and ALL the slots are replaced by
new ones (--master-key SPEC…, default auto, and a new recovery slot whose
key is printed once), in one transaction. The old slots and the old
recovery key open nothing afterwards. It works on the data directory only,
refuses while a server runs on it, and refuses when a slot still unlocks
(then add a slot with "keyward slot add").

--reencrypt then puts the data under the imported keys: for each database
of the export, the export's primary key (else its highest version) becomes
a new primary version, and every entry and attachment is re-encrypted onto
it by a regeneration job (as "keyward keys regenerate", resumable with
"keyward keys jobs resume ID"). The versions the data was on stay in the
store, retired, not destroyed. It works on the data directory only.

--overwrite (without --dry-run) and --rekey work on the data directory only
while no server runs on it: through a server, use --server.`,
		Example: `  keyward keys import keys.age --identity backup-key.txt --dry-run
  keyward keys import keys.age --identity backup-key.txt
  keyward keys import keys.age --identity backup-key.txt --rekey`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error { return a.keysImport(cmd, args[0], &f) },
	}
	fl := c.Flags()
	fl.StringArrayVar(&f.identities, "identity", nil, "open the export with the age identity `FILE`; repeat for several")
	fl.StringVar(&f.passEnv, "passphrase-env", "", "open the export with the passphrase in environment variable `VAR`")
	fl.StringVar(&f.passFile, "passphrase-file", "", "open the export with the passphrase in `FILE` (its first line)")
	fl.BoolVar(&f.overwrite, "overwrite", false, "replace stored keys that differ from the export's (their rows no longer open)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would change; change nothing")
	fl.BoolVar(&f.rekey, "rekey", false, "give a deployment no slot unlocks a new root key and new slots (see above)")
	fl.BoolVar(&f.reencrypt, "reencrypt", false, "make the export's keys primary and re-encrypt every entry and attachment onto them (see above)")
	fl.BoolVar(&f.yes, "yes", false, "with --reencrypt: do not ask for confirmation")
	fl.StringArrayVar(&f.specs, "master-key", nil, "with --rekey: provider `SPEC` of a new slot; repeat for several (default: the master_key setting, else auto)")
	return c
}

func (a *app) keysImport(cmd *cobra.Command, file string, f *importFlags) (err error) {
	sources := 0
	for _, given := range []bool{len(f.identities) > 0, f.passEnv != "", f.passFile != ""} {
		if given {
			sources++
		}
	}
	switch {
	case sources > 1:
		return usagef(cmd, "give one of --identity, --passphrase-env and --passphrase-file")
	case len(f.specs) > 0 && !f.rekey:
		return usagef(cmd, "--master-key goes with --rekey")
	case f.rekey && (f.overwrite || f.dryRun):
		return usagef(cmd, "--rekey excludes --overwrite and --dry-run")
	case f.reencrypt && (f.rekey || f.dryRun):
		return usagef(cmd, "--reencrypt excludes --rekey and --dry-run (run a --dry-run first, without --reencrypt)")
	}
	s, err := a.settings(cmd)
	if err != nil {
		return err
	}
	if f.rekey || f.reencrypt {
		if s, err = a.localSettings(cmd); err != nil {
			return err
		}
	}
	b, err := a.readExport(cmd, file, f)
	if err != nil {
		return err
	}
	defer b.Wipe()
	keys := 0
	for _, db := range b.Databases {
		keys += len(db.Keys)
	}
	fmt.Fprintf(a.stderr, "%s: export of deployment %s made %s: %d database(s), %d key version(s), every check value verified\n",
		file, b.DeploymentID, formatTime(b.Created), len(b.Databases), keys)
	if f.rekey {
		return a.rekey(s, b, f.specs)
	}
	if s.Server == "" && f.overwrite && !f.dryRun {
		release, err := a.lockDataDir(s, "keys import --overwrite")
		if err != nil {
			return err
		}
		defer release()
	}
	be, err := a.backend(cmd, needUnlocked)
	if err != nil {
		return err
	}
	defer closeBackend(be, &err)
	rep, err := be.ImportKeys(a.ctx, b, f.overwrite, f.dryRun)
	if err != nil {
		return err
	}
	if err := writeImportReport(a.stdout, rep); err != nil {
		return err
	}
	if err := a.importSummary(rep, be.Where()); err != nil || !f.reencrypt {
		return err
	}
	return a.reencryptImported(be, b, f.yes)
}

// reencryptImported starts and follows a regeneration whose new primary
// keys are the export's primary keys.
func (a *app) reencryptImported(be backend, b *bundle.Bundle, yes bool) error {
	jb := be.(jobBackend)
	keys := map[string]*secret.Key{}
	var names []string
	for _, db := range b.Databases {
		var pick *bundle.Key
		for i := range db.Keys {
			k := &db.Keys[i]
			if pick == nil || k.State == "primary" || (pick.State != "primary" && k.Version > pick.Version) {
				pick = k
			}
		}
		if pick != nil {
			keys[db.ID], names = pick.Key, append(names, db.Name)
		}
	}
	if len(names) == 0 {
		return errors.New("the export holds no keys to re-encrypt onto")
	}
	counts, err := jb.CountRegenerate(a.ctx, names)
	if err != nil {
		return err
	}
	if err := a.confirm(yes, regenQuestion(counts, false)); err != nil {
		return err
	}
	job, err := jb.Regenerate(a.ctx, keyward.RegenerateOptions{Databases: names, PrimaryKeys: keys, NoBackup: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "keyward: job %s started: re-encrypting onto the imported keys\n", job.ID)
	return a.follow(jb, job.ID, job.Progress.Total)
}

// readExport opens and verifies the export with the secret the flags name,
// or a passphrase typed at the terminal.
func (a *app) readExport(cmd *cobra.Command, file string, f *importFlags) (*bundle.Bundle, error) {
	var ids []age.Identity
	for _, name := range f.identities {
		more, err := a.readIdentities(name)
		if err != nil {
			return nil, err
		}
		ids = append(ids, more...)
	}
	if len(ids) == 0 {
		var pass string
		var err error
		if f.passEnv != "" || f.passFile != "" {
			pass, err = a.readPassphrase(f.passEnv, f.passFile)
		} else {
			pass, err = a.promptPassphrase(cmd, "passphrase of the export (or give --identity FILE)", false)
		}
		if err != nil {
			return nil, err
		}
		id, err := age.NewScryptIdentity(pass)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	fh, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := bundle.Read(fh, ids)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; nothing was imported", file, err)
	}
	return b, nil
}

func (a *app) readIdentities(name string) ([]age.Identity, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	defer clear(raw)
	ids, err := age.ParseIdentities(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %v (want an age identity file, as made by age-keygen)", name, err)
	}
	a.warnIfShared("identity file", name)
	return ids, nil
}

// writeImportReport prints one line per key version of an import.
func writeImportReport(w io.Writer, rep api.KeyImportReport) error {
	t := newTable(w)
	t.row("DATABASE", "VERSION", "ACTION", "STATE", "CHECK VALUE", "NOTE")
	for _, db := range rep.Databases {
		if len(db.Keys) == 0 {
			t.row(printable(db.Name), "-", "none", "-", "-", "the export holds no key of it")
		}
		for _, k := range db.Keys {
			t.row(printable(db.Name), u32(k.Version), k.Action, k.State, k.CheckValue, orDash(importNote(db, k)))
		}
	}
	return t.flush()
}

func importNote(db api.KeyImportDatabase, k api.KeyImportKey) string {
	var notes []string
	if db.Create {
		notes = append(notes, "new database")
	}
	if db.ExportedName != "" {
		notes = append(notes, "named "+printable(db.ExportedName)+" in the export")
	}
	if k.Action == api.KeyAdd && k.ExportedState != k.State {
		notes = append(notes, printable(k.ExportedState)+" in the export")
	}
	if k.Action == api.KeyConflict || k.Action == api.KeyReplace {
		n := fmt.Sprintf("the stored key differs; %d entries and %d attachments use this version", k.Entries, k.Attachments)
		switch k.SampleOpens {
		case api.SampleStored:
			n += ", a sample opens with the stored key"
		case api.SampleExported:
			n += ", a sample opens with the exported key"
		case api.SampleNeither:
			n += ", a sample opens with neither key"
		}
		notes = append(notes, n)
	}
	return strings.Join(notes, "; ")
}

// importSummary says on standard error what an import did, warns about
// each replaced key, and fails a dry run that found conflicts.
func (a *app) importSummary(rep api.KeyImportReport, where string) error {
	created := 0
	for _, db := range rep.Databases {
		if db.Create {
			created++
		}
	}
	verbs := []string{"created %d database(s)", "added %d key version(s)", "replaced %d key version(s)", "changed nothing"}
	if rep.DryRun {
		verbs = []string{"would create %d database(s)", "would add %d key version(s)", "would replace %d key version(s)", "would change nothing"}
	}
	var parts []string
	for i, n := range []int{created, rep.Count(api.KeyAdd), rep.Count(api.KeyReplace)} {
		if n > 0 {
			parts = append(parts, fmt.Sprintf(verbs[i], n))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, verbs[3])
	}
	counts := fmt.Sprintf("%s; %d key version(s) already in place", strings.Join(parts, ", "), rep.Count(api.KeySame))
	if rep.DryRun {
		fmt.Fprintf(a.stderr, "dry run on %s: %s; nothing was changed\n", where, counts)
		if n := rep.Count(api.KeyConflict); n > 0 {
			return fmt.Errorf("dry run: %d key version(s) hold another key here than in the export (see NOTE): "+
				"an import refuses them; --overwrite replaces them, and the rows only the stored key opens are lost", n)
		}
		return nil
	}
	fmt.Fprintf(a.stderr, "import into %s: %s\n", where, counts)
	for _, db := range rep.Databases {
		for _, k := range db.Keys {
			if k.Action == api.KeyReplace {
				fmt.Fprintln(a.stderr, replaceWarning(db.Name, k))
			}
		}
	}
	return nil
}

func replaceWarning(db string, k api.KeyImportKey) string {
	what := fmt.Sprintf("the stored key of %s version %d was replaced", printable(db), k.Version)
	rows := fmt.Sprintf("%d entries and %d attachments", k.Entries, k.Attachments)
	switch {
	case k.Entries+k.Attachments == 0:
		return "keyward: " + what + " (no row uses it)"
	case k.SampleOpens == api.SampleExported:
		return "keyward: " + what + ": a sample of its " + rows + " opens with the imported key, so they are readable again"
	}
	return "keyward: WARNING: " + what + ": the " + rows + " encrypted under the old key WILL NO LONGER OPEN"
}

// rekey runs `keys import --rekey` on the data directory.
func (a *app) rekey(s *settings, b *bundle.Bundle, specs []string) error {
	release, err := a.lockDataDir(s, "keys import --rekey")
	if err != nil {
		return err
	}
	defer release()
	cfg, err := a.libConfig(s)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		specs = s.MasterKeys
	}
	res, err := keyward.ImportRekey(a.ctx, cfg, b, specs)
	if res.RecoveryKey == "" {
		return err // nothing was changed
	}
	// The new root key is stored: show the new recovery key whatever
	// went wrong after that.
	w := a.stdout
	defer printRecoveryKey(w, res.RecoveryKey)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "re-keyed keyward in %s: a new root key, %d key version(s) wrapped under it\n", s.DataDir, res.Keys)
	fmt.Fprintf(w, "deployment id: %s\n", res.DeploymentID)
	fmt.Fprintln(w, "slots (every old slot was replaced; the old recovery key opens nothing now):")
	if err := writeSlots(newTable(w), res.Slots, "  "); err != nil {
		return err
	}
	if len(res.Ignored) > 0 {
		fmt.Fprintf(w, "not imported (in the export, not in this store; `keyward keys import` adds them): %s\n", strings.Join(res.Ignored, ", "))
	}
	fmt.Fprintln(w)
	return nil
}
