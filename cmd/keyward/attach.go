package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) attachCmd() *cobra.Command {
	return a.group("attach", "Store, read, list and delete files attached to an entry",
		a.attachPutCmd(), a.attachGetCmd(), a.attachLsCmd(), a.attachRmCmd())
}

func (a *app) attachPutCmd() *cobra.Command {
	var name string
	c := &cobra.Command{
		Use:   "put DB PATH FILE",
		Short: "Encrypt FILE (- for standard input) and attach it to an entry",
		Long: `Encrypt FILE in 64 KiB chunks and attach it to the entry at PATH, replacing an
attachment of the same name. FILE - reads standard input and needs --name.
If reading fails midway, nothing is stored.`,
		Args: exactArgs("DB", "PATH", "FILE"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			dbName, path, file := args[0], args[1], args[2]
			if name == "" {
				if file == "-" {
					return usagef(cmd, "give --name NAME when reading standard input")
				}
				name = filepath.Base(file)
			}
			if file == "-" {
				if err := a.claimStdin(cmd, "FILE -"); err != nil {
					return err
				}
			}
			r, size := a.stdin, int64(-1)
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
					size = fi.Size()
				}
				r = f
			}
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			att, err := b.PutAttachment(a.ctx, dbName, path, name, r, size)
			if err != nil {
				return entryNotFound(err, dbName)
			}
			fmt.Fprintf(a.stderr, "stored attachment %s of %s/%s (%s, key version %d)\n",
				printable(att.Name), dbName, path, humanSize(att.Size), att.KeyVersion)
			return nil
		},
	}
	c.Flags().StringVar(&name, "name", "", "attachment `NAME` (default: the base name of FILE)")
	return c
}

func (a *app) attachGetCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "get DB PATH NAME",
		Short: "Decrypt an attachment to standard output or a file",
		Long: `Decrypt an attachment to standard output, or with -o to FILE.

With -o the data goes to a temporary file in FILE's directory (mode 0600),
which is renamed to FILE only once the whole attachment decrypted and
authenticated: a failure leaves FILE as it was. On standard output, the
whole attachment is authenticated first (it is decrypted twice), so a
tampered attachment prints nothing.`,
		Args: exactArgs("DB", "PATH", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			open := func() (io.ReadCloser, error) {
				r, err := b.OpenAttachment(a.ctx, args[0], args[1], args[2])
				return r, attachmentNotFound(err, args[0], args[1])
			}
			if output != "" && output != "-" {
				r, err := open()
				if err != nil {
					return err
				}
				defer r.Close()
				return writeFileAtomic(output, true, func(w io.Writer) error {
					if _, err := io.Copy(w, r); err != nil {
						return fmt.Errorf("%w; %s was not written", err, output)
					}
					return nil
				})
			}
			// Authenticate every chunk before the first byte goes out, so
			// a tampered attachment prints nothing at all: read it once
			// to the end, then again to standard output.
			r, err := open()
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, r)
			r.Close()
			if err != nil {
				return err
			}
			if r, err = open(); err != nil {
				return err
			}
			defer r.Close()
			if _, err := io.Copy(a.stdout, r); err != nil {
				// Only if the attachment changed between the two passes.
				return fmt.Errorf("%w; the output is incomplete: discard it", err)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "write to `FILE` (mode 0600) instead of standard output")
	return c
}

// writeFileAtomic writes name through write: into a temporary file beside
// it (mode 0600), synced and then renamed to name, and the directory synced
// (best effort), so that name appears complete or not at all and a failure
// leaves it as it was. With replace false an existing name is never
// replaced, even one that appears meanwhile.
func writeFileAtomic(name string, replace bool, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".keyward-*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // gone already after a rename
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := placeFile(tmp.Name(), name, replace); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // not every OS or file system syncs a directory
		d.Close()
	}
	return nil
}

// placeFile moves tmp to name. Without replace it links tmp to name, which
// fails if name exists (where hard links are not possible, it checks and
// renames).
func placeFile(tmp, name string, replace bool) error {
	if replace {
		return os.Rename(tmp, name)
	}
	err := os.Link(tmp, name)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: choose another file, or give --force to replace it", name)
	}
	if err == nil {
		return os.Remove(tmp)
	}
	if _, serr := os.Lstat(name); serr == nil {
		return fmt.Errorf("%s exists: choose another file, or give --force to replace it", name)
	}
	return os.Rename(tmp, name)
}

type attachmentJSON struct {
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	KeyVersion uint32    `json:"key_version"`
	Created    time.Time `json:"created"`
}

func (a *app) attachLsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls DB PATH",
		Short: "List an entry's attachments",
		Args:  exactArgs("DB", "PATH"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			as, err := b.Attachments(a.ctx, args[0], args[1])
			if err != nil {
				return entryNotFound(err, args[0])
			}
			if asJSON {
				out := make([]attachmentJSON, len(as))
				for i, at := range as {
					out[i] = attachmentJSON{Name: at.Name, Size: at.Size, KeyVersion: at.KeyVersion, Created: at.Created.UTC()}
				}
				return writeJSON(a.stdout, out)
			}
			t := newTable(a.stdout)
			t.row("NAME", "SIZE", "KEY", "CREATED")
			for _, at := range as {
				t.row(printable(at.Name), i64(at.Size), u32(at.KeyVersion), formatTime(at.Created))
			}
			return t.flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *app) attachRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm DB PATH NAME",
		Short: "Delete an attachment",
		Args:  exactArgs("DB", "PATH", "NAME"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			if err := b.DeleteAttachment(a.ctx, args[0], args[1], args[2]); err != nil {
				return attachmentNotFound(err, args[0], args[1])
			}
			fmt.Fprintf(a.stderr, "removed attachment %s of %s/%s\n", printable(args[2]), args[0], args[1])
			return nil
		},
	}
}

// attachmentNotFound adds how to list attachments to a missing one's error.
func attachmentNotFound(err error, db, path string) error {
	if errors.Is(err, keyward.ErrNotFound) {
		return withHint(err, "list the attachments with `keyward attach ls %s %s`", db, path)
	}
	return err
}
