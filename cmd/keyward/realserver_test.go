package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/server"
)

// TestBothModesRealServer runs testdata/both/*.txtar in client mode against
// the real server (package server over a real deployment), so the client,
// the CLI and the server are checked together; TestBothModes covers the
// data directory and the fake.
func TestBothModesRealServer(t *testing.T) {
	p := scriptParams("testdata/both", true)
	p.Setup = setupRealServer
	testscript.Run(t, p)
}

// setupRealServer initialises a deployment in the script's work dir, serves
// it with package server on a loopback port, and points the CLI at it as
// setupRemote does for the fake.
func setupRealServer(env *testscript.Env) error {
	ctx := context.Background()
	cfg := keyward.Config{DataDir: filepath.Join(env.WorkDir, "server-data"), KeyDir: filepath.Join(env.WorkDir, "server-keys")}
	res, err := keyward.Init(ctx, cfg)
	if err != nil {
		return err
	}
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Keyward: kw})
	if err != nil {
		kw.Close()
		return err
	}
	ts := httptest.NewServer(srv.Handler())
	env.Defer(func() {
		ts.Close()
		kw.Close()
	})
	tok := filepath.Join(env.WorkDir, "admin.tok")
	if err := os.WriteFile(tok, []byte(res.AdminToken+"\n"), 0o600); err != nil {
		return err
	}
	env.Setenv("KEYWARD_ADDR", ts.URL)
	env.Setenv("KEYWARD_TOKEN_FILE", tok)
	env.Setenv("KEYWARD_DATA", filepath.Join(env.WorkDir, "no-data-dir"))
	env.Setenv("KEYWARD_KEY_DIR", filepath.Join(env.WorkDir, "no-key-dir"))
	return nil
}
