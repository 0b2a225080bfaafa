package main

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/secret"
)

func (a *app) keysGetCmd() *cobra.Command {
	var version uint32
	c := &cobra.Command{
		Use:   "get DB",
		Short: "Print a raw data key in base64 (data directory only, no server running)",
		Long: `Print the raw data key of a database, in standard base64, on standard output:
the primary version, or --version N. Whoever has it can decrypt every row
stored under that version. Prefer "keys export", which encrypts the keys.

It works on the data directory only, and refuses while a keyward server runs
on it: the API never hands out raw keys.`,
		Example: `  keyward keys get app --version 2 > app-v2.key`,
		Args:    exactArgs("DB"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			kw, done, err := a.openLocked(cmd, "keys get")
			if err != nil {
				return err
			}
			defer done(&err)
			key, v, err := kw.GetDataKey(a.ctx, args[0], version)
			if err != nil {
				return err
			}
			defer key.Wipe()
			fmt.Fprintf(a.stderr, "keyward: WARNING: the raw data key of %s version %d (check value %s) follows on standard output: "+
				"whoever has it can decrypt every row stored under that version; keep it out of terminals, logs and shell history\n",
				args[0], v, bundle.CheckValue(key))
			_, err = fmt.Fprintln(a.stdout, base64.StdEncoding.EncodeToString(key.UnsafeBytes()))
			return err
		},
	}
	c.Flags().Uint32Var(&version, "version", 0, "the key `VERSION` (default: the primary)")
	return c
}

func (a *app) keysPutCmd() *cobra.Command {
	var (
		version   uint32
		overwrite bool
	)
	c := &cobra.Command{
		Use:   "put DB BASE64|-",
		Short: "Store a raw data key given in base64 (data directory only, no server running)",
		Long: `Store a raw 32-byte data key, given in standard base64 ("-": read it from
standard input, without echo on a terminal), as a key version of a
database, wrapped under the root key: --version N, by default the version
after the highest one. A new version is added in state active. A version
that holds the same key is left alone (check values compared); one that
holds another key is refused unless --overwrite, which replaces it: rows
encrypted under the replaced key no longer open.

It works on the data directory only, and refuses while a keyward server runs
on it. A key on the command line shows in the process list and in shell
history: prefer "-".`,
		Example: `  keyward keys put app - --version 2 < app-v2.key`,
		Args:    exactArgs("DB", "BASE64"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if _, err := a.localSettings(cmd); err != nil {
				return err
			}
			key, err := a.readRawKey(cmd, args[1])
			if err != nil {
				return err
			}
			defer key.Wipe()
			kw, done, err := a.openLocked(cmd, "keys put")
			if err != nil {
				return err
			}
			defer done(&err)
			res, err := kw.PutDataKey(a.ctx, args[0], key, version, overwrite)
			if err != nil {
				return err
			}
			switch res.Action {
			case api.KeySame:
				fmt.Fprintf(a.stderr, "%s version %d already holds this key (check value %s); nothing to do\n", args[0], res.Version, res.CheckValue)
			case api.KeyReplace:
				fmt.Fprintln(a.stderr, replaceWarning(args[0], res))
			default:
				fmt.Fprintf(a.stderr, "stored %s key version %d (%s, check value %s)\n", args[0], res.Version, res.State, res.CheckValue)
			}
			return nil
		},
	}
	c.Flags().Uint32Var(&version, "version", 0, "store it as key `VERSION` (default: the next one)")
	c.Flags().BoolVar(&overwrite, "overwrite", false, "replace a stored key that differs (its rows no longer open)")
	return c
}

// readRawKey decodes a data key given in base64, or read from standard
// input for "-".
func (a *app) readRawKey(cmd *cobra.Command, arg string) (*secret.Key, error) {
	text := arg
	if arg == "-" {
		if err := a.claimStdin(cmd, "KEY -"); err != nil {
			return nil, err
		}
		var err error
		if text, err = a.readValue("data key (base64)"); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintln(a.stderr, "keyward: warning: a key on the command line shows in the process list and shell history; give - and pipe it in")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != 32 {
		clear(raw)
		return nil, usagef(cmd, "the data key must be 32 bytes in standard base64 (44 characters, as `keyward keys get` prints)")
	}
	return secret.FromBytes(raw), nil
}

// openLocked takes the data directory's server lock as holder, then opens
// and unlocks the deployment; done closes it and releases the lock.
func (a *app) openLocked(cmd *cobra.Command, holder string) (kw *keyward.Keyward, done func(*error), err error) {
	s, err := a.localSettings(cmd)
	if err != nil {
		return nil, nil, err
	}
	release, err := a.lockDataDir(s, holder)
	if err != nil {
		return nil, nil, err
	}
	if kw, err = a.open(cmd); err != nil {
		release()
		return nil, nil, err
	}
	return kw, func(err *error) { closeKW(kw, err); release() }, nil
}
