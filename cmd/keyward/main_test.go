package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/store/sqlite"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"keyward": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
		},
	})
}

// TestScript runs testdata/script/*.txtar. Each script sets KEYWARD_DATA
// and KEYWARD_KEY_DIR itself.
func TestScript(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script", false))
}

// TestBothModes runs testdata/both/*.txtar twice: on a data directory, and
// in client mode against a fake server. The same assertions hold in both;
// [remote] and [!remote] mark the few lines that differ.
func TestBothModes(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		p := scriptParams("testdata/both", false)
		p.Setup = func(env *testscript.Env) error {
			env.Setenv("KEYWARD_DATA", env.WorkDir+"/data")
			env.Setenv("KEYWARD_KEY_DIR", env.WorkDir+"/keys")
			return nil
		}
		testscript.Run(t, p)
	})
	t.Run("remote", func(t *testing.T) {
		testscript.Run(t, scriptParams("testdata/both", true))
	})
}

// TestRemoteScript runs testdata/remote/*.txtar in client mode against a
// fake server (see setupRemote).
func TestRemoteScript(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/remote", true))
}

func scriptParams(dir string, remote bool) testscript.Params {
	p := testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":   cmdExits,
			"genfile": cmdGenfile,
			"grab":    cmdGrab,
			"perm":    cmdPerm,
			"envfile": cmdEnvfile,
		},
		Condition: func(cond string) (bool, error) {
			if cond == "remote" {
				return remote, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	}
	if remote {
		p.Setup = setupRemote
		p.Cmds["fakeseal"] = cmdFakeSeal
	} else {
		p.Setup = func(env *testscript.Env) error {
			env.Setenv("SCHEMA_VERSION", strconv.Itoa(sqlite.SchemaVersion))
			return nil
		}
	}
	return p
}

// cmdExits runs a program and checks its exact exit status:
//
//	exits CODE PROG [ARGS...]
//
// Its standard output and error are kept for stdout/stderr as with exec.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdGenfile writes SIZE deterministic pseudo-random bytes to FILE:
//
//	genfile FILE SIZE
func cmdGenfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: genfile FILE SIZE")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	r := rand.NewChaCha8([32]byte{'k', 'e', 'y', 'w', 'a', 'r', 'd'})
	b := make([]byte, n)
	_, _ = r.Read(b)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
}

// cmdGrab writes the first submatch of REGEXP in the last command's
// standard output (or error) to FILE, mode 0600:
//
//	grab stdout|stderr REGEXP FILE
func cmdGrab(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 || (args[0] != "stdout" && args[0] != "stderr") {
		ts.Fatalf("usage: grab stdout|stderr REGEXP FILE")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[0]))
	if len(m) < 2 {
		ts.Fatalf("no match for %q (with a submatch) in %s", args[1], args[0])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(m[1]+"\n"), 0o600))
}

// cmdEnvfile sets VAR to the content of FILE without its trailing
// newline:
//
//	envfile VAR FILE
func cmdEnvfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: envfile VAR FILE")
	}
	ts.Setenv(args[0], strings.TrimRight(ts.ReadFile(args[1]), "\n"))
}

// cmdPerm checks a file's permission bits:
//
//	perm FILE MODE
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fi.Mode().Perm(); got != os.FileMode(want) {
		ts.Fatalf("%s has mode %04o, want %04o", args[0], got, want)
	}
}
