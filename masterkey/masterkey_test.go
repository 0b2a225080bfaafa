package masterkey_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
)

var parseTests = []struct {
	spec, kind, arg string
	err             error
}{
	{"auto", "auto", "", nil},
	{"file:/etc/keyward/root.key", "file", "/etc/keyward/root.key", nil},
	{"file:C:\\keys\\a:b", "file", "C:\\keys\\a:b", nil},
	{"exec:/usr/bin/get-key --id a:b", "exec", "/usr/bin/get-key --id a:b", nil},
	{"env:", "env", "", nil},
	{"machine-id", "machine-id", "", nil},
	{"", "", "", masterkey.ErrBadSpec},
	{":x", "", "", masterkey.ErrBadSpec},
	{"File:/x", "", "", masterkey.ErrBadSpec},
	{" auto", "", "", masterkey.ErrBadSpec},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		kind, arg, err := masterkey.Parse(tt.spec)
		if kind != tt.kind || arg != tt.arg || !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q, %v", tt.spec, kind, arg, err, tt.kind, tt.arg, tt.err)
		}
	}
}

func TestKinds(t *testing.T) {
	kinds := masterkey.Kinds()
	for _, k := range []string{"auto", "env", "exec", "file", "recovery"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("Kinds() = %v, missing %q", kinds, k)
		}
	}
	if !slices.IsSorted(kinds) {
		t.Errorf("Kinds() = %v, not sorted", kinds)
	}
}

func TestNewUnknown(t *testing.T) {
	_, err := masterkey.New("tpm2:/dev/tpmrm0", masterkey.Options{})
	wantErr(t, "New(tpm2)", err, masterkey.ErrUnknownProvider, `"tpm2"`, "known providers: "+strings.Join(masterkey.Kinds(), ", "))
	_, err = masterkey.New("", masterkey.Options{})
	wantErr(t, "New(\"\")", err, masterkey.ErrBadSpec, "auto")
}

func panics(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = r.(string)
		}
	}()
	f()
	return ""
}

// optsProvider records the Options New passed to its factory.
type optsProvider struct{ opts masterkey.Options }

func (optsProvider) Wrap(context.Context, *secret.Key, []byte) ([]byte, error) { return nil, nil }
func (optsProvider) Unwrap(context.Context, []byte, []byte) (*secret.Key, error) {
	return nil, nil
}

func init() {
	masterkey.Register("test-opts", func(arg string, opts masterkey.Options) (masterkey.Provider, error) {
		return optsProvider{opts}, nil
	})
}

func TestRegister(t *testing.T) {
	f := func(string, masterkey.Options) (masterkey.Provider, error) { return nil, nil }
	for _, tt := range []struct {
		kind string
		f    masterkey.Factory
		want string
	}{
		{"file", f, "twice"},
		{"", f, "invalid kind"},
		{"a:b", f, "invalid kind"},
		{"Upper", f, "invalid kind"},
		{"test-nil", nil, "nil factory"},
	} {
		if msg := panics(func() { masterkey.Register(tt.kind, tt.f) }); !strings.Contains(msg, tt.want) {
			t.Errorf("Register(%q) panic = %q; want one containing %q", tt.kind, msg, tt.want)
		}
	}
	if slices.Contains(masterkey.Kinds(), "test-nil") {
		t.Error("a refused Register changed the registry")
	}
}

func TestNewFillsDefaults(t *testing.T) {
	kdf := &masterkey.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}
	for _, tt := range []struct {
		in       masterkey.Options
		timeout  time.Duration
		wantKDF  masterkey.Argon2Params
		kdfAlias *masterkey.Argon2Params
	}{
		{masterkey.Options{}, 10 * time.Second, masterkey.DefaultArgon2, &masterkey.DefaultArgon2},
		{masterkey.Options{ExecTimeout: time.Second, KDF: kdf}, time.Second, *kdf, kdf},
	} {
		p, err := masterkey.New("test-opts", tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got := p.(optsProvider).opts
		if got.Getenv == nil || got.ExecTimeout != tt.timeout || got.KDF == nil || *got.KDF != tt.wantKDF {
			t.Errorf("factory got Getenv %v, ExecTimeout %v, KDF %+v; want os.LookupEnv, %v, %+v",
				got.Getenv != nil, got.ExecTimeout, got.KDF, tt.timeout, tt.wantKDF)
		}
		if got.KDF == tt.kdfAlias {
			t.Error("factory got the caller's (or the package's) Argon2Params, not a copy")
		}
	}
}
