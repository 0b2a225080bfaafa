package keyward_test

import (
	"context"
	"slices"
	"testing"

	"github.com/keyward/keyward"
)

func TestListPage(t *testing.T) {
	kw, _, _ := setup(t)
	db := mustDB(t, kw, "app")
	ctx := context.Background()
	for _, p := range []string{"a/1", "a/2", "a/3", "b/1"} {
		if _, err := db.Put(ctx, keyward.Entry{Path: p, Fields: map[string]string{"k": "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for range 10 {
		page, err := db.ListPage(ctx, "a/", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("ListPage(limit 2) returned %d entries", len(page))
		}
		for _, e := range page {
			if e.Fields != nil {
				t.Errorf("ListPage entry %q has fields", e.Path)
			}
			got = append(got, e.Path)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Path
	}
	if want := []string{"a/1", "a/2", "a/3"}; !slices.Equal(got, want) {
		t.Errorf("ListPage pages = %q, want %q", got, want)
	}
}
