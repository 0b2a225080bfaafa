package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward"
)

func (a *app) initCmd() *cobra.Command {
	var specs []string
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a new deployment in the data directory",
		Long: `Create a new deployment in the data directory: a random root key, one slot per
--master-key (tried in the order given), and a recovery slot.

Provider specs: auto (a random key file in --key-dir, the default), file:PATH,
exec:CMD [ARGS], env:VAR (a passphrase in VAR), and the others listed in the
design. The recovery key and the first admin API token are printed once,
on standard output: store them offline. It unlocks the data with --recovery-key-file when every other slot
is lost.

An initialised data directory is left alone (exit status 1).`,
		Example: `  keyward init
  keyward init --master-key auto --master-key env:KEYWARD_PASSPHRASE`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.localSettings(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("master-key") {
				for _, spec := range specs {
					if strings.TrimSpace(spec) == "" {
						return usagef(cmd, "--master-key: empty provider spec")
					}
				}
				s.MasterKeys, s.from["master_key"] = specs, "flag --master-key"
			}
			res, err := keyward.Init(a.ctx, a.baseConfig(s))
			if err != nil && !errors.Is(err, keyward.ErrAlreadyInitialized) {
				return withHint(err, "nothing was initialised: fix this and run `keyward init` again")
			}
			if err != nil {
				return err
			}
			a.printInit(s, res)
			return nil
		},
	}
	c.Flags().StringArrayVar(&specs, "master-key", nil,
		"provider `SPEC` of a slot to create; repeat for several (env KEYWARD_MASTER_KEY, one per line; default auto)")
	return c
}

// printInit shows the deployment and, once, the recovery key and the first
// admin token. Everything goes to standard output, so the secrets and their
// warnings stay together.
func (a *app) printInit(s *settings, res keyward.InitResult) {
	w := a.stdout
	fmt.Fprintf(w, "initialised keyward in %s\n", s.DataDir)
	fmt.Fprintf(w, "deployment id: %s\n", res.DeploymentID)
	fmt.Fprintf(w, "slots: %s, recovery\n", strings.Join(s.MasterKeys, ", "))
	fmt.Fprintln(w)
	printRecoveryKey(w, res.RecoveryKey)
	if res.AdminToken == "" {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  ADMIN API TOKEN: shown only now, stored only as a digest")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "admin token: %s\n", res.AdminToken)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  It does everything through `keyward serve`'s API. Put it in a file")
	fmt.Fprintln(w, "  (chmod 600) for --token-file, make narrower tokens with")
	fmt.Fprintln(w, "  `keyward token create --role writer --db NAME`, and revoke this one")
	fmt.Fprintln(w, "  with `keyward token rm ID` (see `keyward token ls`) if you do not need it.")
	fmt.Fprintln(w, "**********************************************************************")
}

// printRecoveryKey shows a new recovery key, once, with what to do with it.
func printRecoveryKey(w io.Writer, rk string) {
	fmt.Fprintln(w, "**********************************************************************")
	fmt.Fprintln(w, "  RECOVERY KEY: shown only now, stored nowhere")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "recovery key: %s\n", rk)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  Write it down and keep it offline (paper in a safe, a password")
	fmt.Fprintln(w, "  manager on another machine). It unlocks this data when every other")
	fmt.Fprintln(w, "  slot is lost: type it at the prompt of")
	fmt.Fprintln(w, "    keyward --recovery-key-file - status")
	fmt.Fprintln(w, "  or put it in a file and give --recovery-key-file FILE")
	fmt.Fprintln(w, "**********************************************************************")
}
