package keyward_test

import (
	"context"
	"io"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/kwtest"
)

// Reading an attachment streams it: the heap in use while copying a 64 MiB
// attachment to io.Discard grows no more than while copying an 8 MiB one
// (give or take the garbage collector's slack), and far less than the
// attachment's size.
func TestReadAttachmentConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("stores and reads 72 MiB")
	}
	ctx := context.Background()
	kw, _, _ := setup(t)
	db := mustDB(t, kw, "d")
	if _, err := db.Put(ctx, keyward.Entry{Path: "e"}); err != nil {
		t.Fatal(err)
	}
	const small, big = 8 << 20, 64 << 20
	for name, size := range map[string]int64{"small": small, "big": big} {
		if _, err := db.PutAttachment(ctx, "e", name, kwtest.Zeros(size)); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string, size int64) int64 {
		t.Helper()
		var n int64
		var err error
		growth := kwtest.PeakHeapGrowth(func() {
			var r *keyward.AttachmentReader
			if r, err = db.OpenAttachment(ctx, "e", name); err != nil {
				return
			}
			defer r.Close()
			n, err = io.Copy(io.Discard, r)
		})
		if err != nil || n != size {
			t.Fatalf("reading %s: %d bytes, %v; want %d", name, n, err, size)
		}
		return growth
	}
	read("small", small) // warm up: pools, statement cache
	smallGrowth := read("small", small)
	bigGrowth := read("big", big)
	t.Logf("peak heap growth: %d KiB reading %d MiB, %d KiB reading %d MiB", smallGrowth>>10, small>>20, bigGrowth>>10, big>>20)
	if bigGrowth > smallGrowth+8<<20 || bigGrowth > 16<<20 {
		t.Errorf("reading %d MiB grew the heap by %d KiB, %d MiB by %d KiB: memory grows with the attachment's size",
			big>>20, bigGrowth>>10, small>>20, smallGrowth>>10)
	}
}
