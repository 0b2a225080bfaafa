package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/apifake"
)

func Example() {
	// A stand-in for `keyward serve`; use the server's https:// URL.
	fake := apifake.New("admin-token")
	srv := httptest.NewServer(fake)
	defer srv.Close()

	ctx := context.Background()
	c, err := client.New(srv.URL, client.WithToken("admin-token"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.CreateDatabase(ctx, "app"); err != nil {
		log.Fatal(err)
	}
	e, err := c.Put(ctx, "app", "prod/db", api.PutEntry{Fields: map[string]string{"password": "hunter2"}})
	if err != nil {
		log.Fatal(err)
	}
	// Compare and swap: this write expects the revision just read.
	e, err = c.Put(ctx, "app", "prod/db", api.PutEntry{Fields: map[string]string{"password": "changed"}, Revision: e.Revision})
	if err != nil {
		log.Fatal(err)
	}
	got, err := c.Get(ctx, "app", "prod/db")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Revision, got.Fields["password"])

	_, err = c.Get(ctx, "app", "prod/nothing")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// 2 changed
	// true
}
