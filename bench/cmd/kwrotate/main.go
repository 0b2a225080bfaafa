// Command kwrotate measures `keys rotate-root`: a deployment with 1,000
// databases gets 1,000 and then 1,000,000 entries, and the root key is
// rotated a few times at each size; it prints a table of the times.
//
// Rotation re-wraps data keys and slots only and never reads an entry, so
// the entries are inserted with SQL straight into the store file, with
// placeholder ciphertext: what they hold does not matter to rotate-root,
// only that the tables (and the file) have their size.
//
//	go run ./bench/cmd/kwrotate [-dbs 1000] [-sizes 1000,1000000] [-runs 5]
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward"
)

func main() {
	dbs := flag.Int("dbs", 1000, "databases")
	sizes := flag.String("sizes", "1000,1000000", "entry counts, comma-separated, ascending")
	runs := flag.Int("runs", 5, "rotations per size")
	flag.Parse()
	if err := run(*dbs, *sizes, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "kwrotate:", err)
		os.Exit(1)
	}
}

func run(dbs int, sizes string, runs int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kwrotate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := keyward.Config{DataDir: filepath.Join(dir, "data"), KeyDir: filepath.Join(dir, "keys")}
	res, err := keyward.Init(ctx, cfg)
	if err != nil {
		return err
	}
	cfg.RecoveryKey = res.RecoveryKey // so the recovery slot re-wraps too
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		return err
	}
	for i := range dbs {
		if _, err := kw.CreateDatabase(ctx, fmt.Sprintf("db%04d", i)); err != nil {
			return err
		}
	}
	kw.Close()
	fmt.Printf("| databases | data keys | slots | entries | rotate-root median | min | max |\n|---|---|---|---|---|---|---|\n")
	have := 0
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < have {
			return fmt.Errorf("sizes: %q", sizes)
		}
		if err := insertEntries(ctx, filepath.Join(cfg.DataDir, keyward.DBFile), have, n, dbs); err != nil {
			return err
		}
		have = n
		kw, err := keyward.Open(ctx, cfg)
		if err != nil {
			return err
		}
		var times []time.Duration
		var sum keyward.RotateSummary
		for range runs {
			start := time.Now()
			if sum, err = kw.RotateRoot(ctx, keyward.RotateOptions{}); err != nil {
				kw.Close()
				return err
			}
			times = append(times, time.Since(start))
		}
		kw.Close()
		slices.Sort(times)
		ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
		fmt.Printf("| %d | %d | %d | %d | %s | %s | %s |\n", sum.Databases, sum.DataKeys, len(sum.Slots), n,
			ms(times[len(times)/2]), ms(times[0]), ms(times[len(times)-1]))
	}
	return nil
}

// insertEntries adds entries from..to-1, spread over the databases, in
// one transaction of plain SQL (placeholder ciphertext).
func insertEntries(ctx context.Context, path string, from, to, dbs int) error {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	q := `CREATE TEMP TABLE IF NOT EXISTS dbn AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM databases;
	CREATE INDEX IF NOT EXISTS temp.dbn_n ON dbn (n);
	WITH RECURSIVE c(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?)
	INSERT INTO entries (id, database_id, path, type, tags, created, updated, revision, key_version, ciphertext)
	SELECT printf('bench-%d', c.i), d.id, printf('p/%d', c.i), 'bench', '[]', 0, 0, 1, 1, randomblob(80)
	FROM c JOIN dbn d ON d.n = c.i % ?`
	_, err = db.ExecContext(ctx, q, from, to, dbs)
	return err
}
