package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// keysCmd is the `keys` group: every key operation.
func (a *app) keysCmd() *cobra.Command {
	cmds := []*cobra.Command{a.keysExportCmd(), a.keysImportCmd(), a.keysGetCmd(), a.keysPutCmd(),
		a.keysRotateRootCmd(), a.keysVerifyCmd()}
	cmds = append(cmds, a.keysRegenCmds()...)
	return a.group("keys", "Key operations: export, import, get, put, regenerate, jobs, destroy, rotate the root key, verify", cmds...)
}

func (a *app) keysRotateRootCmd() *cobra.Command {
	var drop, asJSON bool
	c := &cobra.Command{
		Use:   "rotate-root",
		Short: "Replace the root key: re-wrap every data key and slot in one transaction",
		Long: `Make a new random root key and re-wrap under it every data key (every
database, every version) and every slot, in one store transaction: either
all of it happens or nothing does. Data is not re-encrypted, so it takes
about as long with a million entries as with ten.

Every slot's key source must be available: env: slots need their variable,
exec: slots their command, file: and auto slots their key file, and the
recovery slot the recovery key (--recovery-key-file FILE). If one is not,
nothing changes and the error lists each such slot and why, unless
--drop-unavailable-slots removes them (never the last slot; dropping the
recovery slot leaves the deployment without a recovery key, and is said so).

In local mode, stop other keyward processes on the data directory first,
or run it against the server with --server: another process keeps the old
root key in memory until it restarts.`,
		Example: `  keyward keys rotate-root --recovery-key-file ./recovery.txt
  keyward keys rotate-root --drop-unavailable-slots`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			rk := ""
			if _, remote := b.(*remoteBackend); remote {
				s, err := a.settings(cmd)
				if err != nil {
					return err
				}
				if s.RecoveryKeyFile != "" {
					if rk, err = a.readRecoveryKey(s.RecoveryKeyFile); err != nil {
						return err
					}
				}
			}
			sum, err := b.RotateRoot(a.ctx, drop, rk)
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(a.stdout, sum); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.stderr, "rotated the root key: %d data keys of %d databases and %d slots re-wrapped in %s\n",
				sum.DataKeys, sum.Databases, len(sum.Slots), sum.Duration.Round(1e6))
			for _, s := range sum.Dropped {
				fmt.Fprintf(a.stderr, "dropped slot %d (%s): %s\n", s.ID, printable(s.Spec), printable(s.Error))
			}
			if sum.RecoveryDropped {
				fmt.Fprintln(a.stderr, "WARNING: the recovery slot was dropped: this deployment has no recovery key any more; keep another slot's key source safe")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&drop, "drop-unavailable-slots", false, "remove the slots that cannot wrap the new root key instead of failing (never the last one)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c
}

func (a *app) keysVerifyCmd() *cobra.Command {
	var (
		dbs    []string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "verify",
		Short: "Open every ciphertext and list each one that fails",
		Long: `Open every wrapped data key, every entry and every chunk of every attachment
(of the databases named with --db, or all) and list each one that fails to
decrypt: kind, database, entry id and path, attachment, key version and
reason. It never stops at the first failure, reads in constant memory, and
reports progress on standard error. Exit status 1 if anything failed.
Against a server, the server lists at most 1000 failures (the count is
exact).`,
		Example: `  keyward keys verify
  keyward keys verify --db app --json > failures.jsonl`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			t := newTable(a.stdout)
			if !asJSON {
				t.row("KIND", "DATABASE", "KEY", "ENTRY ID", "PATH", "ATTACHMENT", "REASON")
			}
			enc := json.NewEncoder(a.stdout)
			var werr error
			report := func(f keyward.VerifyFailure) {
				if asJSON {
					werr = errors.Join(werr, enc.Encode(f))
					return
				}
				t.row(f.Kind, printable(f.Database), u32(f.KeyVersion), orDash(f.ID), orDash(printable(f.Path)),
					orDash(printable(f.Attachment)), printable(f.Reason))
			}
			progress := func(db string, s keyward.VerifySummary) {
				fmt.Fprintf(a.stderr, "verify: %s: %d data keys, %d entries, %d attachments checked, %d failed\n",
					printable(db), s.DataKeys, s.Entries, s.Attachments, s.Failures)
			}
			sum, truncated, err := b.Verify(a.ctx, dbs, report, progress)
			if err != nil {
				return err
			}
			if !asJSON {
				werr = errors.Join(werr, t.flush())
			}
			if werr != nil {
				return werr
			}
			fmt.Fprintf(a.stderr, "verified %d databases: %d data keys, %d entries, %d attachments (%d chunks); %d failed\n",
				sum.Databases, sum.DataKeys, sum.Entries, sum.Attachments, sum.Chunks, sum.Failures)
			if truncated {
				fmt.Fprintln(a.stderr, "the server listed only the first failures; run it with --db per database, or in local mode, for all")
			}
			if sum.Failures > 0 {
				return withHint(fmt.Errorf("%d ciphertexts failed to decrypt: %w", sum.Failures, keyward.ErrIntegrity),
					"restore the damaged rows or files from a backup (or delete them); for a data key, `keyward keys import` it from an export")
			}
			return nil
		},
	}
	c.Flags().StringSliceVar(&dbs, "db", nil, "verify only database `NAME` (repeat or comma-separate; default all)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the failures as JSON lines")
	return c
}
