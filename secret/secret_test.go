package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestFromBytesWipesSource(t *testing.T) {
	src := bytes.Repeat([]byte{0xAB}, KeySize)
	k := FromBytes(src)
	defer k.Wipe()
	if !bytes.Equal(src, make([]byte, KeySize)) {
		t.Fatalf("FromBytes left the source intact: %x", src)
	}
	if got := k.UnsafeBytes(); !bytes.Equal(got, bytes.Repeat([]byte{0xAB}, KeySize)) {
		t.Fatalf("UnsafeBytes() = %x, want 0xAB×32", got)
	}
}

func TestNewCopies(t *testing.T) {
	src := bytes.Repeat([]byte{1}, KeySize)
	k := New(src)
	defer k.Wipe()
	src[0] = 9
	if k.UnsafeBytes()[0] != 1 {
		t.Fatal("New aliases the caller's slice")
	}
}

func TestEqual(t *testing.T) {
	a := New(bytes.Repeat([]byte{1}, KeySize))
	b := New(bytes.Repeat([]byte{1}, KeySize))
	c := New(append(bytes.Repeat([]byte{1}, KeySize-1), 2))
	d := New(bytes.Repeat([]byte{1}, KeySize-1))
	for _, k := range []*Key{a, b, c, d} {
		defer k.Wipe()
	}
	if !a.Equal(b) || !a.Equal(a) {
		t.Error("equal keys compare unequal")
	}
	if a.Equal(c) {
		t.Error("keys differing in the last byte compare equal")
	}
	if a.Equal(d) {
		t.Error("keys of different length compare equal")
	}
}

func TestCloneIndependent(t *testing.T) {
	a := Random(KeySize)
	b := a.Clone()
	if !a.Equal(b) {
		t.Fatal("clone differs")
	}
	a.Wipe()
	if b.Wiped() || len(b.UnsafeBytes()) != KeySize {
		t.Fatal("wiping the original affected the clone")
	}
	b.Wipe()
}

func TestUnsafeCopy(t *testing.T) {
	for _, locked := range []bool{true, false} {
		lockMu.Lock()
		lockEnabled = locked
		lockMu.Unlock()
		want := bytes.Repeat([]byte{0x5A}, KeySize)
		k := New(want)
		dst := bytes.Repeat([]byte{0xEE}, KeySize+4)
		if n := k.UnsafeCopy(dst); n != KeySize || !bytes.Equal(dst[:n], want) {
			t.Fatalf("locked=%v: UnsafeCopy = %d, %x; want %d, %x", locked, n, dst[:n], KeySize, want)
		}
		if !bytes.Equal(dst[KeySize:], []byte{0xEE, 0xEE, 0xEE, 0xEE}) {
			t.Errorf("locked=%v: UnsafeCopy wrote past Len(): %x", locked, dst[KeySize:])
		}
		clear(dst)
		if !bytes.Equal(k.UnsafeBytes(), want) {
			t.Errorf("locked=%v: wiping the copy changed the key to %x", locked, k.UnsafeBytes())
		}
		k.UnsafeCopy(dst)
		k.Wipe()
		if !bytes.Equal(dst[:KeySize], want) {
			t.Errorf("locked=%v: wiping the key changed its copy to %x", locked, dst[:KeySize])
		}
	}
	lockMu.Lock()
	lockEnabled = true
	lockMu.Unlock()
}

func TestUnsafeCopyPanics(t *testing.T) {
	k := Random(KeySize)
	defer k.Wipe()
	wiped := Random(KeySize)
	wiped.Wipe()
	tests := []struct {
		name string
		key  *Key
		dst  []byte
	}{
		{"short dst", k, make([]byte, KeySize-1)},
		{"nil dst", k, nil},
		{"wiped key", wiped, make([]byte, KeySize)},
		{"nil key", nil, make([]byte, KeySize)},
	}
	for _, tt := range tests {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("UnsafeCopy with a %s did not panic", tt.name)
				}
			}()
			tt.key.UnsafeCopy(tt.dst)
		}()
	}
}

func TestRandomDiffers(t *testing.T) {
	a, b := Random(KeySize), Random(KeySize)
	defer a.Wipe()
	defer b.Wipe()
	if a.Equal(b) {
		t.Fatal("two random keys are equal")
	}
}

func TestWipeThenUsePanics(t *testing.T) {
	k := Random(KeySize)
	k.Wipe()
	k.Wipe() // idempotent
	if !k.Wiped() {
		t.Fatal("Wiped() = false after Wipe")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("UnsafeBytes on a wiped key did not panic")
		}
	}()
	_ = k.UnsafeBytes()
}

func TestWipeZeroesUnlockedMemory(t *testing.T) {
	lockMu.Lock()
	lockEnabled = false
	lockMu.Unlock()
	defer func() { lockMu.Lock(); lockEnabled = true; lockMu.Unlock() }()

	k := New(bytes.Repeat([]byte{7}, KeySize))
	mem := k.plain // the backing array, to look at after Wipe
	k.Wipe()
	if !bytes.Equal(mem, make([]byte, KeySize)) {
		t.Fatalf("Wipe left key bytes in memory: %x", mem)
	}
}

func TestNeverPrints(t *testing.T) {
	k := New([]byte("THIS-IS-THE-KEY-MATERIAL-32BYTE!"))
	defer k.Wipe()
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "key", k)
	outs := []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %x %q", k, k, k, k, k, k),
		fmt.Sprintf("%v", struct{ K *Key }{k}), logs.String(),
	}
	for _, s := range outs {
		if strings.Contains(s, "KEY-MATERIAL") || strings.Contains(s, "4b45592d") {
			t.Errorf("key material printed: %q", s)
		}
	}
	if _, err := json.Marshal(struct{ K *Key }{k}); err == nil {
		t.Error("json.Marshal of a key succeeded")
	}
}

func TestLockBudgetFallsBack(t *testing.T) {
	lockMu.Lock()
	saved := lockBudget
	lockBudget = lockUsed // no room left
	lockMu.Unlock()
	defer func() { lockMu.Lock(); lockBudget = saved; lockMu.Unlock() }()

	k := Random(KeySize)
	defer k.Wipe()
	if k.locked != nil {
		t.Fatal("key was locked beyond the budget")
	}
	if !Memory().Unlocked {
		t.Fatal("Memory().Unlocked = false after a fallback")
	}
	if len(k.UnsafeBytes()) != KeySize {
		t.Fatal("fallback key unusable")
	}
}

func TestLockedAccounting(t *testing.T) {
	before := Memory().LockedBytes
	k := Random(KeySize)
	if k.locked == nil {
		t.Skip("memory locking unavailable here; covered by TestLockBudgetFallsBack")
	}
	if Memory().LockedBytes <= before {
		t.Fatalf("LockedBytes did not grow: %d -> %d", before, Memory().LockedBytes)
	}
	k.Wipe()
	if got := Memory().LockedBytes; got != before {
		t.Fatalf("LockedBytes after Wipe = %d, want %d", got, before)
	}
}
