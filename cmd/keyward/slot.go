package main

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) slotCmd() *cobra.Command {
	return a.group("slot", "List, add and remove the ways to unlock",
		a.slotLsCmd(), a.slotAddCmd(), a.slotRmCmd())
}

// openSealed opens the deployment and tries to unlock it. It returns the
// deployment even when no slot unlocks (unlockErr then says why), so that
// slot ls and status can show a sealed store. The caller closes kw.
func (a *app) openSealed(cmd *cobra.Command) (kw *keyward.Keyward, unlockErr, err error) {
	s, err := a.localSettings(cmd)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := a.libConfig(s)
	if err != nil {
		return nil, nil, err
	}
	kw, err = keyward.OpenSealed(a.ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return kw, kw.Unlock(a.ctx), nil
}

func (a *app) slotLsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls",
		Short: "List the slots, the one that unlocked, and why others failed",
		Long: `List the slots in the order they are tried. STATUS is "unlocked" for the slot
that unlocked, the reason for each slot that was tried and failed, and empty
for slots not tried. When no slot unlocks, the list is still printed and
the exit status is 1.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			kw, unlockErr, err := a.openSealed(cmd)
			if err != nil {
				return err
			}
			defer closeKW(kw, &err)
			slots, err := kw.Slots(a.ctx)
			if err != nil {
				return err
			}
			if asJSON {
				err = writeJSON(a.stdout, slots)
			} else {
				err = writeSlots(newTable(a.stdout), slots, "")
			}
			if err != nil {
				return err
			}
			return unlockErr
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// writeSlots writes a table of slots, each line starting with indent.
func writeSlots(t *table, slots []keyward.Slot, indent string) error {
	t.row(indent+"ID", "PRIORITY", "SPEC", "CREATED", "STATUS")
	for _, s := range slots {
		status := ""
		switch {
		case s.Unlocked:
			status = "unlocked"
		case s.Error != "":
			status = "failed: " + printable(s.Error)
		}
		t.row(indent+i64(s.ID), strconv.Itoa(s.Priority), printable(s.Spec), formatTime(s.Created), status)
	}
	return t.flush()
}

func (a *app) slotAddCmd() *cobra.Command {
	var priority int
	c := &cobra.Command{
		Use:   "add SPEC",
		Short: "Add a way to unlock (tested before it is stored)",
		Long: `Add a slot: the root key wrapped by the provider named by SPEC, e.g.
env:KEYWARD_PASSPHRASE, file:/etc/keyward.key, exec:/usr/local/bin/getkey.
The new slot is tried once before it is stored. Slots with a lower priority
are tried first; by default the new slot goes after the other ordinary slots
(the recovery slot stays last). Adding a slot never touches the data.`,
		Example: `  KEYWARD_PASSPHRASE=… keyward slot add env:KEYWARD_PASSPHRASE`,
		Args:    exactArgs("SPEC"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			if priority < 0 {
				return usagef(cmd, "--priority must not be negative")
			}
			kw, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer closeKW(kw, &err)
			s, err := kw.AddSlot(a.ctx, args[0], priority)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "added slot %d: %s (priority %d)\n", s.ID, printable(s.Spec), s.Priority)
			if s.Replaced != 0 {
				fmt.Fprintf(a.stderr, "it replaces slot %d, which had the same spec but could no longer unlock\n", s.Replaced)
			}
			return nil
		},
	}
	c.Flags().IntVar(&priority, "priority", 0, "try the slot in this `ORDER` (lower first; default after the other slots)")
	return c
}

func (a *app) slotRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm ID",
		Short: "Remove a slot (never the last one that can unlock)",
		Long: `Remove a slot. It is refused when no other slot can unlock with the key
sources available now, so the last working way in is never removed.`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			id, perr := strconv.ParseInt(args[0], 10, 64)
			if perr != nil || id <= 0 {
				return usagef(cmd, "slot id %q is not a number; see `keyward slot ls`", args[0])
			}
			kw, err := a.open(cmd)
			if err != nil {
				return err
			}
			defer closeKW(kw, &err)
			if err := kw.RemoveSlot(a.ctx, id); err != nil {
				if errors.Is(err, keyward.ErrNotFound) {
					return withHint(err, "list the slots with `keyward slot ls`")
				}
				return err
			}
			fmt.Fprintf(a.stderr, "removed slot %d\n", id)
			return nil
		},
	}
}
