package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// stdinName is the file name that means standard input.
const stdinName = "-"

// maxRecoveryKeyInput bounds what is read as a recovery key (the key is
// 59 characters; a file or paste with some spaces is still far below).
const maxRecoveryKeyInput = 4096

// readRecoveryKey reads the recovery key from path, or from standard
// input when path is "-": typed at the terminal after a prompt, without
// echo, or piped. Standard input is read once per command.
func (a *app) readRecoveryKey(path string) (string, error) {
	if path == stdinName {
		return a.recoveryKeyFromStdin()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("recovery key file: %w", err)
	}
	defer clear(b)
	rk := strings.TrimSpace(string(b))
	if rk == "" {
		return "", fmt.Errorf("recovery key file %s is empty; it should hold the recovery key printed by `keyward init`", path)
	}
	a.warnIfShared("recovery key file", path)
	return rk, nil
}

func (a *app) recoveryKeyFromStdin() (string, error) {
	if a.stdinRecoveryKey != nil {
		return *a.stdinRecoveryKey, nil
	}
	b, err := a.readStdinSecret("Recovery key", maxRecoveryKeyInput+1)
	defer clear(b)
	if err != nil {
		return "", fmt.Errorf("read the recovery key from standard input: %w", err)
	}
	if len(b) > maxRecoveryKeyInput {
		return "", errors.New("standard input holds more than a recovery key: give only the recovery key printed by `keyward init`")
	}
	rk := strings.TrimSpace(string(b))
	if rk == "" {
		return "", errors.New("no recovery key on standard input: type or pipe the recovery key printed by `keyward init`")
	}
	a.stdinRecoveryKey = &rk
	return rk, nil
}

// claimStdin refuses, as a usage error, a command line on which more than
// one argument reads standard input: users are this command's (such as
// "--json -" or "KEY=-"), and --recovery-key-file - is counted with them.
func (a *app) claimStdin(cmd *cobra.Command, users ...string) error {
	if s, err := a.settings(cmd); err == nil && s.RecoveryKeyFile == stdinName && len(users) > 0 {
		users = append(users, "--recovery-key-file -")
	}
	if len(users) > 1 {
		return usagef(cmd, "%s: only one of them can read standard input", strings.Join(users, ", "))
	}
	return nil
}
