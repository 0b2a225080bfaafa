package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagHelp walks every command and checks the help of its flags: a
// boolean flag takes no value, so a back-quoted word in its usage (which
// cobra shows as the value's name) would print as if it needed one; every
// flag has a usage text.
func TestFlagHelp(t *testing.T) {
	root := (&app{}).newRootCmd()
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			seen++
			name, usage := pflag.UnquoteUsage(f)
			if strings.TrimSpace(usage) == "" {
				t.Errorf("%s --%s has no usage text", c.CommandPath(), f.Name)
			}
			if f.Value.Type() == "bool" && name != "" {
				t.Errorf("%s --%s is a boolean flag but its help shows a value %q: remove the back quotes from its usage", c.CommandPath(), f.Name, name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if seen < 50 {
		t.Fatalf("saw only %d flags: the walk missed commands", seen)
	}
}
