package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyward/keyward/internal/apifake"
)

// fakeAdminToken is the admin token of the fake server of remote scripts.
const fakeAdminToken = "kwt_fake-admin-0123456789abcdef"

type fakeKey struct{}

// setupRemote starts a fake keyward server for a script and points the
// CLI at it: KEYWARD_ADDR is its URL, $WORK/admin.tok (mode 0600) and
// KEYWARD_TOKEN_FILE hold the admin token. KEYWARD_DATA names a directory
// that does not exist, so a command that wrongly used it would fail. The
// fake's passphrase is "open sesame", its recovery key "RK-TEST".
func setupRemote(env *testscript.Env) error {
	fake := apifake.New(fakeAdminToken)
	fake.Passphrase, fake.RecoveryKey = "open sesame", "RK-TEST"
	srv := httptest.NewServer(fake)
	env.Defer(srv.Close)
	env.Values[fakeKey{}] = fake
	tok := filepath.Join(env.WorkDir, "admin.tok")
	if err := os.WriteFile(tok, []byte(fakeAdminToken+"\n"), 0o600); err != nil {
		return err
	}
	env.Setenv("KEYWARD_ADDR", srv.URL)
	env.Setenv("KEYWARD_TOKEN_FILE", tok)
	env.Setenv("KEYWARD_DATA", filepath.Join(env.WorkDir, "no-data-dir"))
	env.Setenv("KEYWARD_KEY_DIR", filepath.Join(env.WorkDir, "no-key-dir"))
	return nil
}

// cmdFakeSeal seals the fake server of a remote script:
//
//	fakeseal
func cmdFakeSeal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: fakeseal")
	}
	ts.Value(fakeKey{}).(*apifake.Server).Seal()
}
