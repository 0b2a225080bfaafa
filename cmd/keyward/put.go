package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

type putOptions struct {
	jsonFile string
	typ      string
	tags     []string
	revision int64
	create   bool
}

func (a *app) putCmd() *cobra.Command {
	var o putOptions
	c := &cobra.Command{
		Use:   "put DB PATH [KEY=VALUE]...",
		Short: "Store an entry's fields, encrypted",
		Long: `Store an entry at PATH in database DB, replacing what is there.

Each KEY=VALUE is split at the first '='; the value is taken literally.
KEY=- reads that one value from standard input (one trailing newline is
dropped); from a terminal it prompts and does not echo. --json FILE (or - for standard input) reads a JSON object of
fields: strings as they are, numbers and booleans as their JSON text; nested
objects, arrays and null are refused. KEY=VALUE pairs are merged over the
JSON fields.

--revision N writes only if the stored revision is still N (compare and
swap); --create writes only if nothing is stored at PATH yet.

On success it prints "stored DB/PATH revision N (key version V)" on
standard error.`,
		Example: `  keyward put app prod/db user=admin password=-  < password.txt
  keyward put app prod/api --json token.json --type api-token --tag prod`,
		Args: rangeArgs(2, -1, "DB", "PATH", "[KEY=VALUE]..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.put(cmd, args[0], args[1], args[2:], o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.jsonFile, "json", "", "read fields from a JSON object in `FILE` (- for standard input)")
	f.StringVar(&o.typ, "type", "", "entry `TYPE` (free text, e.g. password, api-token)")
	f.StringArrayVar(&o.tags, "tag", nil, "add `TAG`; repeat for several")
	f.Int64Var(&o.revision, "revision", 0, "write only if the stored revision is `N`")
	f.BoolVar(&o.create, "create", false, "fail if the entry exists")
	return c
}

func (a *app) put(cmd *cobra.Command, dbName, path string, pairs []string, o putOptions) (err error) {
	if cmd.Flags().Changed("revision") && o.revision <= 0 {
		return usagef(cmd, "--revision must be a positive revision number")
	}
	if o.create && o.revision != 0 {
		return usagef(cmd, "--create and --revision exclude each other")
	}
	fields, err := a.readFields(cmd, o.jsonFile, pairs)
	if err != nil {
		return err
	}
	b, err := a.backend(cmd, needUnlocked)
	if err != nil {
		return err
	}
	defer closeBackend(b, &err)
	e := keyward.Entry{Path: path, Type: o.typ, Tags: o.tags, Fields: fields, Revision: o.revision}
	stored, err := b.Put(a.ctx, dbName, e, o.create)
	if errors.Is(err, keyward.ErrExists) {
		err = withHint(err, "drop --create to replace it")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "stored %s/%s revision %d (key version %d)\n", dbName, path, stored.Revision, stored.KeyVersion)
	return nil
}

// readFields merges the --json fields and the KEY=VALUE pairs (which win).
// The command line is checked before anything is read.
func (a *app) readFields(cmd *cobra.Command, jsonFile string, pairs []string) (map[string]string, error) {
	if jsonFile == "" && len(pairs) == 0 {
		return nil, usagef(cmd, "nothing to store: give KEY=VALUE pairs or --json FILE")
	}
	stdinUsers := []string{}
	if jsonFile == "-" {
		stdinUsers = append(stdinUsers, "--json -")
	}
	seen := map[string]bool{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		switch {
		case !ok:
			return nil, usagef(cmd, "%q is not KEY=VALUE", p)
		case k == "":
			return nil, usagef(cmd, "%q has no field name before '='", p)
		case seen[k]:
			return nil, usagef(cmd, "field %q given twice", k)
		}
		seen[k] = true
		if v == "-" {
			stdinUsers = append(stdinUsers, k+"=-")
		}
	}
	if err := a.claimStdin(cmd, stdinUsers...); err != nil {
		return nil, err
	}
	fields := map[string]string{}
	if jsonFile != "" {
		var err error
		if fields, err = a.readJSONFields(jsonFile); err != nil {
			return nil, err
		}
	}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		if v == "-" {
			var err error
			if v, err = a.readValue(k); err != nil {
				return nil, err
			}
		}
		fields[k] = v
	}
	return fields, nil
}

// readValue reads one field's value from standard input: from a terminal,
// after a prompt and without echo; otherwise all of it, less one trailing
// newline.
func (a *app) readValue(name string) (string, error) {
	b, err := a.readStdinSecret(printable(name), -1)
	defer clear(b)
	if err != nil {
		return "", fmt.Errorf("read field %q from standard input: %w", name, err)
	}
	return trimNewline(string(b)), nil
}

func trimNewline(s string) string {
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s, _ = strings.CutSuffix(t, "\r")
	}
	return s
}

// readJSONFields reads a JSON object whose values are strings, numbers or
// booleans.
func (a *app) readJSONFields(name string) (map[string]string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(a.stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("--json: %w", err)
	}
	defer clear(b)
	fields, err := parseJSONFields(b)
	if err != nil {
		src := name
		if name == "-" {
			src = "standard input"
		}
		return nil, fmt.Errorf("--json %s: %w", src, err)
	}
	return fields, nil
}

func parseJSONFields(b []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("want a JSON object of fields: %w", err)
	}
	if raw == nil {
		return nil, errors.New("want a JSON object of fields, got null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON object")
	}
	fields := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v[0] {
		case '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("field %q: %w", k, err)
			}
			fields[k] = s
		case '{', '[':
			return nil, fmt.Errorf("field %q: nested objects and arrays are not supported; store them as a JSON string", k)
		case 'n':
			return nil, fmt.Errorf("field %q: null is not a value; use \"\" or leave the field out", k)
		default: // number, true, false
			fields[k] = string(v)
		}
	}
	return fields, nil
}
