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
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}
