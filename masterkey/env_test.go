package masterkey_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
)

func envOpts(env map[string]string, kdf *masterkey.Argon2Params) masterkey.Options {
	return masterkey.Options{Getenv: mapEnv(env), KDF: kdf}
}

func TestDefaultArgon2(t *testing.T) {
	want := masterkey.Argon2Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}
	if masterkey.DefaultArgon2 != want {
		t.Errorf("DefaultArgon2 = %+v, want %+v (RFC 9106, t=3, m=64 MiB)", masterkey.DefaultArgon2, want)
	}
}

func TestEnvWrongPassphrase(t *testing.T) {
	root := secret.Random(32)
	blob := mustWrap(t, mustNew(t, "env:KW_PASS", envOpts(map[string]string{"KW_PASS": "right"}, cheapKDF)), root)
	p := mustNew(t, "env:KW_PASS", envOpts(map[string]string{"KW_PASS": "wrong"}, cheapKDF))
	_, err := p.Unwrap(context.Background(), blob, testAD)
	wantErr(t, "Unwrap", err, masterkey.ErrWrongKey, "passphrase in KW_PASS", "check KW_PASS", "recovery key")
}

func TestEnvUnavailable(t *testing.T) {
	blob := mustWrap(t, mustNew(t, "env:MY_VAR", envOpts(map[string]string{"MY_VAR": "pw"}, cheapKDF)), secret.Random(32))
	for _, tt := range []struct {
		env   map[string]string
		state string
	}{
		{nil, "MY_VAR is not set"},
		{map[string]string{"MY_VAR": ""}, "MY_VAR is empty"},
	} {
		p := mustNew(t, "env:MY_VAR", envOpts(tt.env, cheapKDF))
		_, err := p.Unwrap(context.Background(), blob, testAD)
		wantErr(t, "Unwrap", err, masterkey.ErrUnavailable, tt.state, "set MY_VAR to the passphrase, or unlock with the recovery key")
		_, err = p.Wrap(context.Background(), secret.Random(32), testAD)
		wantErr(t, "Wrap", err, masterkey.ErrUnavailable, tt.state)
	}
}

func TestEnvOSEnvironment(t *testing.T) {
	t.Setenv("KEYWARD_TEST_PASSPHRASE", "from the process environment")
	p := mustNew(t, "env:KEYWARD_TEST_PASSPHRASE", masterkey.Options{KDF: cheapKDF}) // Getenv nil: os.LookupEnv
	root := secret.Random(32)
	if got, err := p.Unwrap(context.Background(), mustWrap(t, p, root), testAD); err != nil || !got.Equal(root) {
		t.Fatalf("Unwrap: %v", err)
	}
}

// A blob keeps its Argon2 parameters: raising Options.KDF later (or
// using the defaults) must not lock out slots written with other ones.
func TestEnvStoredParamsWin(t *testing.T) {
	env := map[string]string{"KW_PASS": "pw"}
	old := &masterkey.Argon2Params{Time: 2, MemoryKiB: 128, Threads: 2}
	root := secret.Random(32)
	blob := mustWrap(t, mustNew(t, "env:KW_PASS", envOpts(env, old)), root)
	header := []byte{1, 0, 0, 0, 2, 0, 0, 0, 128, 2}
	if !bytes.Equal(blob[:10], header) || len(blob) != 86 {
		t.Fatalf("blob starts % x (%d bytes), want % x... (86 bytes)", blob[:10], len(blob), header)
	}
	for _, kdf := range []*masterkey.Argon2Params{nil, cheapKDF, {Time: 7, MemoryKiB: 256, Threads: 1}} {
		p := mustNew(t, "env:KW_PASS", envOpts(env, kdf))
		got, err := p.Unwrap(context.Background(), blob, testAD)
		if err != nil || !got.Equal(root) {
			t.Errorf("Unwrap with Options.KDF %+v of a blob made with %+v: %v", kdf, old, err)
		}
	}
}

// Parameters a damaged or hostile slot asks for are refused before any
// memory is allocated.
func TestEnvAbsurdParams(t *testing.T) {
	env := map[string]string{"KW_PASS": "pw"}
	p := mustNew(t, "env:KW_PASS", envOpts(env, cheapKDF))
	blob := mustWrap(t, p, secret.Random(32))
	for _, params := range []masterkey.Argon2Params{
		{Time: 1, MemoryKiB: 4<<20 + 1, Threads: 1},
		{Time: 1, MemoryKiB: 0xffffffff, Threads: 4},
		{Time: 101, MemoryKiB: 64, Threads: 1},
		{Time: 0, MemoryKiB: 64, Threads: 1},
		{Time: 1, MemoryKiB: 64, Threads: 0},
		{Time: 1, MemoryKiB: 8, Threads: 2},
	} {
		bad := bytes.Clone(blob)
		binary.BigEndian.PutUint32(bad[1:], params.Time)
		binary.BigEndian.PutUint32(bad[5:], params.MemoryKiB)
		bad[9] = params.Threads
		start := time.Now()
		_, err := p.Unwrap(context.Background(), bad, testAD)
		wantErr(t, "Unwrap", err, masterkey.ErrFormat, "Argon2", "unlock with another slot")
		if d := time.Since(start); d > time.Second {
			t.Errorf("refusing %+v took %v", params, d)
		}
		if _, err := masterkey.New("env:KW_PASS", envOpts(env, &params)); err == nil {
			t.Errorf("New with Options.KDF %+v succeeded; want ErrBadSpec", params)
		}
	}
}

func TestEnvFormat(t *testing.T) {
	p := mustNew(t, "env:KW_PASS", envOpts(map[string]string{"KW_PASS": "pw"}, cheapKDF))
	blob := mustWrap(t, p, secret.Random(32))
	bad := bytes.Clone(blob)
	bad[0] = 2
	_, err := p.Unwrap(context.Background(), bad, testAD)
	wantErr(t, "Unwrap(version 2)", err, masterkey.ErrFormat, "format version 2", "upgrade keyward")
	_, err = p.Unwrap(context.Background(), blob[:85], testAD)
	wantErr(t, "Unwrap(short)", err, masterkey.ErrFormat, "has 85 bytes, want 86")
	_, err = p.Unwrap(context.Background(), nil, testAD)
	wantErr(t, "Unwrap(nil)", err, masterkey.ErrFormat, "empty")
}

func TestEnvSpec(t *testing.T) {
	for _, spec := range []string{"env", "env:", "env:A=B"} {
		_, err := masterkey.New(spec, masterkey.Options{})
		wantErr(t, "New("+spec+")", err, masterkey.ErrBadSpec, "env:VAR")
	}
}
