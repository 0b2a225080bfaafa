package keyward_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/keyward/keyward"
)

// auditSetup makes a deployment with a few audited operations and returns
// a raw handle on its file with the append-only triggers dropped, as an
// attacker with write access to the file would have.
func auditSetup(t *testing.T) (*keyward.Keyward, *sql.DB) {
	t.Helper()
	kw, cfg, _ := setup(t)
	ctx := keyward.WithActor(context.Background(), "local:tester")
	for range 3 {
		_, tok, err := kw.CreateToken(ctx, keyward.TokenSpec{Role: keyward.RoleReader})
		if err != nil {
			t.Fatal(err)
		}
		if err := kw.DeleteToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
	}
	raw := rawDB(t, cfg)
	if _, err := raw.Exec(`DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete`); err != nil {
		t.Fatal(err)
	}
	return kw, raw
}

func TestAuditVerifyIntact(t *testing.T) {
	kw, _ := auditSetup(t)
	ctx := context.Background()
	v, err := kw.VerifyAudit(ctx, "")
	if err != nil || !v.OK || v.Records < 8 || len(v.Problems) != 0 {
		t.Fatalf("VerifyAudit() = %+v, %v; want an intact chain", v, err)
	}
	// The head printed now works as an anchor later.
	if _, _, err := kw.CreateToken(ctx, keyward.TokenSpec{Role: keyward.RoleReader}); err != nil {
		t.Fatal(err)
	}
	if v2, err := kw.VerifyAudit(ctx, v.Head); err != nil || !v2.OK || v2.Records != v.Records+1 {
		t.Errorf("VerifyAudit(anchor) = %+v, %v", v2, err)
	}
	recs, err := kw.AuditRecords(ctx, keyward.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ops := []string{}
	for _, r := range recs {
		ops = append(ops, r.Op+"/"+r.Actor+"/"+r.Result)
	}
	want := "init/library/ok unlock/library/ok token.create/local:tester/ok token.rm/local:tester/ok"
	if got := strings.Join(ops[:4], " "); got != want {
		t.Errorf("first records = %q, want %q", got, want)
	}
	for _, r := range recs {
		if strings.Contains(r.Target, "kw_") {
			t.Errorf("record %d holds a token secret: %q", r.Seq, r.Target)
		}
	}
}

var auditTampering = []struct {
	name, sql, problem string
}{
	{"edited result", `UPDATE audit SET result = 'sealed' WHERE seq = 3`, "record 3: its fields do not match its hash"},
	{"edited actor", `UPDATE audit SET actor = 'token:someoneelse' WHERE seq = 4`, "record 4: its fields do not match"},
	{"edited time", `UPDATE audit SET time = time + 1 WHERE seq = 2`, "record 2: its fields do not match"},
	{"middle record deleted", `DELETE FROM audit WHERE seq = 4`, "records 4 to 4 are missing"},
	{"last record deleted", `DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)`, "the newest records were deleted"},
	{"last records deleted and head removed", `DELETE FROM audit WHERE seq > 5; DELETE FROM audit_head`, "the head names record 0"},
	{"reordered", `UPDATE audit SET seq = 1000 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 1000`, "record 3: does not follow record 2"},
	{"record inserted", `UPDATE audit SET seq = seq + 100 WHERE seq >= 4; UPDATE audit SET seq = seq - 99 WHERE seq >= 104;
		INSERT INTO audit (seq, time, actor, op, target, result, prev, hash) SELECT 4, time, actor, 'token.rm', target, result, prev, hash FROM audit WHERE seq = 3;
		UPDATE audit_head SET seq = seq + 1`, "record 4: does not follow record 3"},
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	for _, tc := range auditTampering {
		t.Run(tc.name, func(t *testing.T) {
			kw, raw := auditSetup(t)
			if _, err := raw.Exec(tc.sql); err != nil {
				t.Fatalf("%s: %v", tc.sql, err)
			}
			v, err := kw.VerifyAudit(context.Background(), "")
			if err != nil {
				t.Fatalf("VerifyAudit() = %v", err)
			}
			if v.OK || !strings.Contains(strings.Join(v.Problems, "\n"), tc.problem) {
				t.Errorf("VerifyAudit() = %+v, want a problem %q", v, tc.problem)
			}
		})
	}
}

// Someone who rewrites the tail and the head consistently is caught only
// by an anchor kept elsewhere.
func TestAuditAnchorCatchesARewrittenTail(t *testing.T) {
	kw, raw := auditSetup(t)
	ctx := context.Background()
	v, err := kw.VerifyAudit(ctx, "")
	if err != nil || !v.OK {
		t.Fatal(v, err)
	}
	exec(t, raw, `DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)`)
	exec(t, raw, `UPDATE audit_head SET seq = (SELECT max(seq) FROM audit), hash = (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)`)
	if v2, err := kw.VerifyAudit(ctx, ""); err != nil || !v2.OK {
		t.Fatalf("VerifyAudit() without anchor = %+v, %v; a consistent rewrite is not visible locally", v2, err)
	}
	v3, err := kw.VerifyAudit(ctx, v.Head)
	if err != nil || v3.OK || !strings.Contains(strings.Join(v3.Problems, "\n"), "no longer has") {
		t.Errorf("VerifyAudit(anchor) = %+v, %v; want the anchor to be missing", v3, err)
	}
	if _, err := kw.VerifyAudit(ctx, "12:zz"); err == nil {
		t.Error("VerifyAudit(bad anchor) = nil error")
	}
}

// A sealed deployment writes nothing: failed unlocks are recorded when an
// unlock succeeds, before it, with their own time.
func TestAuditFailedUnlocksWhileSealed(t *testing.T) {
	_, cfg, res := setup(t)
	ctx := context.Background()
	kw, err := keyward.OpenSealed(ctx, keyward.Config{DataDir: cfg.DataDir, KeyDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer kw.Close()
	if err := kw.Unlock(ctx); err == nil {
		t.Fatal("Unlock() with no key source = nil")
	}
	if err := kw.UnlockWithRecoveryKey(ctx, "AAAA-BBBB"); err == nil {
		t.Fatal("UnlockWithRecoveryKey(wrong) = nil")
	}
	before, _ := kw.AuditRecords(ctx, keyward.AuditQuery{})
	if err := kw.UnlockWithRecoveryKey(ctx, res.RecoveryKey); err != nil {
		t.Fatal(err)
	}
	after, _ := kw.AuditRecords(ctx, keyward.AuditQuery{})
	var got []string
	for _, r := range after[len(before):] {
		got = append(got, r.Op+"/"+r.Result)
	}
	want := "unlock/unlock_failed unlock.recovery-key/unlock_failed unlock.recovery-key/ok"
	if strings.Join(got, " ") != want {
		t.Errorf("records appended at unlock = %q, want %q", got, want)
	}
}
