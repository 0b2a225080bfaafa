// Package storedump prints everything a data directory's SQLite store
// holds, for tests that must prove an operation changed nothing: every row
// of every table, and the name and size of every attachment file.
package storedump

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // driver "sqlite"
)

// tables are the store's tables, in a fixed order.
var tables = []string{"meta", "slots", "databases", "data_keys", "entries", "attachments", "tokens", "maintenance"}

// Dump returns the content of the store in dataDir as text. It opens the
// file read-only and does not need keyward to be able to open it.
func Dump(dataDir string) (string, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "keyward.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return "", err
	}
	defer db.Close()
	var out strings.Builder
	for _, table := range tables {
		if err := dumpTable(db, table, &out); err != nil {
			return "", fmt.Errorf("storedump: %s: %w", table, err)
		}
	}
	files, err := os.ReadDir(filepath.Join(dataDir, "attachments"))
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	for _, f := range files {
		fi, err := f.Info()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&out, "file %s %d\n", f.Name(), fi.Size())
	}
	return out.String(), nil
}

func dumpTable(db *sql.DB, table string, out *strings.Builder) error {
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY 1, 2")
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %v\n", table, vals)
	}
	return rows.Err()
}
