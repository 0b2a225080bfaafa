package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// open opens and unlocks the deployment. The caller closes it.
func (a *app) open(cmd *cobra.Command) (*keyward.Keyward, error) {
	s, err := a.settings(cmd)
	if err != nil {
		return nil, err
	}
	cfg, err := a.libConfig(s)
	if err != nil {
		return nil, err
	}
	return keyward.Open(a.ctx, cfg)
}

// openDB opens the deployment and the named database.
func (a *app) openDB(cmd *cobra.Command, name string) (*keyward.Keyward, *keyward.Database, error) {
	kw, err := a.open(cmd)
	if err != nil {
		return nil, nil, err
	}
	db, err := kw.Database(a.ctx, name)
	if err != nil {
		kw.Close()
		return nil, nil, err
	}
	return kw, db, nil
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
			kw, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer closeKW(kw, &err)
			if _, err := kw.CreateDatabase(a.ctx, args[0]); err != nil {
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
			kw, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer closeKW(kw, &err)
			dbs, err := kw.Databases(a.ctx)
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
