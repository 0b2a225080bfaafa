package masterkey_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
)

// execErr runs Unwrap of a valid blob with a provider made from args and
// returns its *ExecError, failing if the error is not one.
func execErr(t *testing.T, opts masterkey.Options, args ...string) (*masterkey.ExecError, error) {
	t.Helper()
	spec := fakeSpec(t, args...)
	if strings.HasPrefix(args[0], "/") { // a command of its own, not the fake one
		spec = "exec:" + strings.Join(args, " ")
	}
	p := mustNew(t, spec, opts)
	_, err := p.Wrap(context.Background(), secret.Random(32), testAD)
	var ee *masterkey.ExecError
	if !errors.As(err, &ee) {
		t.Fatalf("Wrap with %v: error = %v; want an *ExecError", args, err)
	}
	if strings.Contains(err.Error(), stdoutMarker) {
		t.Errorf("error shows the command's stdout: %q", err)
	}
	return ee, err
}

func TestExecNotFound(t *testing.T) {
	for _, cmd := range []string{"/nonexistent/keyward-get-key", "keyward-no-such-command-4f2a"} {
		p := mustNew(t, "exec:"+cmd+" --id prod", masterkey.Options{})
		_, err := p.Wrap(context.Background(), secret.Random(32), testAD)
		wantErr(t, cmd, err, masterkey.ErrExecNotFound, cmd, "not found", "absolute path")
		var ee *masterkey.ExecError
		if !errors.As(err, &ee) || ee.Reason != "not found" || ee.Cmd != cmd+" --id prod" {
			t.Errorf("%s: ExecError = %+v; want Reason \"not found\", Cmd %q", cmd, ee, cmd+" --id prod")
		}
	}
}

func TestExecNotExecutable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no execute bit on Windows")
	}
	path := filepath.Join(t.TempDir(), "get-key")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := mustNew(t, "exec:"+path, masterkey.Options{}).Wrap(context.Background(), secret.Random(32), testAD)
	wantErr(t, "Wrap", err, masterkey.ErrExecNotFound, path, "not executable", "make it executable")
}

func TestExecFailure(t *testing.T) {
	ee, err := execErr(t, masterkey.Options{}, "fail")
	wantErr(t, "fail", err, masterkey.ErrExecFailed, "exit status 1", "stderr: boom", "run the command by hand")
	if ee.Reason != "exit status 1" || ee.Stderr != "boom" {
		t.Errorf("ExecError = Reason %q, Stderr %q; want \"exit status 1\", \"boom\"", ee.Reason, ee.Stderr)
	}
	for _, other := range []error{masterkey.ErrExecNotFound, masterkey.ErrExecOutput, masterkey.ErrExecTimeout} {
		if errors.Is(err, other) {
			t.Errorf("a failing command's error also matches %v", other)
		}
	}
}

func TestExecStderrIsCut(t *testing.T) {
	ee, err := execErr(t, masterkey.Options{}, "bigstderr")
	wantErr(t, "bigstderr", err, masterkey.ErrExecFailed, "exit status 2", "(truncated)")
	if len(ee.Stderr) > 1100 {
		t.Errorf("Stderr holds %d bytes; want about 1 KiB at most", len(ee.Stderr))
	}
}

// A command that floods its standard error costs neither memory nor a long
// message: what is not kept is read and dropped as it arrives.
func TestExecStderrFloodIsBounded(t *testing.T) {
	const flood = 16 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ee, err := execErr(t, masterkey.Options{}, "bigstderr", strconv.Itoa(flood))
	runtime.ReadMemStats(&after)
	wantErr(t, "bigstderr", err, masterkey.ErrExecFailed, "exit status 2", "(truncated)")
	if len(ee.Stderr) > 1100 || len(err.Error()) > 2048 {
		t.Errorf("after %d MiB on stderr: Stderr holds %d bytes, the message %d; want about 1 KiB", flood>>20, len(ee.Stderr), len(err.Error()))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("running a command that printed %d MiB on stderr allocated %d KiB; want well under 2 MiB", flood>>20, alloc>>10)
	}
}

// checkNoStdout fails if err's message holds out, the command's standard
// output, raw, in hex or in base64 (with or without its final newline).
func checkNoStdout(t *testing.T, err error, out string) {
	t.Helper()
	msg := err.Error()
	for _, o := range []string{out, strings.TrimRight(out, "\r\n")} {
		if len(o) < 8 { // too short to tell from the rest of a message
			continue
		}
		b := []byte(o)
		forms := map[string]string{
			"raw":        o,
			"hex":        hex.EncodeToString(b),
			"HEX":        strings.ToUpper(hex.EncodeToString(b)),
			"base64":     base64.StdEncoding.EncodeToString(b),
			"base64 raw": base64.RawStdEncoding.EncodeToString(b),
			"base64 url": base64.RawURLEncoding.EncodeToString(b),
		}
		for name, form := range forms {
			if strings.Contains(msg, form) {
				t.Errorf("the error shows the command's stdout (%s): %q", name, msg)
			}
		}
	}
}

func TestExecTimeout(t *testing.T) {
	for _, mode := range []string{"sleep", "sleepchild"} { // sleepchild: a child holds stdout
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			ee, err := execErr(t, masterkey.Options{ExecTimeout: 300 * time.Millisecond}, mode, "20s")
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("a timed-out command took %v to give up", d)
			}
			wantErr(t, mode, err, masterkey.ErrExecTimeout, "timed out after 300ms", "stderr: "+stderrMarker, "raise the exec timeout")
			if !errors.Is(err, context.DeadlineExceeded) || ee.Reason != "timed out after 300ms" || ee.Stderr != stderrMarker {
				t.Errorf("ExecError = %+v; want Reason \"timed out after 300ms\" wrapping context.DeadlineExceeded, Stderr %q", ee, stderrMarker)
			}
			checkNoStdout(t, err, stdoutMarker+"\n")
		})
	}
}

func TestExecCancel(t *testing.T) {
	p := mustNew(t, fakeSpec(t, "sleepchild", "20s"), masterkey.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Wrap(ctx, secret.Random(32), testAD)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, masterkey.ErrExecTimeout) {
		t.Errorf("Wrap with the caller's deadline = %v; want context.DeadlineExceeded, not ErrExecTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a cancelled command took %v to give up", d)
	}
}

var badOutputs = []struct {
	args   []string
	reason string
	stdout string // what the command prints on standard output
	stderr string // and on standard error, as ExecError.Stderr shows it
}{
	{[]string{"print", "31"}, "printed 31 bytes", markerOutput(31), stderrMarker},
	{[]string{"print", "33"}, "printed 33 bytes", markerOutput(33), stderrMarker},
	{[]string{"print", "0"}, "printed nothing", "", stderrMarker},
	{[]string{"print", "5000"}, "printed more than 4096 bytes", markerOutput(5000), stderrMarker},
	{[]string{"b64", "00112233445566778899aabbccddeeff"}, "printed a base64 line that decodes to 16 bytes", "ABEiM0RVZneImaq7zN3u/w==\n", ""},
	{[]string{"b64", strings.Repeat("00", 33)}, "printed a base64 line that decodes to 33 bytes", strings.Repeat("AAAA", 11) + "\n", ""},
}

func TestExecBadOutput(t *testing.T) {
	for _, tt := range badOutputs {
		what := strings.Join(tt.args, " ")
		ee, err := execErr(t, masterkey.Options{}, tt.args...)
		wantErr(t, what, err, masterkey.ErrExecOutput, tt.reason, "32 raw bytes", "base64")
		if ee.Reason != tt.reason || ee.Stderr != tt.stderr {
			t.Errorf("%s: Reason, Stderr = %q, %q; want %q, %q", what, ee.Reason, ee.Stderr, tt.reason, tt.stderr)
		}
		if tt.stderr != "" && !strings.Contains(err.Error(), "stderr: "+tt.stderr) {
			t.Errorf("%s: error %q does not show the command's stderr %q", what, err, tt.stderr)
		}
		checkNoStdout(t, err, tt.stdout)
	}
}

// The same key in every accepted encoding opens the same blob.
func TestExecOutputEncodings(t *testing.T) {
	kek := hex.EncodeToString(secret.Random(32).UnsafeBytes())
	root := secret.Random(32)
	blob := mustWrap(t, mustNew(t, fakeSpec(t, "raw", kek), masterkey.Options{}), root)
	for _, mode := range []string{"raw", "b64", "b64raw", "b64crlf", "keychild"} {
		p := mustNew(t, fakeSpec(t, mode, kek, "1500ms"), masterkey.Options{})
		got, err := p.Unwrap(context.Background(), blob, testAD)
		if err != nil || !got.Equal(root) {
			t.Errorf("%s: Unwrap: %v", mode, err)
		}
	}
}

func TestExecWrongKey(t *testing.T) {
	blob := mustWrap(t, mustNew(t, fakeSpec(t, "raw", strings.Repeat("11", 32)), masterkey.Options{}), secret.Random(32))
	p := mustNew(t, fakeSpec(t, "raw", strings.Repeat("22", 32)), masterkey.Options{})
	_, err := p.Unwrap(context.Background(), blob, testAD)
	wantErr(t, "Unwrap", err, masterkey.ErrWrongKey, "the key printed by exec", "recovery key")
}

func TestExecSpec(t *testing.T) {
	for _, spec := range []string{"exec:", "exec:  \t "} {
		_, err := masterkey.New(spec, masterkey.Options{})
		wantErr(t, "New("+spec+")", err, masterkey.ErrBadSpec, "exec:CMD ARGS", "without a shell")
	}
	// Arguments are split at runs of white space.
	kek := hex.EncodeToString(secret.Random(32).UnsafeBytes())
	spec := strings.Replace(fakeSpec(t, "raw", kek), " ", "   \t", -1) + "  "
	root := secret.Random(32)
	p := mustNew(t, spec, masterkey.Options{})
	if got, err := p.Unwrap(context.Background(), mustWrap(t, p, root), testAD); err != nil || !got.Equal(root) {
		t.Fatalf("Unwrap with a spec full of white space: %v", err)
	}
}

func TestCleanStderr(t *testing.T) {
	long := strings.Repeat("a", 1023) + "é" + strings.Repeat("b", 10) // é straddles the 1 KiB cut
	tests := []struct{ in, want string }{
		{"  boom\n", "boom"},
		{"line 1\nline 2\ttab", "line 1 line 2 tab"},
		{"\x1b[2Jcleared\r", "?[2Jcleared"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{long, strings.Repeat("a", 1023) + " …(truncated)"},
	}
	for _, tt := range tests {
		if got := masterkey.CleanStderr([]byte(tt.in), false); got != tt.want {
			t.Errorf("cleanStderr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
