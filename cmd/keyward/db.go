package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// open opens and unlocks the data directory, for the commands that only
// work on it (slot add, slot rm). The caller closes it.
func (a *app) open(cmd *cobra.Command) (*keyward.Keyward, error) {
	s, err := a.localSettings(cmd)
	if err != nil {
		return nil, err
	}
	cfg, err := a.libConfig(s)
	if err != nil {
		return nil, err
	}
	return keyward.Open(a.ctx, cfg)
}

// localSettings returns the settings of a command that works only on the
// data directory, refusing client mode.
func (a *app) localSettings(cmd *cobra.Command) (*settings, error) {
	s, err := a.settings(cmd)
	if err != nil {
		return nil, err
	}
	if s.Server != "" {
		return nil, fmt.Errorf("`%s` works on the data directory, not through a server (%s sets %s): run it where the data directory is, without a server",
			cmd.CommandPath(), s.from["server"], s.Server)
	}
	return s, nil
}

// closeKW closes kw and reports a close error unless err is already set.
func closeKW(kw *keyward.Keyward, err *error) {
	if cerr := kw.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close: %w", cerr)
	}
}

func (a *app) dbCmd() *cobra.Command {
	return a.group("db", "Create and list databases", a.dbCreateCmd(), a.dbLsCmd())
}

func (a *app) dbCreateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "create NAME",
		Short: "Create a database with its first data key",
		Long:  "Create a database. Names use letters, digits, '-', '_' and '.', up to 64 characters.",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			if err := b.CreateDatabase(a.ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "created database %s\n", args[0])
			return nil
		},
	}
}

type dbJSON struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

func (a *app) dbLsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls",
		Short: "List databases",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			dbs, err := b.Databases(a.ctx)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]dbJSON, len(dbs))
				for i, d := range dbs {
					out[i] = dbJSON{Name: d.Name, Created: d.Created.UTC()}
				}
				return writeJSON(a.stdout, out)
			}
			t := newTable(a.stdout)
			t.row("NAME", "CREATED")
			for _, d := range dbs {
				t.row(d.Name, formatTime(d.Created))
			}
			return t.flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
