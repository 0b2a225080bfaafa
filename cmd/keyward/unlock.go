package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) unlockCmd() *cobra.Command {
	var passEnv, passFile string
	c := &cobra.Command{
		Use:   "unlock",
		Short: "Unseal a server with a passphrase or the recovery key",
		Long: `Unseal a sealed keyward server (client mode, admin token): the passphrase is
tried on its env: slots, the recovery key on its recovery slot. Give exactly
one of --passphrase-env VAR (the passphrase is in variable VAR),
--passphrase-file FILE, or the global --recovery-key-file FILE. Secrets
never go on the command line.

Without a server it checks the data directory instead: it says which slot
the passphrase or recovery key opens. Nothing stays unlocked then, since
each command unlocks the data directory on its own.`,
		Example: `  keyward --server https://kw.example:8443 --token-file admin.tok unlock --passphrase-env KEYWARD_PASSPHRASE
  keyward --server https://kw.example:8443 --token-file admin.tok --recovery-key-file rk.txt unlock`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			s, err := a.settings(cmd)
			if err != nil {
				return err
			}
			given := 0
			for _, v := range []string{passEnv, passFile, s.RecoveryKeyFile} {
				if v != "" {
					given++
				}
			}
			if given != 1 {
				return usagef(cmd, "give exactly one of --passphrase-env VAR, --passphrase-file FILE and --recovery-key-file FILE")
			}
			pass, rk, err := a.unlockSecret(passEnv, passFile, s.RecoveryKeyFile)
			if err != nil {
				return err
			}
			b, err := a.backend(cmd, stayLocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			slot, err := b.Unlock(a.ctx, pass, rk)
			if err != nil {
				return err
			}
			_, remote := b.(*remoteBackend)
			switch {
			case slot == nil:
				fmt.Fprintf(a.stderr, "%s was not sealed; nothing to do\n", b.Where())
			case slot.ID != 0:
				fmt.Fprintf(a.stderr, "unlocked %s by slot %d (%s)\n", b.Where(), slot.ID, printable(slot.Spec))
			default:
				fmt.Fprintf(a.stderr, "unlocked %s\n", b.Where())
			}
			if !remote {
				fmt.Fprintln(a.stderr, "(no server: nothing stays unlocked; each command unlocks the data directory itself)")
			}
			return nil
		},
	}
	c.Flags().StringVar(&passEnv, "passphrase-env", "", "read the passphrase from environment variable `VAR`")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "read the passphrase from `FILE` (its first line)")
	return c
}

// unlockSecret reads the one secret the unlock command was given.
func (a *app) unlockSecret(passEnv, passFile, rkFile string) (pass, rk string, err error) {
	if passEnv != "" || passFile != "" {
		pass, err = a.readPassphrase(passEnv, passFile)
		return pass, "", err
	}
	rk, err = a.readRecoveryKey(rkFile)
	return "", rk, err
}

// readPassphrase reads a passphrase from the environment variable passEnv,
// or else from the first line of passFile.
func (a *app) readPassphrase(passEnv, passFile string) (string, error) {
	if passEnv != "" {
		v, ok := a.getenv(passEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("--passphrase-env: %s is not set; export the passphrase in it", passEnv)
		}
		return v, nil
	}
	b, err := os.ReadFile(passFile)
	if err != nil {
		return "", fmt.Errorf("passphrase file: %w", err)
	}
	defer clear(b)
	line, _, _ := strings.Cut(string(b), "\n")
	if line = trimNewline(line + "\n"); line == "" {
		return "", fmt.Errorf("passphrase file %s is empty", passFile)
	}
	return line, nil
}
