package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

// queryPlan returns the EXPLAIN QUERY PLAN details of query, one a line.
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestRewritePlans proves that a regeneration's read and its UPDATE seek
// their rows by index: a full scan of entries would make every
// batch cost the size of the table.
func TestRewritePlans(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "keyward.db"))
	plan := queryPlan(t, s, entriesBelowQuery, "db", "", 2, 10)
	if !strings.Contains(plan, "USING INDEX entries_rekey") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("EntriesBelow plan:\n%s\nwant a walk of entries_rekey without a sort", plan)
	}
	plan = queryPlan(t, s, rewriteQuery, 2, []byte{1}, "a", 1, 1)
	if !strings.Contains(plan, "SEARCH entries USING INDEX sqlite_autoindex_entries_1 (id=?)") {
		t.Errorf("rewrite plan:\n%s\nwant a search of entries by id", plan)
	}
}
