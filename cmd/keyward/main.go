// Command keyward keeps sensitive data encrypted at rest and manages the keys
// that protect it. Run `keyward --help` for the commands.
//
// Exit status: 0 on success, 1 on an error, 2 when the command line is wrong
// (unknown command or flag, wrong number of arguments, an invalid name or
// value). Errors go to standard error as "keyward: <message>". Data (entry
// fields, listings, status, attachments) goes to standard output; progress
// and confirmations ("stored app/db revision 2 (key version 1)") go to
// standard error, so standard output can be piped safely.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/secret"
)

func main() {
	if crypt.InsecurePassthrough {
		fmt.Fprintln(os.Stderr, "keyward: this binary was built with the keyward_insecure_passthrough tag, which stores data unencrypted (benchmarks only); refusing to run: rebuild without -tags keyward_insecure_passthrough")
		os.Exit(1)
	}
	// Keys must not end up in a core dump or be readable by a debugger.
	if err := secret.HardenProcess(); err != nil {
		fmt.Fprintf(os.Stderr, "keyward: cannot disable core dumps: %v\n", err)
		os.Exit(1)
	}
	// Ctrl-C or SIGTERM cancels the command: an upload in progress is
	// discarded, nothing half-written becomes visible.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}
