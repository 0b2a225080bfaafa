package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func (a *app) jobsCmd() *cobra.Command {
	c := a.group("jobs", "List and control key jobs (regenerations)",
		a.jobsLsCmd(), a.jobsShowCmd(),
		a.jobActionCmd("pause", "Pause a running job after its current batch"),
		a.jobActionCmd("resume", "Resume a paused (or interrupted) job and follow it"),
		a.jobActionCmd("cancel", "Cancel a running or paused job for good, after its current batch"))
	return c
}

func (a *app) jobsLsCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls",
		Short: "List the jobs, oldest first",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			jobs, err := b.(jobBackend).Jobs(a.ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, api.JobList{Jobs: jobs})
			}
			t := newTable(a.stdout)
			t.row("ID", "KIND", "STATE", "DATABASES", "DONE", "TOTAL", "FAILED", "UPDATED")
			for _, j := range jobs {
				var names []string
				for _, d := range j.Databases {
					names = append(names, d.Name)
				}
				t.row(j.ID, j.Kind, j.State, strings.Join(names, ","),
					strconv.FormatInt(j.Progress.Entries+j.Progress.Attachments, 10),
					strconv.FormatInt(j.Progress.Total, 10), strconv.FormatInt(j.Progress.FailedCount, 10),
					j.Updated.Format("2006-01-02 15:04:05"))
			}
			return t.flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *app) jobsShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a job with its progress (JSON)",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			j, err := b.(jobBackend).Job(a.ctx, args[0])
			if err != nil {
				return err
			}
			return writeJSON(a.stdout, j)
		},
	}
}

func (a *app) jobActionCmd(action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " ID",
		Short: short,
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			jb := b.(jobBackend)
			j, err := jb.JobAction(a.ctx, args[0], action)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "keyward: job %s: %s\n", j.ID, j.State)
			if action != "resume" {
				return nil
			}
			return a.follow(jb, j.ID, j.Progress.Total)
		},
	}
}

func (a *app) destroyCmd() *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "destroy DB VERSION",
		Short: "Delete a retired data key version for good",
		Long: `Delete the material of a retired data key version of database DB. It is
refused while the version is primary or active, or while any entry or
attachment uses it. Data on it can never be decrypted again, even from a
copy of the store, unless a key export holds it.`,
		Args: exactArgs("DB", "VERSION"),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			v, perr := strconv.ParseUint(args[1], 10, 32)
			if perr != nil || v == 0 {
				return usagef(cmd, "VERSION: want a key version number such as 1 (see `keyward status`)")
			}
			b, err := a.backend(cmd, needUnlocked)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			if err := a.confirm(yes, fmt.Sprintf("Destroy key version %d of database %s for good?", v, args[0])); err != nil {
				return err
			}
			if err := b.(jobBackend).DestroyKey(a.ctx, args[0], uint32(v)); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "keyward: key version %d of %s destroyed\n", v, args[0])
			return nil
		},
	}
	c.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return c
}

// follow runs (or watches) a job to its end with progress on standard
// error, then prints the summary on standard output.
func (a *app) follow(jb jobBackend, id string, total int64) error {
	progress := a.jsonProgress()
	var bar *progressbar.ProgressBar
	if isTerminal(a.stderr) {
		bar = progressbar.NewOptions64(max(total, 1), progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription("re-encrypting"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100e6))
		progress = func(p keyward.JobProgress) {
			bar.ChangeMax64(max(p.Total, p.Done, 1))
			_ = bar.Set64(p.Done)
		}
	}
	err := jb.Follow(a.ctx, id, progress)
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(a.stderr)
	}
	if errors.Is(err, a.ctx.Err()) && a.ctx.Err() != nil {
		return fmt.Errorf("interrupted: job %s stays resumable where it stopped: `keyward keys jobs resume %s` (or the next `keyward serve`)", id, id)
	}
	j, jerr := jb.Job(a.ctx, id)
	if jerr == nil {
		a.printSummary(j)
	}
	return err
}

// jsonProgress writes one JSON line per batch to standard error.
func (a *app) jsonProgress() func(keyward.JobProgress) {
	return func(p keyward.JobProgress) {
		b, _ := json.Marshal(p)
		fmt.Fprintf(a.stderr, "%s\n", b)
	}
}

func (a *app) printSummary(j *api.Job) {
	p := j.Progress
	fmt.Fprintf(a.stdout, "job %s: %s\n", j.ID, j.State)
	fmt.Fprintf(a.stdout, "  re-encrypted: %d entries, %d attachments; skipped (changed by clients): %d; passes: %d\n",
		p.Entries, p.Attachments, p.Skipped, p.Pass+1)
	for _, d := range j.Databases {
		fmt.Fprintf(a.stdout, "  %s: now on key version %d; old versions %v", d.Name, d.Target, d.Old)
		if j.State == "done" {
			fmt.Fprint(a.stdout, " retired (`keyward keys destroy` deletes them)")
		}
		fmt.Fprintln(a.stdout)
	}
	if p.FailedCount > 0 {
		fmt.Fprintf(a.stdout, "  %d rows do not decrypt: %s\n", p.FailedCount, strings.Join(p.Failed, ", "))
	}
	if j.Error != "" {
		fmt.Fprintf(a.stdout, "  error: %s\n", j.Error)
	}
	switch j.State {
	case "paused":
		fmt.Fprintf(a.stdout, "  resume with `keyward keys jobs resume %s`\n", j.ID)
	case "running":
		fmt.Fprintf(a.stdout, "  it goes on in another process (see `keyward keys jobs show %s`)\n", j.ID)
	}
}
