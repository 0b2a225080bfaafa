package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/api"
)

func TestSealedThenUnlockWithPassphrase(t *testing.T) {
	e := newEnvSlots(t, "env:KW_PASS")
	db := e.mustDB("app")
	e.put(db, "x", map[string]string{"k": "v"})
	w := e.token(keyward.RoleWriter)
	delete(e.vars, "KW_PASS")
	e.restart()
	if !e.kw.Sealed() {
		t.Fatal("deployment unlocked without its passphrase")
	}
	var h api.Health
	e.must(req{method: "GET", path: "/v1/sys/health"}, 503, &h)
	if h.Status != "sealed" || !h.Sealed {
		t.Errorf("health while sealed = %+v", h)
	}
	var st api.Status
	e.must(req{method: "GET", path: "/v1/sys/status", token: e.admin}, 200, &st)
	if !st.Sealed || st.Deployment == nil || len(st.Deployment.Slots) != 2 || st.Deployment.Slots[0].Error == "" {
		t.Errorf("admin status while sealed = %+v, want sealed with each slot's reason", st)
	}
	before := e.snapshot()
	e.fails(req{method: "GET", path: "/v1/db/app/entries/x", token: w}, 503, api.CodeSealed)
	e.fails(req{method: "PUT", path: "/v1/db/app/entries/y", token: w, body: api.PutEntry{Fields: map[string]string{"a": "b"}}}, 503, api.CodeSealed)
	e.fails(req{method: "POST", path: "/v1/db", token: w, body: api.CreateDatabase{Name: "n"}}, 503, api.CodeSealed)
	e.fails(req{method: "POST", path: "/v1/tokens", token: e.admin, body: api.CreateToken{Role: "reader"}}, 503, api.CodeSealed)
	e.fails(req{method: "POST", path: "/v1/sys/maintenance", token: e.admin, body: api.MaintenanceRequest{Enabled: true}}, 503, api.CodeSealed)
	eb := e.fails(req{method: "POST", path: "/v1/sys/unlock", token: e.admin, body: api.UnlockRequest{Passphrase: "xyzzy-not-it"}}, 401, api.CodeUnlockFailed)
	if len(eb.Slots) == 0 || eb.Slots[0].Error == "" || strings.Contains(eb.Message+eb.Slots[0].Error, "xyzzy") {
		t.Errorf("unlock_failed = %+v, want each slot's reason and not the passphrase", eb)
	}
	e.fails(req{method: "POST", path: "/v1/sys/unlock", token: e.admin, body: api.UnlockRequest{}}, 400, api.CodeBadRequest)
	if after := e.snapshot(); after != before {
		t.Errorf("a sealed server changed the store:\n%s\nwant\n%s", after, before)
	}

	var ur api.UnlockResponse
	e.must(req{method: "POST", path: "/v1/sys/unlock", token: e.admin, body: api.UnlockRequest{Passphrase: testPassphrase}}, 200, &ur)
	if ur.Sealed || ur.Slot == nil || ur.Slot.Spec != "env:KW_PASS" {
		t.Errorf("unlock = %+v, want unlocked by env:KW_PASS", ur)
	}
	e.must(req{method: "GET", path: "/v1/sys/health"}, 200, nil)
	e.must(req{method: "GET", path: "/v1/db/app/entries/x", token: w}, 200, nil)
	e.must(req{method: "POST", path: "/v1/sys/unlock", token: e.admin, body: api.UnlockRequest{Passphrase: "anything"}}, 200, &ur)
	if !ur.Already {
		t.Errorf("unlock of an unlocked server = %+v, want already", ur)
	}
}

func TestLostKeyFileThenRecoveryKey(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "kek")
	if err := os.WriteFile(keyFile, make32(), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnvSlots(t, "file:"+keyFile)
	e.mustDB("app")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	e.restart()
	e.must(req{method: "GET", path: "/v1/sys/health"}, 503, nil)
	e.fails(req{method: "POST", path: "/v1/sys/unlock", token: e.admin, body: api.UnlockRequest{RecoveryKey: "AAAA-BBBB"}}, 401, api.CodeUnlockFailed)
	var ur api.UnlockResponse
	e.must(req{method: "POST", path: "/v1/sys/unlock", token: e.admin, body: api.UnlockRequest{RecoveryKey: e.res.RecoveryKey}}, 200, &ur)
	if ur.Slot == nil || ur.Slot.Spec != "recovery" {
		t.Errorf("unlock = %+v, want the recovery slot", ur)
	}
	e.must(req{method: "GET", path: "/v1/db", token: e.admin}, 200, nil)
}

func make32() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

func TestMaintenance(t *testing.T) {
	e := newEnv(t)
	db := e.mustDB("app")
	e.put(db, "x", map[string]string{"k": "v"})
	w := e.token(keyward.RoleWriter)
	var m api.Maintenance
	e.must(req{method: "POST", path: "/v1/sys/maintenance", token: e.admin, body: api.MaintenanceRequest{Enabled: true, Reason: "re-keying"}}, 200, &m)
	if !m.Enabled || m.Reason != "re-keying" || m.Since.IsZero() {
		t.Errorf("POST maintenance = %+v", m)
	}
	check := func() {
		t.Helper()
		code, h, b := e.do(req{method: "GET", path: "/v1/db/app/entries/x", token: w})
		if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(string(b), `"maintenance"`) || !strings.Contains(string(b), "re-keying") {
			t.Errorf("data request in maintenance = %d, Retry-After %q, %s", code, h.Get("Retry-After"), b)
		}
		var hl api.Health
		e.must(req{method: "GET", path: "/v1/sys/health"}, 503, &hl)
		if hl.Status != "maintenance" || hl.Reason != "re-keying" {
			t.Errorf("health in maintenance = %+v", hl)
		}
		// Admin routes go on.
		e.must(req{method: "GET", path: "/v1/tokens", token: e.admin}, 200, nil)
		e.must(req{method: "GET", path: "/v1/sys/maintenance", token: w}, 200, &m)
		if !m.Enabled {
			t.Errorf("GET maintenance = %+v, want enabled", m)
		}
	}
	check()
	e.fails(req{method: "POST", path: "/v1/db", token: e.admin, body: api.CreateDatabase{Name: "n"}}, 503, api.CodeMaintenance)
	e.restart() // the switch lives in the store
	check()
	e.must(req{method: "POST", path: "/v1/sys/maintenance", token: e.admin, body: api.MaintenanceRequest{Enabled: false}}, 200, &m)
	e.must(req{method: "GET", path: "/v1/db/app/entries/x", token: w}, 200, nil)
}

// A switch made by another server sharing the store is seen once the cache
// has expired; here the cache is disabled so the test needs no clock.
func TestMaintenanceSharedStore(t *testing.T) {
	e := newEnv(t)
	e.srv.maint.ttl = -1
	if _, err := e.kw.SetMaintenance(context.Background(), true, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	e.fails(req{method: "GET", path: "/v1/db", token: e.admin}, 503, api.CodeMaintenance)
}
