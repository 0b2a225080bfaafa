package masterkey_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
)

type vector struct {
	Kind        string `json:"kind"`
	KEK         string `json:"kek"`
	Passphrase  string `json:"passphrase"`
	RecoveryKey string `json:"recovery_key"`
	AD          string `json:"ad"`
	Root        string `json:"root"`
	Blob        string `json:"blob"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Vectors
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vectorProvider makes the provider that can open v.
func vectorProvider(t *testing.T, v vector) masterkey.Provider {
	t.Helper()
	dir := t.TempDir()
	keyFile := func(name string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, unhex(t, v.KEK), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	switch v.Kind {
	case "auto":
		keyFile("vectors.key")
		return mustNew(t, "auto", masterkey.Options{DeploymentID: "vectors", KeyDir: dir})
	case "file":
		return mustNew(t, "file:"+keyFile("k"), masterkey.Options{})
	case "exec":
		return mustNew(t, fakeSpec(t, "raw", v.KEK), masterkey.Options{})
	case "env":
		return mustNew(t, "env:PW", masterkey.Options{Getenv: mapEnv(map[string]string{"PW": v.Passphrase})})
	case "recovery":
		return mustNew(t, "recovery", recoveryOpts(v.RecoveryKey, nil))
	}
	t.Fatalf("vector of unknown kind %q", v.Kind)
	return nil
}

// The vectors were made by an independent implementation of the formats
// described in the package documentation.
func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Kind, func(t *testing.T) {
			p := vectorProvider(t, v)
			got, err := p.Unwrap(context.Background(), unhex(t, v.Blob), []byte(v.AD))
			if err != nil {
				t.Fatalf("Unwrap: %v", err)
			}
			if h := hex.EncodeToString(got.UnsafeBytes()); h != v.Root {
				t.Errorf("Unwrap = %s, want %s", h, v.Root)
			}
		})
	}
}

// Re-sealing each vector's inputs, with its salt and nonce in place of
// random ones, gives its blob byte for byte: the sealing code writes the
// format the vectors describe, not merely one that Unwrap reads.
func TestVectorsReseal(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Kind, func(t *testing.T) {
			want := unhex(t, v.Blob)
			root := secret.New(unhex(t, v.Root))
			defer root.Wipe()
			var got []byte
			var err error
			switch v.Kind {
			case "auto", "file", "exec":
				kek := secret.New(unhex(t, v.KEK))
				defer kek.Wipe()
				got, err = masterkey.SealKEKNonce(v.Kind, kek, want[1:13], root, []byte(v.AD))
			case "recovery":
				kek, perr := masterkey.ParseRecoveryKey(v.RecoveryKey)
				if perr != nil {
					t.Fatal(perr)
				}
				defer kek.Wipe()
				got, err = masterkey.SealKEKNonce(v.Kind, kek, want[1:13], root, []byte(v.AD))
			case "env":
				end, saltEnd := masterkey.EnvParamsEnd, masterkey.EnvSaltEnd
				kdf := &masterkey.Argon2Params{Time: binary.BigEndian.Uint32(want[1:5]), MemoryKiB: binary.BigEndian.Uint32(want[5:9]), Threads: want[9]}
				p := mustNew(t, "env:PW", masterkey.Options{KDF: kdf, Getenv: mapEnv(map[string]string{"PW": v.Passphrase})})
				got, err = masterkey.EnvWrapWith(p, root, []byte(v.AD), want[end:saltEnd], want[saltEnd:saltEnd+12])
			default:
				t.Fatalf("vector of unknown kind %q", v.Kind)
			}
			if err != nil {
				t.Fatalf("sealing: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("re-sealed blob =\n%x\nwant\n%x", got, want)
			}
		})
	}
}

func FuzzUnwrap(f *testing.F) {
	vectors := loadVectors(f)
	for i, v := range vectors {
		f.Add(i, unhex(f, v.Blob))
	}
	f.Fuzz(func(t *testing.T, i int, blob []byte) {
		if i < 0 || i >= len(vectors) || vectors[i].Kind == "exec" {
			t.Skip()
		}
		v := vectors[i]
		// Skip blobs whose (valid) Argon2 parameters would make the
		// fuzzer crawl; the bounds themselves are tested elsewhere.
		if v.Kind == "env" && len(blob) >= 10 && (blob[4] > 4 || blob[1]|blob[2]|blob[3]|blob[5]|blob[6] != 0 || blob[7] > 4) {
			t.Skip()
		}
		k, err := vectorProvider(t, v).Unwrap(context.Background(), blob, []byte(v.AD))
		if err == nil {
			if hex.EncodeToString(k.UnsafeBytes()) != v.Root || hex.EncodeToString(blob) != v.Blob {
				t.Fatalf("Unwrap accepted a forged blob % x", blob)
			}
			return
		}
		if k != nil || !errors.Is(err, masterkey.ErrFormat) && !errors.Is(err, masterkey.ErrWrongKey) {
			t.Fatalf("Unwrap = %v, %v; want ErrFormat or ErrWrongKey and no key", k, err)
		}
	})
}
