package keyward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store"
)

// VerifyFailure is one ciphertext that did not open: its kind, where it
// is, its key version and why. Never its content.
type VerifyFailure = api.VerifyFailure

// VerifySummary counts what Verify opened.
type VerifySummary = api.VerifySummary

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Databases limits the check to these (empty: every database). An
	// unknown name fails before anything is read.
	Databases []string
	// Progress, if set, is called now and then (every 1000 items and at
	// the end of each database) with the counts so far.
	Progress func(db string, sofar VerifySummary)
}

// verifyPage is how many entries Verify lists at a time.
const verifyPage = 500

// Verify opens every ciphertext of the chosen databases: every wrapped data
// key, every entry, every chunk of every attachment. It calls report for
// each one that fails and goes on; memory stays flat whatever the size.
// The error is about Verify itself (sealed, unknown database, the store
// unreadable, ctx cancelled), not about what it found: the summary counts
// the failures. It is audited as "keys.verify" (result "integrity" when
// something failed).
func (kw *Keyward) Verify(ctx context.Context, opts VerifyOptions, report func(VerifyFailure)) (VerifySummary, error) {
	target := "every database"
	if len(opts.Databases) > 0 {
		target = "databases " + strings.Join(opts.Databases, ",")
	}
	sum, err := kw.verify(ctx, opts, report)
	if err == nil && sum.Failures > 0 {
		// Audited as an integrity failure, but Verify did its job.
		_ = kw.Audit(ctx, "keys.verify", target, fmt.Errorf("%d ciphertexts failed: %w", sum.Failures, ErrIntegrity))
		return sum, nil
	}
	return sum, kw.Audit(ctx, "keys.verify", target, err)
}

func (kw *Keyward) verify(ctx context.Context, opts VerifyOptions, report func(VerifyFailure)) (VerifySummary, error) {
	if kw.Sealed() {
		return VerifySummary{}, fmt.Errorf("keyward: verify: %w", ErrSealed)
	}
	dbs, err := kw.verifyTargets(ctx, opts.Databases)
	if err != nil {
		return VerifySummary{}, err
	}
	v := &verifier{kw: kw, report: report, progress: opts.Progress}
	for _, db := range dbs {
		v.sum.Databases++
		if err := v.database(ctx, &Database{kw: kw, db: db}); err != nil {
			return v.sum, err
		}
		if v.progress != nil {
			v.progress(db.Name, v.sum)
		}
	}
	return v.sum, nil
}

func (kw *Keyward) verifyTargets(ctx context.Context, names []string) ([]store.Database, error) {
	if len(names) == 0 {
		return kw.st.Databases(ctx)
	}
	var out []store.Database
	for _, n := range names {
		db, err := kw.st.Database(ctx, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("keyward: verify: database %q: %w; see `keyward db ls`", n, ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, db)
	}
	return out, nil
}

type verifier struct {
	kw       *Keyward
	report   func(VerifyFailure)
	progress func(string, VerifySummary)
	sum      VerifySummary
}

func (v *verifier) fail(f VerifyFailure) {
	v.sum.Failures++
	if v.report != nil {
		v.report(f)
	}
}

func (v *verifier) tick(db string) {
	if n := v.sum.Entries + v.sum.Attachments; v.progress != nil && n%1000 == 0 {
		v.progress(db, v.sum)
	}
}

func (v *verifier) database(ctx context.Context, d *Database) error {
	keys, err := v.kw.st.DataKeys(ctx, d.db.ID)
	if err != nil {
		return err
	}
	for _, dk := range keys {
		v.sum.DataKeys++
		if err := v.kw.kr.CheckDataKey(dk); err != nil {
			if errors.Is(err, ErrSealed) {
				return err
			}
			v.fail(VerifyFailure{Kind: api.VerifyDataKey, Database: d.db.Name, KeyVersion: dk.Version,
				Reason: "the wrapped data key does not unwrap under the root key: " + err.Error()})
		}
	}
	for after := ""; ; {
		page, err := v.kw.st.Entries(ctx, d.db.ID, "", after, verifyPage)
		if err != nil {
			return err
		}
		for _, meta := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := v.entry(ctx, d, meta.Path); err != nil {
				return err
			}
		}
		if len(page) < verifyPage {
			return nil
		}
		after = page[len(page)-1].Path
	}
}

// entry opens one entry's fields and each of its attachments. An entry
// deleted since it was listed is skipped.
func (v *verifier) entry(ctx context.Context, d *Database, path string) error {
	se, err := v.kw.st.Entry(ctx, d.db.ID, path)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	v.sum.Entries++
	v.tick(d.db.Name)
	if reason := v.openEntry(ctx, d, se); reason != "" {
		v.fail(VerifyFailure{Kind: api.VerifyEntry, Database: d.db.Name, ID: se.ID, Path: se.Path,
			KeyVersion: se.KeyVersion, Reason: reason})
	}
	as, err := v.kw.st.Attachments(ctx, se.ID)
	if err != nil {
		return err
	}
	for _, a := range as {
		v.sum.Attachments++
		v.tick(d.db.Name)
		if reason := v.openAttachment(ctx, d, se, a); reason != "" {
			v.fail(VerifyFailure{Kind: api.VerifyAttachment, Database: d.db.Name, ID: se.ID, Path: se.Path,
				Attachment: a.Name, KeyVersion: a.KeyVersion, Reason: reason})
		}
	}
	return nil
}

// openEntry returns why se's ciphertext does not open, or "".
func (v *verifier) openEntry(ctx context.Context, d *Database, se store.Entry) string {
	dek, err := v.kw.kr.Version(ctx, d.db.ID, se.KeyVersion)
	if err != nil {
		return err.Error()
	}
	pt, err := crypt.OpenRecord(dek.AEAD, d.entryContext(se.ID, se.Path), se.Ciphertext)
	if err != nil {
		return err.Error()
	}
	defer clear(pt)
	if !json.Valid(pt) {
		return "the decrypted payload is not valid"
	}
	return ""
}

// openAttachment reads every chunk of a and returns why it does not open,
// or "".
func (v *verifier) openAttachment(ctx context.Context, d *Database, se store.Entry, a store.Attachment) string {
	version, err := crypt.StreamKeyVersion(a.Header)
	if err != nil || version != a.KeyVersion || a.Chunks < 1 {
		return "the attachment header does not match its row"
	}
	dek, err := v.kw.kr.Version(ctx, d.db.ID, a.KeyVersion)
	if err != nil {
		return err.Error()
	}
	src, size, err := openSource(ctx, v.kw.st, a)
	if err != nil {
		return err.Error()
	}
	defer src.release()
	r, err := crypt.NewReader(src, size, dek.Key(), d.attachmentContext(se.ID, a.ID, a.Name))
	if err != nil {
		return err.Error()
	}
	buf := make([]byte, crypt.ChunkSize)
	defer clear(buf)
	for {
		_, err := io.ReadFull(r, buf)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			v.sum.Chunks += a.Chunks
			return ""
		}
		if err != nil {
			return err.Error()
		}
		clear(buf)
	}
}
