package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) auditCmd() *cobra.Command {
	return a.group("audit", "Show and check the hash-chained audit log",
		a.auditLsCmd(), a.auditVerifyCmd())
}

func (a *app) auditLsCmd() *cobra.Command {
	var (
		asJSON bool
		since  string
		after  int64
		limit  int
	)
	c := &cobra.Command{
		Use:   "ls",
		Short: "List audit records, oldest first",
		Long: `List the audit log: every key operation, slot and token change, maintenance
switch and unlock, with its time, actor ("token:ID" for an API request,
"local:USER" for the CLI on a data directory), operation, target and result
("ok" or an error code). Records never hold a secret. It works while
sealed.`,
		Example: `  keyward audit ls --since 2024-05-01T00:00:00Z
  keyward audit ls --json --limit 10000 > audit.json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			q := keyward.AuditQuery{After: after, Limit: limit}
			if limit < 1 || limit > 10000 {
				return usagef(cmd, "--limit must be from 1 to 10000")
			}
			if since != "" {
				t, perr := parseSince(since)
				if perr != nil {
					return usagef(cmd, "--since %q: want an RFC 3339 time (2024-05-01T00:00:00Z) or a duration ago (24h)", since)
				}
				q.Since = t
			}
			b, err := a.backend(cmd, allowSealed)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			recs, err := b.AuditRecords(a.ctx, q)
			if err != nil {
				return err
			}
			if asJSON {
				if recs == nil {
					recs = []keyward.AuditRecord{}
				}
				return writeJSON(a.stdout, recs)
			}
			t := newTable(a.stdout)
			t.row("SEQ", "TIME", "ACTOR", "OP", "TARGET", "RESULT")
			for _, r := range recs {
				t.row(i64(r.Seq), formatTime(r.Time), printable(r.Actor), printable(r.Op), orDash(printable(r.Target)), printable(r.Result))
			}
			return t.flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON (with each record's hash)")
	c.Flags().StringVar(&since, "since", "", "only records at or after `TIME` (RFC 3339, or a duration ago such as 24h)")
	c.Flags().Int64Var(&after, "after", 0, "only records after sequence number `SEQ`")
	c.Flags().IntVar(&limit, "limit", 100, "at most `N` records (up to 10000)")
	return c
}

func parseSince(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func (a *app) auditVerifyCmd() *cobra.Command {
	var anchor string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain; print its head",
		Long: `Walk the whole audit log and check that each record matches its hash and
follows the one before, and that the last record is the head stored beside
the log: an edited, inserted, reordered or deleted record (the newest ones
too) is reported, and the exit status is 1.

The hash is not keyed: someone who can write the store can rewrite every
record after a point and the head consistently. Against that, copy the
printed head to a place they cannot write, and later pass it as --anchor:
the log must still hold that record with that hash.`,
		Example: `  keyward audit verify
  keyward audit verify --anchor 1234:5f1c…`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			b, err := a.backend(cmd, allowSealed)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			v, err := b.VerifyAudit(a.ctx, anchor)
			if err != nil {
				return err
			}
			for _, p := range v.Problems {
				fmt.Fprintf(a.stdout, "problem: %s\n", printable(p))
			}
			fmt.Fprintf(a.stdout, "records: %d\nhead: %s\n", v.Records, orDash(v.Head))
			if !v.OK {
				return withHint(fmt.Errorf("the audit log was tampered with (%d problems)", len(v.Problems)),
					"keep the store as it is for investigation, and compare it with a backup")
			}
			fmt.Fprintln(a.stderr, "the audit chain is intact; keep the head elsewhere to check it later with --anchor")
			return nil
		},
	}
	c.Flags().StringVar(&anchor, "anchor", "", "a head `SEQ:HASH` printed earlier that the log must still hold")
	return c
}
