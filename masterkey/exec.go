package masterkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/keyward/keyward/secret"
)

func init() { Register("exec", newExecProvider) }

const (
	// execStdoutLimit caps how much of the command's standard output is
	// kept; more is read and discarded, and is an error.
	execStdoutLimit = 4096
	// execWaitDelay is how long to wait, once the command has exited or been
	// killed, for children that still hold its output pipes.
	execWaitDelay = time.Second
)

// execProvider runs a command that prints the 32-byte KEK.
type execProvider struct {
	line    string // the command line, for messages
	name    string
	args    []string
	timeout time.Duration
}

var _ Provider = (*execProvider)(nil)

func newExecProvider(arg string, opts Options) (Provider, error) {
	fields := strings.Fields(arg)
	if len(fields) == 0 {
		return nil, errf(ErrBadSpec,
			"masterkey: exec needs a command: write exec:CMD ARGS..., e.g. exec:/usr/local/bin/get-key --id prod (it runs without a shell; arguments are split at white space, without quoting)")
	}
	return &execProvider{
		line:    strings.Join(fields, " "),
		name:    fields[0],
		args:    fields[1:],
		timeout: opts.ExecTimeout,
	}, nil
}

// Wrap runs the command and wraps root under the key it prints.
func (p *execProvider) Wrap(ctx context.Context, root *secret.Key, ad []byte) ([]byte, error) {
	if err := ctxErr(ctx, "exec"); err != nil {
		return nil, err
	}
	kek, err := p.run(ctx)
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	return sealKEK("exec", kek, root, ad)
}

// Unwrap runs the command and opens blob with the key it prints.
func (p *execProvider) Unwrap(ctx context.Context, blob, ad []byte) (*secret.Key, error) {
	if err := ctxErr(ctx, "exec"); err != nil {
		return nil, err
	}
	if err := checkKEKBlob("exec", blob); err != nil {
		return nil, err
	}
	kek, err := p.run(ctx)
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	root, err := openKEK("exec", kek, blob, ad)
	if errors.Is(err, ErrWrongKey) {
		return nil, errf(ErrWrongKey,
			"masterkey: the key printed by exec %q does not open this slot (the command returned another key, or the slot was altered or copied from another deployment); check the command, or unlock with the recovery key", p.line)
	}
	return root, err
}

// run starts the command without a shell, reads its standard output
// straight into a buffer that is wiped afterwards (no intermediate copies),
// and kills its process group when the timeout expires or ctx is done.
func (p *execProvider) run(ctx context.Context) (*secret.Key, error) {
	tctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, p.name, p.args...)
	killProcessGroupOnCancel(cmd)
	cmd.WaitDelay = execWaitDelay
	stderr := &capWriter{limit: stderrLimit}
	cmd.Stderr = stderr
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("masterkey: exec %q: %w", p.line, err)
	}
	defer r.Close()
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, p.startFailure(ctx, tctx, err, stderr)
	}

	out := make([]byte, execStdoutLimit)
	defer clear(out)
	type result struct {
		n    int
		over bool
	}
	done := make(chan result, 1)
	go func() {
		n, over := readCapped(r, out)
		done <- result{n, over}
	}()
	waitErr := cmd.Wait()
	var res result
	select {
	case res = <-done:
	case <-time.After(execWaitDelay): // a child of the command holds stdout
		r.Close()
		res = <-done
	}
	if waitErr != nil && !errors.Is(waitErr, exec.ErrWaitDelay) || ctx.Err() != nil {
		return nil, p.waitFailure(ctx, tctx, waitErr, stderr)
	}
	if res.over {
		return nil, p.execError(ErrExecOutput, fmt.Sprintf("printed more than %d bytes", execStdoutLimit), stderr, nil)
	}
	key, reason := parseExecOutput(out[:res.n])
	if key == nil {
		return nil, p.execError(ErrExecOutput, reason, stderr, nil)
	}
	return key, nil
}

// startFailure classifies an error from Start.
func (p *execProvider) startFailure(ctx, tctx context.Context, err error, stderr *capWriter) error {
	if ctx.Err() != nil || tctx.Err() != nil {
		return p.waitFailure(ctx, tctx, err, stderr)
	}
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return p.execError(ErrExecNotFound, "not found", stderr, err)
	case errors.Is(err, exec.ErrDot):
		return p.execError(ErrExecNotFound, "found only relative to the current directory, which is not searched", stderr, err)
	case errors.Is(err, fs.ErrPermission):
		return p.execError(ErrExecNotFound, "not executable (permission denied)", stderr, err)
	}
	return p.execError(ErrExecNotFound, "cannot start: "+err.Error(), stderr, err)
}

// waitFailure classifies an error from Wait, or a cancelled ctx.
func (p *execProvider) waitFailure(ctx, tctx context.Context, err error, stderr *capWriter) error {
	if ctx.Err() != nil {
		return fmt.Errorf("masterkey: exec %q: %w", p.line, ctx.Err())
	}
	if tctx.Err() != nil {
		return p.execError(ErrExecTimeout, "timed out after "+p.timeout.String(), stderr, tctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return p.execError(ErrExecFailed, exitErr.ProcessState.String(), stderr, err)
	}
	return p.execError(ErrExecFailed, err.Error(), stderr, err)
}

func (p *execProvider) execError(kind error, reason string, stderr *capWriter, err error) *ExecError {
	return &ExecError{Cmd: p.line, Kind: kind, Reason: reason, Stderr: cleanStderr(stderr.buf, stderr.truncated), Err: err}
}

// parseExecOutput accepts exactly 32 raw bytes, or one line of standard
// base64 (padded or not, an optional trailing newline) that decodes to 32
// bytes. It returns the key, or why out is not one; the reason never
// quotes out.
func parseExecOutput(out []byte) (*secret.Key, string) {
	if len(out) == keySize {
		return secret.New(out), ""
	}
	if len(out) == 0 {
		return nil, "printed nothing"
	}
	line := bytes.TrimSuffix(out, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if !bytes.ContainsAny(line, "\r\n") {
		dst := make([]byte, base64.RawStdEncoding.DecodedLen(len(line))) // ≥ StdEncoding's
		defer clear(dst)
		for _, enc := range []*base64.Encoding{base64.StdEncoding.Strict(), base64.RawStdEncoding.Strict()} {
			n, err := enc.Decode(dst, line)
			if err == nil && n == keySize {
				return secret.New(dst[:n]), ""
			}
			if err == nil {
				return nil, fmt.Sprintf("printed a base64 line that decodes to %d bytes", n)
			}
		}
	}
	return nil, fmt.Sprintf("printed %d bytes", len(out))
}

// readCapped reads r until EOF or error into buf, then keeps draining
// (and discarding) so the command never blocks on a full pipe. over
// reports that more than len(buf) bytes were written.
func readCapped(r io.Reader, buf []byte) (n int, over bool) {
	var scratch [512]byte
	defer clear(scratch[:])
	for {
		dst := scratch[:]
		if n < len(buf) {
			dst = buf[n:]
		}
		m, err := r.Read(dst)
		if n < len(buf) {
			n += m
		} else if m > 0 {
			over = true
		}
		if err != nil {
			return n, over
		}
	}
}

// capWriter keeps the first limit bytes written to it and notes the rest.
type capWriter struct {
	buf       []byte
	limit     int
	truncated bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	room := w.limit - len(w.buf)
	if len(p) > room {
		w.truncated = true
		w.buf = append(w.buf, p[:max(room, 0)]...)
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}
