// Package kwtest sets up keyward deployments for the tests of the packages
// built on keyward (server, client, cmd/keyward) and of keyward's own
// external tests.
package kwtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward"
)

// Deployment initialises a deployment in a new temporary directory of tb
// (cfg's DataDir and KeyDir are set there; its other fields are kept),
// opens it, and closes it when the test ends (closing it earlier as well is
// harmless). It returns the open deployment, the config it was opened with
// and what Init printed (the recovery key and the admin token).
func Deployment(tb testing.TB, cfg keyward.Config) (*keyward.Keyward, keyward.Config, keyward.InitResult) {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	cfg.DataDir, cfg.KeyDir = filepath.Join(dir, "data"), filepath.Join(dir, "keys")
	res, err := keyward.Init(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { kw.Close() })
	return kw, cfg, res
}
