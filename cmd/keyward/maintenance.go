package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/api"
)

func (a *app) maintenanceCmd() *cobra.Command {
	return a.group("maintenance", "Switch data requests off (and on) for every server of the deployment",
		a.maintenanceSetCmd(true), a.maintenanceSetCmd(false), a.maintenanceStatusCmd())
}

func (a *app) maintenanceSetCmd(on bool) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "off",
		Short: "End maintenance: servers answer data requests again",
		Args:  exactArgs(),
	}
	if on {
		c.Use = "on"
		c.Short = "Start maintenance: servers answer data requests with 503 and Retry-After"
		c.Long = `Start maintenance. The switch lives in the store, so it holds for every server
sharing it and survives restarts. While it is on, servers answer data
requests (entries, attachments, databases) with 503 and Retry-After; health,
status, tokens and admin operations go on. --reason is shown to clients.`
		c.Flags().StringVar(&reason, "reason", "", "why, shown to clients (e.g. \"key rotation until 14:00\")")
	}
	c.RunE = func(cmd *cobra.Command, _ []string) (err error) {
		b, err := a.backend(cmd, needUnlocked)
		if err != nil {
			return err
		}
		defer closeBackend(b, &err)
		m, err := b.SetMaintenance(a.ctx, on, reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "maintenance: %s\n", maintenanceText(api.Maintenance(m)))
		return nil
	}
	return c
}

func (a *app) maintenanceStatusCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status",
		Short: "Show whether maintenance is on, since when and why",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			b, err := a.backend(cmd, allowSealed)
			if err != nil {
				return err
			}
			defer closeBackend(b, &err)
			m, err := b.Maintenance(a.ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, m)
			}
			fmt.Fprintf(a.stdout, "maintenance: %s\n", maintenanceText(api.Maintenance(m)))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: enabled, reason, since")
	return c
}
