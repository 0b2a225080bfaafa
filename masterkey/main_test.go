package masterkey_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/masterkey/providertest"
	"github.com/keyward/keyward/secret"
)

// fakeCommandEnv makes the test binary act as the exec provider's command.
// TestMain sets it for the processes the tests start, so no shell scripts
// are needed and the tests run wherever the test binary runs. The first
// argument must also be fakeCommandArg: other copies of the test binary
// (go test -fuzz workers) inherit the variable too.
const (
	fakeCommandEnv = "KEYWARD_MASTERKEY_FAKE_COMMAND"
	fakeCommandArg = "fake-command"
)

// stdoutMarker is printed on stdout by failing fake commands; it must never
// show up in an error. stderrMarker is printed on their standard error; it
// must.
const (
	stdoutMarker = "STDOUT-MUST-NOT-LEAK-7d1f"
	stderrMarker = "helper says: vault unreachable"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeCommandEnv) == "1" && len(os.Args) > 1 && os.Args[1] == fakeCommandArg {
		os.Exit(fakeCommand(os.Args[2:]))
	}
	os.Setenv(fakeCommandEnv, "1")
	// Under -race each child would otherwise sleep 1s at exit.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	os.Exit(m.Run())
}

// fakeCommand behaves as the command named by args[0]:
//
//	raw HEX | b64 HEX | b64raw HEX | b64crlf HEX   print the key
//	print N           print N bytes of the marker on stdout, stderrMarker on stderr
//	fail              print the marker on stdout, "boom" on stderr, exit 1
//	bigstderr [N]     print N bytes (default 5000) on stderr, exit 2
//	sleep D           print both markers, then sleep for D
//	hold D            sleep for D, printing nothing
//	sleepchild D      start "hold D" holding our stdout, print both markers, then sleep for D
//	keychild HEX D    start "hold D" holding our stdout, print the key, exit
func fakeCommand(args []string) int {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	key, _ := hex.DecodeString(arg(1))
	switch arg(0) {
	case "raw":
		os.Stdout.Write(key)
	case "b64":
		fmt.Println(base64.StdEncoding.EncodeToString(key))
	case "b64raw":
		fmt.Print(base64.RawStdEncoding.EncodeToString(key))
	case "b64crlf":
		fmt.Print(base64.StdEncoding.EncodeToString(key) + "\r\n")
	case "print":
		n, _ := strconv.Atoi(arg(1))
		os.Stdout.WriteString(markerOutput(n))
		fmt.Fprintln(os.Stderr, stderrMarker)
	case "fail":
		fmt.Println(stdoutMarker)
		fmt.Fprintln(os.Stderr, "boom")
		return 1
	case "bigstderr":
		n, err := strconv.Atoi(arg(1))
		if err != nil {
			n = 5000
		}
		os.Stderr.WriteString(strings.Repeat("e", n))
		return 2
	case "sleep":
		fmt.Println(stdoutMarker)
		fmt.Fprintln(os.Stderr, stderrMarker)
		d, _ := time.ParseDuration(arg(1))
		time.Sleep(d)
	case "hold":
		d, _ := time.ParseDuration(arg(1))
		time.Sleep(d)
	case "sleepchild":
		startChild("hold", arg(1))
		fmt.Println(stdoutMarker)
		fmt.Fprintln(os.Stderr, stderrMarker)
		d, _ := time.ParseDuration(arg(1))
		time.Sleep(d)
	case "keychild":
		startChild("hold", arg(2))
		os.Stdout.Write(key)
	default:
		fmt.Fprintf(os.Stderr, "fake command: unknown mode %q\n", arg(0))
		return 3
	}
	return 0
}

// markerOutput is what "print N" writes on stdout.
func markerOutput(n int) string {
	return strings.Repeat(stdoutMarker, n/len(stdoutMarker)+1)[:n]
}

func startChild(args ...string) {
	exe, _ := os.Executable()
	c := exec.Command(exe, append([]string{fakeCommandArg}, args...)...)
	c.Stdout = os.Stdout
	if err := c.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
}

// fakeSpec returns an exec spec that runs the test binary as fakeCommand.
func fakeSpec(t *testing.T, args ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(exe, " \t\n") {
		t.Skipf("test binary path %q has white space, which exec specs cannot express", exe)
	}
	return "exec:" + exe + " " + fakeCommandArg + " " + strings.Join(args, " ")
}

// cheapKDF keeps env tests fast; production uses DefaultArgon2.
var cheapKDF = &masterkey.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

// mapEnv returns an Options.Getenv backed by m.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func mustNew(t *testing.T, spec string, opts masterkey.Options) masterkey.Provider {
	t.Helper()
	p, err := masterkey.New(spec, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", spec, err)
	}
	return p
}

var testAD = []byte("deployment=test/slot=1")

func mustWrap(t *testing.T, p masterkey.Provider, root *secret.Key) []byte {
	t.Helper()
	blob, err := p.Wrap(context.Background(), root, testAD)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	return blob
}

// wantErr checks that err matches sentinel and that its message contains
// every one of parts.
func wantErr(t *testing.T, what string, err, sentinel error, parts ...string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: error = %v; want %v", what, err, sentinel)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not contain %q", what, err, p)
		}
	}
}

func TestConformance(t *testing.T) {
	rk, err := masterkey.GenerateRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	kek := hex.EncodeToString(secret.Random(32).UnsafeBytes())
	providers := []struct {
		name string
		spec func(t *testing.T) (string, masterkey.Options)
	}{
		{"auto", func(t *testing.T) (string, masterkey.Options) {
			return "auto", masterkey.Options{DeploymentID: "conformance", KeyDir: filepath.Join(t.TempDir(), "keys")}
		}},
		{"file", func(t *testing.T) (string, masterkey.Options) {
			return "file:" + filepath.Join(t.TempDir(), "root.key"), masterkey.Options{}
		}},
		{"exec", func(t *testing.T) (string, masterkey.Options) {
			return fakeSpec(t, "raw", kek), masterkey.Options{}
		}},
		{"env", func(t *testing.T) (string, masterkey.Options) {
			return "env:KW_PASS", masterkey.Options{Getenv: mapEnv(map[string]string{"KW_PASS": "correct horse battery staple"}), KDF: cheapKDF}
		}},
		{"recovery", func(t *testing.T) (string, masterkey.Options) {
			return "recovery", masterkey.Options{RecoveryKey: func(context.Context) (string, error) { return rk, nil }}
		}},
	}
	for _, pp := range providers {
		t.Run(pp.name, func(t *testing.T) {
			t.Parallel()
			providertest.Run(t, func(t *testing.T) masterkey.Provider {
				spec, opts := pp.spec(t)
				return mustNew(t, spec, opts)
			})
		})
	}
}
