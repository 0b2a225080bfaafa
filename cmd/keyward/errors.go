package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line is wrong: retyping it fixes it
)

// usageError is a mistake in the command line: an unknown command or flag,
// a wrong number of arguments, a malformed argument. It exits with status 2
// and prints the command's usage line.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// hintError adds what to do next to an error whose producer could not know
// it (the library does not know about command-line flags).
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() + "; " + e.hint }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: fmt.Sprintf(format, args...)}
}

// fail prints err as "keyward: <message>" and returns the exit status.
func (a *app) fail(cmd *cobra.Command, err error) int {
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "keyward: %s%s\n", commandPrefix(ue.cmd), ue.err)
		if ue.cmd != nil {
			fmt.Fprintf(a.stderr, "usage: %s\nrun '%s --help' for details\n", useLine(ue.cmd), ue.cmd.CommandPath())
		}
		return exitUsage
	case errors.Is(err, keyward.ErrInvalid):
		// The library refused a name, path or field given on the command line.
		fmt.Fprintln(a.stderr, message(err))
		if cmd != nil {
			fmt.Fprintf(a.stderr, "usage: %s\n", useLine(cmd))
		}
		return exitUsage
	case errors.Is(err, keyward.ErrSealed) && !strings.Contains(err.Error(), "--recovery-key-file"):
		err = withHint(err, "unlock with the recovery key: keyward --recovery-key-file - … (type it), or --recovery-key-file FILE …")
	}
	fmt.Fprintln(a.stderr, message(err))
	return exitError
}

// message returns err's text with exactly one "keyward: " in front (or
// "keyward server…" for what a server said).
func message(err error) string {
	s := err.Error()
	if strings.HasPrefix(s, "keyward: ") || strings.HasPrefix(s, "keyward server") {
		return s
	}
	return "keyward: " + s
}

// commandPrefix returns "db create: " for `keyward db create`, "" for the
// root command.
func commandPrefix(cmd *cobra.Command) string {
	if cmd == nil || !cmd.HasParent() {
		return ""
	}
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return path + ": "
}

// useLine is the command's usage line; for a group, "keyward db COMMAND".
func useLine(cmd *cobra.Command) string {
	if cmd.HasAvailableSubCommands() {
		return cmd.CommandPath() + " COMMAND [flags]"
	}
	return cmd.UseLine()
}
