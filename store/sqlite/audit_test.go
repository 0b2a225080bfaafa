package sqlite

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/keyward/keyward/audit"
)

// Two Stores on one file stand for two processes: their appends must form
// one chain, because each reads the head inside its write transaction.
func TestAuditTwoStoresOneChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	a := openTemp(t, path)
	b := openTemp(t, path)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i, s := range []*Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				r := audit.Record{Actor: fmt.Sprintf("p%d", i), Op: "test", Target: fmt.Sprint(j), Result: "ok"}
				if _, err := s.AppendAudit(t.Context(), r); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("AppendAudit = %v", err)
	}
	rs, err := b.AuditRecords(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var v audit.Verifier
	for _, r := range rs {
		v.Next(r)
	}
	head, err := a.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Finish(head); err != nil || len(rs) != 40 {
		t.Errorf("%d records, verify = %v; want 40 records in one chain", len(rs), err)
	}
}

// The triggers refuse updates and deletes through SQL.
func TestAuditAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keyward.db")
	s := openTemp(t, path)
	if _, err := s.AppendAudit(t.Context(), audit.Record{Actor: "a", Op: "b", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"UPDATE audit SET result = 'x'", "DELETE FROM audit"} {
		if _, err := s.write.ExecContext(t.Context(), q); err == nil {
			t.Errorf("%s = nil, want the trigger's refusal", q)
		}
	}
}
