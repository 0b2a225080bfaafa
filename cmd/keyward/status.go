package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the deployment, its slots, databases and key versions",
		Long: `Show the store, the deployment id, the schema version, which slot unlocked
(and why the others failed), the maintenance switch, and per database its
data key versions with their state, encryption count, and how many entries
and attachments use each version.

In client mode the server's status is shown; the deployment's details need
an admin token. --json prints the body of the API's GET /v1/sys/status
(version, sealed, maintenance, deployment) in both modes.

When no slot unlocks (the server is sealed), the status is still printed
(marked sealed, with each slot's reason) and the exit status is 1.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			b, err := a.backend(cmd, allowSealed)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			st, unlockErr, err := b.Status(a.ctx)
			if err != nil {
				return err
			}
			if asJSON {
				err = writeJSON(a.stdout, st)
			} else {
				if _, remote := b.(*remoteBackend); remote {
					fmt.Fprintf(a.stdout, "server: %s (keyward %s)\n", b.Where(), st.Version)
				}
				err = writeStatus(a.stdout, st)
			}
			if err != nil {
				return err
			}
			return unlockErr
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return c
}

func maintenanceText(m api.Maintenance) string {
	if !m.Enabled {
		return "off"
	}
	s := "ON since " + formatTime(m.Since)
	if m.Reason != "" {
		s += ": " + printable(m.Reason)
	}
	return s + " (data requests to servers get 503)"
}

func writeStatus(w io.Writer, status api.Status) error {
	st := status.Deployment
	if st == nil {
		t := newTable(w)
		state := "unlocked"
		if status.Sealed {
			state = "SEALED: unlock with `keyward unlock`"
		}
		t.row("state:", state)
		t.row("maintenance:", maintenanceText(status.Maintenance))
		t.row("deployment:", "(shown to admin tokens only)")
		return t.flush()
	}
	t := newTable(w)
	t.row("store:", st.Store)
	t.row("deployment id:", st.DeploymentID)
	t.row("schema version:", fmt.Sprint(st.SchemaVersion))
	switch {
	case st.Sealed:
		t.row("state:", "SEALED: no slot could unlock (reasons below)")
	case st.UnlockedBy != nil:
		t.row("state:", fmt.Sprintf("unlocked by slot %d (%s)", st.UnlockedBy.ID, printable(st.UnlockedBy.Spec)))
	default:
		t.row("state:", "unlocked")
	}
	t.row("maintenance:", maintenanceText(status.Maintenance))
	if !st.MemoryLocked {
		t.row("memory locked:", "no: some keys are in swappable memory; raise RLIMIT_MEMLOCK (ulimit -l)")
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nslots:")
	if err := writeSlots(newTable(w), st.Slots, "  "); err != nil {
		return err
	}
	fmt.Fprintln(w, "\ndatabases:")
	if len(st.Databases) == 0 {
		fmt.Fprintln(w, "  (none; create one with `keyward db create NAME`)")
	}
	for _, db := range st.Databases {
		fmt.Fprintf(w, "  %s (created %s): entries: %d, attachments: %d\n",
			db.Name, formatTime(db.Created), db.Entries, db.Attachments)
		t := newTable(w)
		t.row("    KEY VERSION", "STATE", "CREATED", "ENCRYPTIONS", "ENTRIES", "ATTACHMENTS")
		for _, k := range db.Keys {
			t.row("    "+u32(k.Version), k.State, formatTime(k.Created),
				fmt.Sprint(k.Encryptions), i64(k.Entries), i64(k.Attachments))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of keyward",
		Args:  exactArgs(),
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(a.stdout, "keyward %s (%s, %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// version is the module version stamped by the go command ("(devel)" for a
// build from a work tree), with the VCS revision when known.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
