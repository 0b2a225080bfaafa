// Package providertest is the conformance suite for masterkey.Provider.
// Every provider, built in or not, runs it from its tests:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, func(t *testing.T) masterkey.Provider {
//			p, err := masterkey.New("file:"+filepath.Join(t.TempDir(), "k"), masterkey.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return p
//		})
//	}
//
// It checks the round trip; that ad is authenticated; that every sampled
// bit flip, truncation or extension of a blob fails with ErrWrongKey or
// ErrFormat (never a panic, never a key); that two blobs of one root
// differ; that Unwrap returns a new key object; that a cancelled context,
// a root of the wrong size and concurrent calls are handled; and that no
// error message contains the root key.
package providertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/masterkey"
	"github.com/keyward/keyward/secret"
)

// Run runs the conformance suite. newProvider is called once per subtest
// and must return a provider that can Wrap (creating any key material it
// needs under t.TempDir()) and then Unwrap what it wrapped.
func Run(t *testing.T, newProvider func(t *testing.T) masterkey.Provider) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, newProvider(t)) })
	}
}

var tests = []struct {
	name string
	f    func(t *testing.T, p masterkey.Provider)
}{
	{"RoundTrip", testRoundTrip}, {"WrongAD", testWrongAD}, {"Tampered", testTampered},
	{"Truncated", testTruncated}, {"DistinctBlobs", testDistinctBlobs}, {"OwnKeyObject", testOwnKeyObject},
	{"Cancelled", testCancelled}, {"BadRootSize", testBadRootSize}, {"Concurrent", testConcurrent},
}

// ad is what a keyring would bind a slot blob to.
var ad = []byte("keyward/v1/deployment=0f6c/slot=2")

func wrap(t *testing.T, p masterkey.Provider, root *secret.Key, ad []byte) []byte {
	t.Helper()
	blob, err := p.Wrap(context.Background(), root, ad)
	if err != nil {
		t.Fatalf("Wrap: %v", err)
	}
	if len(blob) == 0 {
		t.Fatal("Wrap returned an empty blob")
	}
	return blob
}

// unwrap calls Unwrap and turns a panic into a test failure.
func unwrap(t *testing.T, ctx context.Context, p masterkey.Provider, blob, ad []byte) (k *secret.Key, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Unwrap panicked on a %d-byte blob: %v", len(blob), r)
			k, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return p.Unwrap(ctx, blob, ad)
}

// mustFail checks that Unwrap failed with one of the allowed sentinels and
// returned no key.
func mustFail(t *testing.T, what string, root, k *secret.Key, err error, allowed ...error) {
	t.Helper()
	if err == nil {
		t.Errorf("Unwrap(%s) = key, nil; want an error", what)
		k.Wipe()
		return
	}
	if k != nil {
		t.Errorf("Unwrap(%s) returned a key together with error %v", what, err)
	}
	ok := false
	for _, a := range allowed {
		ok = ok || errors.Is(err, a)
	}
	if !ok {
		t.Errorf("Unwrap(%s) = %v; want one of %v", what, err, allowed)
	}
	checkNoLeak(t, err, root)
}

// checkNoLeak fails if err's message holds root in raw, hex or base64 form.
func checkNoLeak(t *testing.T, err error, root *secret.Key) {
	t.Helper()
	if err == nil || root == nil || root.Wiped() {
		return
	}
	b := root.UnsafeBytes()
	msg := err.Error()
	for _, form := range []string{string(b), hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b)} {
		if strings.Contains(strings.ToLower(msg), strings.ToLower(form)) {
			t.Errorf("error message contains the root key: %q", msg)
		}
	}
}

func testRoundTrip(t *testing.T, p masterkey.Provider) {
	root := secret.Random(secret.KeySize)
	blob := wrap(t, p, root, ad)
	if root.Wiped() {
		t.Fatal("Wrap wiped the caller's root key")
	}
	for i := range 2 { // a blob can be opened more than once
		got, err := unwrap(t, context.Background(), p, blob, ad)
		if err != nil {
			t.Fatalf("Unwrap #%d: %v", i+1, err)
		}
		if !got.Equal(root) {
			t.Fatalf("Unwrap #%d returned a different key", i+1)
		}
		got.Wipe()
	}
	for _, empty := range [][]byte{nil, {}} { // nil and empty ad are the same
		blob := wrap(t, p, root, nil)
		got, err := unwrap(t, context.Background(), p, blob, empty)
		if err != nil || !got.Equal(root) {
			t.Fatalf("Unwrap with ad %#v after Wrap with nil ad: %v", empty, err)
		}
		got.Wipe()
	}
}

func testWrongAD(t *testing.T, p masterkey.Provider) {
	root := secret.Random(secret.KeySize)
	blob := wrap(t, p, root, ad)
	others := [][]byte{
		nil,
		[]byte("keyward/v1/deployment=0f6c/slot=3"),
		[]byte("keyward/v1/deployment=0f6d/slot=2"),
		ad[:len(ad)-1],
		append(bytes.Clone(ad), 0),
	}
	for _, other := range others {
		k, err := unwrap(t, context.Background(), p, blob, other)
		mustFail(t, fmt.Sprintf("ad %q", other), root, k, err, masterkey.ErrWrongKey)
	}
}

// positions returns the blob offsets to tamper with: all of them for
// short blobs, else the first and last 64 and 128 spread in between.
func positions(n int) []int {
	if n <= 256 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := range 64 {
		out = append(out, i, n-1-i)
	}
	for i := range 128 {
		out = append(out, 64+i*(n-128)/128)
	}
	return out
}

func testTampered(t *testing.T, p masterkey.Provider) {
	root := secret.Random(secret.KeySize)
	blob := wrap(t, p, root, ad)
	for _, i := range positions(len(blob)) {
		masks := []byte{1 << (i % 8)}
		if i < 16 { // headers: also flip whole bytes
			masks = append(masks, 0xff)
		}
		for _, m := range masks {
			bad := bytes.Clone(blob)
			bad[i] ^= m
			k, err := unwrap(t, context.Background(), p, bad, ad)
			mustFail(t, fmt.Sprintf("blob with byte %d ^= %#02x", i, m), root, k, err, masterkey.ErrWrongKey, masterkey.ErrFormat)
		}
	}
}

func testTruncated(t *testing.T, p masterkey.Provider) {
	root := secret.Random(secret.KeySize)
	blob := wrap(t, p, root, ad)
	for _, n := range positions(len(blob)) {
		k, err := unwrap(t, context.Background(), p, blob[:n:n], ad)
		mustFail(t, fmt.Sprintf("blob cut to %d of %d bytes", n, len(blob)), root, k, err, masterkey.ErrWrongKey, masterkey.ErrFormat)
	}
	for _, tail := range [][]byte{{0}, bytes.Repeat([]byte{0xa5}, 16)} {
		long := append(bytes.Clone(blob), tail...)
		k, err := unwrap(t, context.Background(), p, long, ad)
		mustFail(t, fmt.Sprintf("blob with %d bytes appended", len(tail)), root, k, err, masterkey.ErrWrongKey, masterkey.ErrFormat)
	}
}

func testDistinctBlobs(t *testing.T, p masterkey.Provider) {
	root := secret.Random(secret.KeySize)
	a, b := wrap(t, p, root, ad), wrap(t, p, root, ad)
	if bytes.Equal(a, b) {
		t.Fatal("two Wraps of the same root key returned the same blob (no fresh nonce or salt?)")
	}
	for _, blob := range [][]byte{a, b} {
		got, err := unwrap(t, context.Background(), p, blob, ad)
		if err != nil || !got.Equal(root) {
			t.Fatalf("Unwrap: %v", err)
		}
		got.Wipe()
	}
}

func testOwnKeyObject(t *testing.T, p masterkey.Provider) {
	root := secret.Random(secret.KeySize)
	want := root.Clone()
	defer want.Wipe()
	blob := wrap(t, p, root, ad)
	got1, err1 := unwrap(t, context.Background(), p, blob, ad)
	got2, err2 := unwrap(t, context.Background(), p, blob, ad)
	if err1 != nil || err2 != nil {
		t.Fatalf("Unwrap: %v, %v", err1, err2)
	}
	if got1 == root || got1 == got2 {
		t.Fatal("Unwrap returned a key object it had returned or been given before")
	}
	got1.Wipe()
	if root.Wiped() || got2.Wiped() || !root.Equal(want) || !got2.Equal(want) {
		t.Fatal("wiping the key returned by Unwrap changed another key")
	}
	got2.Wipe()
}

func testCancelled(t *testing.T, p masterkey.Provider) {
	root := secret.Random(secret.KeySize)
	blob := wrap(t, p, root, ad)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b, err := p.Wrap(ctx, root, ad); !errors.Is(err, context.Canceled) {
		t.Errorf("Wrap(cancelled ctx) = %d bytes, %v; want context.Canceled", len(b), err)
	}
	k, err := unwrap(t, ctx, p, blob, ad)
	mustFail(t, "cancelled ctx", root, k, err, context.Canceled)
}

func testBadRootSize(t *testing.T, p masterkey.Provider) {
	short := secret.Random(16)
	defer short.Wipe()
	if _, err := p.Wrap(context.Background(), short, ad); err == nil {
		t.Error("Wrap(16-byte root) = nil error; want an error (the root key is 32 bytes)")
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("Wrap(nil root) panicked: %v", r)
			}
		}()
		if _, err := p.Wrap(context.Background(), nil, ad); err == nil {
			t.Error("Wrap(nil root) = nil error; want an error")
		}
	}()
}

func testConcurrent(t *testing.T, p masterkey.Provider) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			root := secret.Random(secret.KeySize)
			defer root.Wipe()
			myAD := fmt.Appendf(nil, "slot=%d", i)
			blob, err := p.Wrap(context.Background(), root, myAD)
			if err != nil {
				t.Errorf("concurrent Wrap: %v", err)
				return
			}
			got, err := p.Unwrap(context.Background(), blob, myAD)
			if err != nil || !got.Equal(root) {
				t.Errorf("concurrent Unwrap: %v", err)
				return
			}
			got.Wipe()
		})
	}
	wg.Wait()
}
