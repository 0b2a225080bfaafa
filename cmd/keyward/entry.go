package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

// entryJSON is the JSON form of an entry. Fields is left out of listings.
type entryJSON struct {
	Path       string            `json:"path"`
	Type       string            `json:"type"`
	Tags       []string          `json:"tags"`
	Fields     map[string]string `json:"fields,omitzero"`
	Revision   int64             `json:"revision"`
	KeyVersion uint32            `json:"key_version"`
	Created    time.Time         `json:"created"`
	Updated    time.Time         `json:"updated"`
}

func toJSON(e keyward.Entry) entryJSON {
	tags := e.Tags
	if tags == nil {
		tags = []string{}
	}
	return entryJSON{Path: e.Path, Type: e.Type, Tags: tags, Fields: e.Fields, Revision: e.Revision,
		KeyVersion: e.KeyVersion, Created: e.Created.UTC(), Updated: e.Updated.UTC()}
}

// entryNotFound adds how to list entries to a missing entry's error.
func entryNotFound(err error, db string) error {
	if errors.Is(err, keyward.ErrNotFound) {
		return withHint(err, "list the entries with `keyward ls %s`", db)
	}
	return err
}

func (a *app) getCmd() *cobra.Command {
	var asJSON bool
	var field string
	c := &cobra.Command{
		Use:   "get DB PATH",
		Short: "Decrypt and print an entry",
		Long: `Decrypt and print an entry: its metadata, then its fields as "name: value"
lines sorted by name. Values holding control characters are shown quoted;
--field and --json give the exact value.

Nothing is printed unless the whole entry decrypted and authenticated.`,
		Args: exactArgs("DB", "PATH"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if asJSON && field != "" {
				return usagef(cmd, "--json and --field exclude each other")
			}
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			e, err := b.Get(a.ctx, args[0], args[1])
			if err != nil {
				return entryNotFound(err, args[0])
			}
			// Build the whole output first: a failure prints nothing.
			var out bytes.Buffer
			defer clearBuffer(&out)
			switch {
			case field != "":
				v, ok := e.Fields[field]
				if !ok {
					return fmt.Errorf("%s/%s: no field %s; fields are: %s", args[0], args[1], printable(field), fieldNames(e.Fields))
				}
				out.WriteString(v + "\n")
			case asJSON:
				if err := writeJSON(&out, toJSON(e)); err != nil {
					return err
				}
			default:
				writeEntry(&out, e)
			}
			_, err = out.WriteTo(a.stdout)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: path, type, tags, fields, revision, key_version, created, updated")
	c.Flags().StringVar(&field, "field", "", "print only the value of field `NAME`")
	return c
}

func writeEntry(out *bytes.Buffer, e keyward.Entry) {
	t := newTable(out)
	t.row("path:", printable(e.Path))
	t.row("type:", orDash(printable(e.Type)))
	t.row("tags:", joinTags(e.Tags))
	t.row("revision:", i64(e.Revision))
	t.row("key version:", u32(e.KeyVersion))
	t.row("created:", formatTime(e.Created))
	t.row("updated:", formatTime(e.Updated))
	t.flush()
	if len(e.Fields) > 0 {
		out.WriteString("\n")
	}
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		fmt.Fprintf(out, "%s: %s\n", printable(k), printable(e.Fields[k]))
	}
}

func fieldNames(fields map[string]string) string {
	if len(fields) == 0 {
		return "(none)"
	}
	names := slices.Sorted(maps.Keys(fields))
	for i, n := range names {
		names[i] = printable(n)
	}
	return strings.Join(names, ", ")
}

// clearBuffer overwrites what the buffer held (plaintext values).
func clearBuffer(b *bytes.Buffer) {
	b.Reset()
	clear(b.Bytes()[:b.Cap()])
}

func (a *app) lsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls DB [PREFIX]",
		Short: "List the entries of a database (metadata only)",
		Long:  "List the entries of DB whose path starts with PREFIX, without decrypting anything.",
		Args:  rangeArgs(1, 2, "DB", "[PREFIX]"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			prefix := ""
			if len(args) == 2 {
				prefix = args[1]
			}
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			es, err := b.List(a.ctx, args[0], prefix)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]entryJSON, len(es))
				for i, e := range es {
					out[i] = toJSON(e)
					out[i].Fields = nil
				}
				return writeJSON(a.stdout, out)
			}
			t := newTable(a.stdout)
			t.row("PATH", "TYPE", "REVISION", "KEY", "UPDATED")
			for _, e := range es {
				t.row(printable(e.Path), orDash(printable(e.Type)), i64(e.Revision), u32(e.KeyVersion), formatTime(e.Updated))
			}
			return t.flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *app) rmCmd() *cobra.Command {
	var revision int64
	c := &cobra.Command{
		Use:   "rm DB PATH",
		Short: "Delete an entry and its attachments",
		Args:  exactArgs("DB", "PATH"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if cmd.Flags().Changed("revision") && revision <= 0 {
				return usagef(cmd, "--revision must be a positive revision number")
			}
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			if err := b.Delete(a.ctx, args[0], args[1], revision); err != nil {
				return entryNotFound(err, args[0])
			}
			fmt.Fprintf(a.stderr, "removed %s/%s\n", args[0], args[1])
			return nil
		},
	}
	c.Flags().Int64Var(&revision, "revision", 0, "delete only if the stored revision is `N`")
	return c
}
