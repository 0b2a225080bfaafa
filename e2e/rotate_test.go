package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyward/keyward/api"
)

// TestRotateRootBesideServer rotates the root key with the local CLI while
// a server runs on the same data directory, then has the server create a
// database and put an entry. The server still holds the old root key: the
// store refuses the data key it wraps under it, and the server loads the
// new root key and wraps again. After the server stops, a fresh CLI reads
// everything, so no key was stored under the root key that no longer
// exists.
func TestRotateRootBesideServer(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	admin := s.adminToken()
	rk := regexp.MustCompile(`(?m)^\s*recovery key: (\S+)`).FindStringSubmatch(s.output())
	if rk == nil {
		t.Fatalf("the first start printed no recovery key:\n%s", s.output())
	}
	rkFile := filepath.Join(t.TempDir(), "rk")
	if err := os.WriteFile(rkFile, []byte(rk[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.must(201, "POST", "/v1/db", admin, api.CreateDatabase{Name: "before"}, nil)
	s.must(201, "PUT", "/v1/db/before/entries/a", admin, api.PutEntry{Fields: map[string]string{"k": "v-before"}}, nil)

	e.mustRun(0, "--recovery-key-file", rkFile, "keys", "rotate-root")

	s.must(201, "POST", "/v1/db", admin, api.CreateDatabase{Name: "after"}, nil)
	s.must(201, "PUT", "/v1/db/after/entries/a", admin, api.PutEntry{Fields: map[string]string{"k": "v-after"}}, nil)
	var got api.Entry
	s.must(200, "GET", "/v1/db/before/entries/a", admin, nil, &got)
	if got.Fields["k"] != "v-before" {
		t.Errorf("server GET before/a after the rotation = %+v", got)
	}
	s.stop()

	for db, want := range map[string]string{"before": "v-before", "after": "v-after"} {
		if out, stderr := e.mustRun(0, "get", db, "a", "--field", "k"); out != want+"\n" {
			t.Errorf("get %s a after the server stopped = %q (%s), want %q", db, out, strings.TrimSpace(stderr), want)
		}
	}
	e.mustRun(0, "keys", "verify") // exit 1 if any key or entry fails to open
}
