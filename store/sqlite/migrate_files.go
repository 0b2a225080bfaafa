package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// moveChunksToFiles is the Go step of migration 3: it writes the chunks of
// every committed attachment, kept until then in the attachment_chunks
// table, to the attachment's file, before the migration's SQL drops that
// table in the same transaction. Each file is written as <name>.part,
// synced and renamed, and the directory synced at the end, so the files
// are durable before the transaction commits. If the migration fails or
// the process dies, the old tables are still there and the next Open does
// it again (overwriting what it left); files it wrote are removed on
// failure.
//
// An attachment whose chunks cannot be laid out in a file (missing or
// out-of-place chunks, or a chunk other than the last shorter or longer
// than chunk 0) makes the migration fail with an error naming it: nothing
// is changed, and the data can still be opened with the previous keyward.
func moveChunksToFiles(ctx context.Context, tx *sql.Tx, dir string) (err error) {
	var n int
	if err := tx.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'attachment_chunks'").Scan(&n); err != nil || n == 0 {
		return err // a new file: nothing to move
	}
	type pending struct {
		id     string
		chunks int64
	}
	var list []pending
	rows, err := tx.QueryContext(ctx, "SELECT id, chunks FROM attachments WHERE committed = 1 ORDER BY id")
	if err != nil {
		return err
	}
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.id, &p.chunks); err != nil {
			rows.Close()
			return err
		}
		list = append(list, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if len(list) == 0 {
		return nil
	}
	if err := createDir(dir); err != nil {
		return fmt.Errorf("attachments directory: %w", err)
	}
	var written []string
	defer func() {
		if err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
		}
	}()
	for _, p := range list {
		path, err := writeChunkFile(ctx, tx, dir, p.id, p.chunks)
		if err != nil {
			return fmt.Errorf("move attachment %s out of the database: %w; the attachments were left as they were: the previous keyward version can still read them", p.id, err)
		}
		written = append(written, path)
	}
	return syncDir(dir)
}

// writeChunkFile writes the chunks of one attachment to its file and
// returns the file's path.
func writeChunkFile(ctx context.Context, tx *sql.Tx, dir, id string, chunks int64) (string, error) {
	name, err := fileName(id)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path+partSuffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	err = copyChunks(ctx, tx, f, id, chunks)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(path+partSuffix, path)
	}
	if err != nil {
		_ = os.Remove(path + partSuffix)
		return "", err
	}
	return path, nil
}

// copyChunks streams chunks 0..chunks-1 of an attachment into f, checking
// that they are all there and that each but the last is as long as chunk 0.
func copyChunks(ctx context.Context, tx *sql.Tx, f *os.File, id string, chunks int64) error {
	rows, err := tx.QueryContext(ctx, "SELECT idx, data FROM attachment_chunks WHERE attachment_id = ? ORDER BY idx", id)
	if err != nil {
		return err
	}
	defer rows.Close()
	var next, stride, last int64
	for rows.Next() {
		var (
			idx  int64
			data sql.RawBytes
		)
		if err := rows.Scan(&idx, &data); err != nil {
			return err
		}
		switch {
		case idx != next || idx >= chunks:
			return fmt.Errorf("chunk %d stored where chunk %d of %d was expected (the attachment is damaged; delete it with the previous keyward)", idx, next, chunks)
		case idx == 0:
			stride = int64(len(data))
		case last != stride:
			return fmt.Errorf("chunk %d is %d bytes, not %d like chunk 0, and is not the last", idx-1, last, stride)
		}
		if _, err := f.Write(data); err != nil {
			return err
		}
		last = int64(len(data))
		next++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if next != chunks {
		return fmt.Errorf("%d chunks stored, %d recorded (the attachment is damaged; delete it with the previous keyward)", next, chunks)
	}
	return nil
}
