package masterkey

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors. Errors returned by this package wrap one of them (test
// with errors.Is) and carry a message that says what to do next.
var (
	// ErrUnknownProvider: the spec names a provider kind that is not
	// registered. The message lists the known kinds.
	ErrUnknownProvider = errors.New("masterkey: unknown provider")

	// ErrBadSpec: the spec or the Options given to New are invalid (a
	// missing path, variable or command; a bad deployment id; absurd KDF
	// parameters).
	ErrBadSpec = errors.New("masterkey: invalid provider spec or options")

	// ErrUnavailable: the key source is missing (variable unset or empty,
	// key file missing, no recovery key supplied). Another slot may work.
	ErrUnavailable = errors.New("masterkey: key source unavailable")

	// ErrWrongKey: authentication failed. The key or passphrase is wrong,
	// or the blob or its associated data were altered; the two cases are
	// deliberately indistinguishable.
	ErrWrongKey = errors.New("masterkey: wrong key or tampered slot")

	// ErrInsecure: the key source is exposed, e.g. a key file readable by
	// group or others. The message says how to fix it.
	ErrInsecure = errors.New("masterkey: insecure key source")

	// ErrFormat: the blob cannot be read: wrong length, unknown format
	// version, or parameters outside sane bounds.
	ErrFormat = errors.New("masterkey: unreadable slot blob")

	// ErrRecoveryTypo: a recovery key was mistyped (bad checksum, wrong
	// length or a character outside the alphabet).
	ErrRecoveryTypo = errors.New("masterkey: the recovery key has a typo: check each group")

	// ErrBadKeyFile: a key file does not hold exactly 32 bytes.
	ErrBadKeyFile = errors.New("masterkey: key file is not 32 bytes")
)

// Kinds of [ExecError], usable with errors.Is on any error that wraps an
// *ExecError.
var (
	// ErrExecNotFound: the command could not be started (not found, not
	// executable).
	ErrExecNotFound = errors.New("masterkey: exec: command could not be started")
	// ErrExecFailed: the command exited with a non-zero status or was
	// killed by a signal.
	ErrExecFailed = errors.New("masterkey: exec: command failed")
	// ErrExecOutput: the command succeeded but its standard output is not
	// a 32-byte key (raw or one base64 line).
	ErrExecOutput = errors.New("masterkey: exec: command printed no valid key")
	// ErrExecTimeout: the command did not finish within Options.ExecTimeout
	// and was killed together with its process group.
	ErrExecTimeout = errors.New("masterkey: exec: command timed out")
)

// ExecError reports a failure of the exec provider's command. Its message
// includes the command's standard error but never its standard output,
// which may hold a key.
type ExecError struct {
	// Cmd is the command line as given in the spec.
	Cmd string
	// Kind is one of ErrExecNotFound, ErrExecFailed, ErrExecOutput or
	// ErrExecTimeout; errors.Is(err, Kind) holds.
	Kind error
	// Reason says what failed: "not found", "exit status 1",
	// "timed out after 10s", "printed 31 bytes", ...
	Reason string
	// Stderr is the command's standard error, trimmed and cut to about
	// 1 KiB.
	Stderr string
	// Err is the underlying error, if any (never holds standard output).
	Err error
}

// Error says what failed, includes standard error and says what to do.
func (e *ExecError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "masterkey: exec %q: %s", e.Cmd, e.Reason)
	if e.Stderr != "" {
		fmt.Fprintf(&b, "; stderr: %s", e.Stderr)
	}
	b.WriteString("; ")
	b.WriteString(execHint(e.Kind))
	return b.String()
}

// Unwrap exposes Kind and Err to errors.Is and errors.As.
func (e *ExecError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.Kind, e.Err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func execHint(kind error) string {
	switch kind {
	case ErrExecNotFound:
		return "check the command in the slot spec: it runs without a shell, so give an absolute path or put it on PATH, and make it executable"
	case ErrExecFailed:
		return "run the command by hand to see why it fails"
	case ErrExecOutput:
		return "the command must print exactly 32 raw bytes, or one base64 line of a 32-byte key (e.g. head -c 32 /dev/urandom | base64)"
	case ErrExecTimeout:
		return "check why it hangs (a prompt waiting for input?), or raise the exec timeout"
	}
	return "run the command by hand to check it prints the key"
}

// stderrLimit is how much of a command's standard error an ExecError keeps.
const stderrLimit = 1024

// cleanStderr trims s, cuts it to about stderrLimit bytes on a rune
// boundary and replaces control characters, so that a command cannot
// forge log lines or move the terminal cursor through our error message.
func cleanStderr(s []byte, truncated bool) string {
	if len(s) > stderrLimit {
		s, truncated = s[:stderrLimit], true
	}
	for i := 0; truncated && i < utf8.UTFMax-1 && len(s) > 0; i++ {
		// Drop a rune the limit cut in half.
		if r, size := utf8.DecodeLastRune(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	str := strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return ' '
		case unicode.IsControl(r):
			return '?'
		}
		return r
	}, strings.TrimSpace(strings.ToValidUTF8(string(s), "\uFFFD")))
	if truncated {
		str += " …(truncated)"
	}
	return str
}

// kindError is an error with its own full message that also matches a
// sentinel, so that messages read naturally ("masterkey: key file /x is
// readable by ...") instead of stacking the sentinel's text.
type kindError struct {
	kind error
	err  error // message, and any %w cause
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// errf returns an error whose message is format applied to args and which
// matches kind (and any %w operand) with errors.Is.
func errf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}
