package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) tokenCmd() *cobra.Command {
	return a.group("token", "Create, list and revoke API tokens (for `keyward serve`)",
		a.tokenCreateCmd(), a.tokenLsCmd(), a.tokenRmCmd())
}

func (a *app) tokenCreateCmd() *cobra.Command {
	var r tokenRequest
	var role string
	c := &cobra.Command{
		Use:   "create --role ROLE [--db NAME]... [--name N] [--ttl DURATION]",
		Short: "Create an API token; its secret goes to standard output, once",
		Long: `Create an API token. Roles: admin (everything: tokens, maintenance, unlock),
writer (read and write entries and attachments, create databases), reader
(read entries and attachments). --db limits the token to those databases
(repeat it; default: all). --ttl makes it expire.

The secret is printed alone on standard output, once (only a digest is
stored), so that a script can capture it; the token's id and details go to
standard error.`,
		Example: `  keyward token create --role reader --db app --name ci --ttl 720h > ci.tok && chmod 600 ci.tok`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if r.Role, err = keyward.ParseRole(role); err != nil || role == "" {
				return usagef(cmd, "--role must be admin, writer or reader")
			}
			if cmd.Flags().Changed("ttl") && r.TTL <= 0 {
				return usagef(cmd, "--ttl must be positive")
			}
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			secret, t, err := b.CreateToken(a.ctx, r)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, secret)
			fmt.Fprintf(a.stderr, "created token %s (%s) for %s, %s; the secret above is shown only now\n",
				t.ID, t.Role, databasesText(t.Databases), expiresText(t.Expires))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&role, "role", "", "`ROLE`: admin, writer or reader (required)")
	f.StringArrayVar(&r.Databases, "db", nil, "limit the token to database `NAME`; repeat for several")
	f.StringVar(&r.Name, "name", "", "a `NAME` to recognise the token by")
	f.DurationVar(&r.TTL, "ttl", 0, "expire after `DURATION` (e.g. 720h; default never)")
	return c
}

func databasesText(dbs []string) string {
	if len(dbs) == 0 {
		return "every database"
	}
	return "database(s) " + strings.Join(dbs, ", ")
}

func expiresText(t time.Time) string {
	if t.IsZero() {
		return "never expires"
	}
	return "expires " + formatTime(t)
}

type tokenJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Databases []string  `json:"databases"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
}

func (a *app) tokenLsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls",
		Short: "List the API tokens (never their secrets)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			ts, err := b.Tokens(a.ctx)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]tokenJSON, len(ts))
				for i, t := range ts {
					dbs := t.Databases
					if dbs == nil {
						dbs = []string{}
					}
					out[i] = tokenJSON{ID: t.ID, Name: t.Name, Role: string(t.Role), Databases: dbs, Created: t.Created.UTC(), Expires: t.Expires.UTC()}
				}
				return writeJSON(a.stdout, out)
			}
			tb := newTable(a.stdout)
			tb.row("ID", "ROLE", "DATABASES", "CREATED", "EXPIRES", "NAME")
			for _, t := range ts {
				dbs := "*"
				if len(t.Databases) > 0 {
					dbs = strings.Join(t.Databases, ",")
				}
				tb.row(t.ID, string(t.Role), dbs, formatTime(t.Created), formatTime(t.Expires), orDash(printable(t.Name)))
			}
			return tb.flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *app) tokenRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID",
		Short: "Revoke an API token",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			if err := b.DeleteToken(a.ctx, args[0]); err != nil {
				if errors.Is(err, keyward.ErrNotFound) {
					return withHint(err, "list the tokens with `keyward token ls`")
				}
				return err
			}
			fmt.Fprintf(a.stderr, "removed token %s\n", args[0])
			return nil
		},
	}
}
