package keyward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/keyring"
	"github.com/keyward/keyward/store"
)

// entryBatch re-encrypts the next batch of entries of sd that are below its
// target, and commits them with the cursor. At the end of the entries it
// moves on to the attachments. While a batch commits, the next one is read
// and sealed (entryAhead): the commit is SQLite's work on the writer
// connection, the read is on a reader connection and the sealing is CPU, so
// they overlap.
func (r *runner) entryBatch(ctx context.Context, sd specDB) error {
	b := r.takeAhead()
	if b == nil {
		b = r.prepareEntries(ctx, sd, r.cur.Pass, r.cur.DB, r.cur.After)
	}
	if b.err != nil {
		return b.err
	}
	if b.rows == 0 {
		cur := r.cur
		cur.Phase, cur.After = 1, ""
		return r.save(ctx, cur, r.counts)
	}
	r.startAhead(ctx, sd, b.last)
	counts := r.counts
	counts.Failed = append([]string(nil), counts.Failed...)
	for _, id := range b.failed {
		addFailed(&counts, id)
	}
	cur := r.cur
	cur.After = b.last
	var nextCur = cur
	var nextCounts = counts
	_, err := r.kw.st.RewriteEntries(ctx, r.lease, b.rw, func(applied []bool) store.JobProgress {
		nextCur, nextCounts = cur, counts
		for _, ok := range applied {
			if ok {
				nextCounts.Entries++
			} else {
				nextCounts.Skipped++
			}
		}
		nextCur.Changed += int64(len(applied))
		return progressOf(nextCur, nextCounts)
	})
	if err != nil {
		r.dropAhead()
		return err
	}
	r.cur, r.counts = nextCur, nextCounts
	r.report(sd.Name, "entries", b.rows)
	return nil
}

// entryPrep is a batch of entries read and re-encrypted, not committed.
type entryPrep struct {
	pass, db int    // where the cursor was when it was read
	after    string // the cursor's After it was read from
	rows     int    // rows read
	last     string // id of the last row read
	rw       []store.EntryRewrite
	failed   []string // ids of rows that do not decrypt
	err      error
}

// entryAhead is the preparation of the next batch, running.
type entryAhead struct {
	cancel context.CancelFunc
	done   chan struct{}
	prep   *entryPrep
}

// prepareEntries reads the batch of sd after the id after and re-encrypts
// it. It touches no state of r but the limiter and the reservations, which
// only it uses while a preparation runs.
func (r *runner) prepareEntries(ctx context.Context, sd specDB, pass, db int, after string) *entryPrep {
	p := &entryPrep{pass: pass, db: db, after: after}
	rows, err := r.kw.st.EntriesBelow(ctx, sd.ID, sd.Target, after, r.spec.Batch)
	if err != nil || len(rows) == 0 {
		p.err = err
		return p
	}
	p.rows, p.last = len(rows), rows[len(rows)-1].ID
	if p.err = r.lim.wait(ctx, len(rows)); p.err != nil {
		return p
	}
	dek, err := r.reserve(ctx, sd, len(rows))
	if err != nil {
		p.err = err
		return p
	}
	d := &Database{kw: r.kw, db: store.Database{ID: sd.ID, Name: sd.Name}}
	p.rw = make([]store.EntryRewrite, 0, len(rows))
	for _, e := range rows {
		ct, err := r.reencryptEntry(ctx, d, e, dek)
		if isUndecryptable(err) {
			p.failed = append(p.failed, e.ID)
			continue
		}
		if err != nil {
			p.err = err
			return p
		}
		p.rw = append(p.rw, store.EntryRewrite{ID: e.ID, Revision: e.Revision, OldVersion: e.KeyVersion,
			NewVersion: sd.Target, Ciphertext: ct})
	}
	return p
}

// startAhead starts preparing the batch of sd after the id after, for the
// cursor's current pass and database.
func (r *runner) startAhead(ctx context.Context, sd specDB, after string) {
	r.dropAhead()
	actx, cancel := context.WithCancel(ctx)
	a := &entryAhead{cancel: cancel, done: make(chan struct{})}
	pass, db := r.cur.Pass, r.cur.DB
	go func() {
		defer close(a.done)
		a.prep = r.prepareEntries(actx, sd, pass, db, after)
	}()
	r.ahead = a
}

// takeAhead waits for the batch being prepared and returns it if it starts
// where the cursor is now; otherwise (or if none runs) nil.
func (r *runner) takeAhead() *entryPrep {
	a := r.ahead
	if a == nil {
		return nil
	}
	r.ahead = nil
	<-a.done
	a.cancel()
	p := a.prep
	if p.pass != r.cur.Pass || p.db != r.cur.DB || r.cur.Phase != 0 || p.after != r.cur.After {
		return nil
	}
	return p
}

// dropAhead stops the batch being prepared, if any, and waits for it. Its
// ciphertexts are dropped unwritten; its reservation stays counted.
func (r *runner) dropAhead() {
	if a := r.ahead; a != nil {
		r.ahead = nil
		a.cancel()
		<-a.done
	}
}

// reencryptEntry opens an entry's ciphertext with its version and seals it
// again with dek. The plaintext is wiped.
func (r *runner) reencryptEntry(ctx context.Context, d *Database, e store.Entry, dek *keyring.DEK) ([]byte, error) {
	old, err := r.kw.kr.Version(ctx, d.db.ID, e.KeyVersion)
	if err != nil {
		return nil, err
	}
	c := d.entryContext(e.ID, e.Path)
	pt, err := crypt.OpenRecord(old.AEAD, c, e.Ciphertext)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return crypt.SealRecord(dek.AEAD, dek.Version, c, pt), nil
}

// attachmentStep re-encrypts the next attachment of sd that is below its
// target into a new attachment and swaps it in with the cursor. At the
// end of the attachments it moves on to the next database.
func (r *runner) attachmentStep(ctx context.Context, sd specDB) error {
	list, err := r.kw.st.AttachmentsBelow(ctx, sd.ID, sd.Target, r.cur.After, 1)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		cur := r.cur
		cur.DB, cur.Phase, cur.After = cur.DB+1, 0, ""
		return r.save(ctx, cur, r.counts)
	}
	a := list[0]
	if err := r.lim.wait(ctx, 1); err != nil {
		return err
	}
	d := &Database{kw: r.kw, db: store.Database{ID: sd.ID, Name: sd.Name}}
	cur := r.cur
	cur.After = a.ID
	counts := r.counts
	counts.Failed = append([]string(nil), counts.Failed...)
	err = r.reencryptAttachment(ctx, d, sd, a, cur, counts)
	switch {
	case isUndecryptable(err):
		addFailed(&counts, "attachment:"+a.ID)
		err = r.save(ctx, cur, counts)
	case errors.Is(err, store.ErrNotFound): // deleted meanwhile
		counts.Skipped++
		cur.Changed++
		err = r.save(ctx, cur, counts)
	}
	if err == nil {
		r.report(sd.Name, "attachments", 1)
	}
	return err
}

// reencryptAttachment streams attachment a through a decrypting reader
// into a new attachment under sd's target key, chunk by chunk (memory does
// not depend on its size), and commits it in a's place with the cursor.
func (r *runner) reencryptAttachment(ctx context.Context, d *Database, sd specDB, a store.Attachment, cur jobCursor, counts api.JobCounts) error {
	version, err := crypt.StreamKeyVersion(a.Header)
	if err != nil || version != a.KeyVersion || a.Chunks < 1 {
		return fmt.Errorf("attachment header does not match its row: %w", crypt.ErrFormat)
	}
	old, err := r.kw.kr.Version(ctx, sd.ID, a.KeyVersion)
	if err != nil {
		return err
	}
	src, size, err := openSource(ctx, r.kw.st, a)
	if err != nil {
		return err
	}
	defer src.release()
	rd, err := crypt.NewReader(src, size, old.Key(), d.attachmentContext(a.EntryID, a.ID, a.Name))
	if err != nil {
		return err
	}
	dek, err := r.reserve(ctx, sd, 1)
	if err != nil {
		return err
	}
	na := store.Attachment{ID: newID(), EntryID: a.EntryID, Name: a.Name, KeyVersion: sd.Target}
	sealer, err := crypt.NewStreamSealer(dek.Key(), sd.Target, d.attachmentContext(a.EntryID, na.ID, a.Name))
	if err != nil {
		return err
	}
	defer sealer.Close()
	na.Header = sealer.Header()
	w, err := r.kw.st.BeginAttachment(ctx, na)
	if err != nil {
		return err // ErrNotFound: the entry was deleted
	}
	defer func() { _ = w.Abort(context.WithoutCancel(ctx)) }() // no-op after a commit
	tr := &trackedReader{r: rd}
	final, err := sealChunks(ctx, tr, sealer, w, na)
	if err != nil {
		if tr.err != nil {
			return tr.err // the old attachment's read: undecryptable, or deleted
		}
		return err
	}
	nextCur, nextCounts := cur, counts
	_, err = r.kw.st.CommitAttachmentRewrite(ctx, r.lease, w, final, a.ID, func(swapped bool) store.JobProgress {
		nextCur, nextCounts = cur, counts
		if swapped {
			nextCounts.Attachments++
		} else {
			nextCounts.Skipped++
		}
		nextCur.Changed++
		return progressOf(nextCur, nextCounts)
	})
	if err != nil {
		return err
	}
	r.cur, r.counts = nextCur, nextCounts
	return nil
}

// trackedReader remembers the error of the reader it wraps, to tell it
// from the store's.
type trackedReader struct {
	r   io.Reader
	err error
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// endPass runs when a pass has gone through every database. The pass is
// the last if it started after the settling time and changed nothing;
// otherwise another pass starts (after the settling time).
func (r *runner) endPass(ctx context.Context) (bool, error) {
	settled := r.spec.Switched.Add(regenSettle)
	if !r.cur.PassStart.IsZero() && !r.cur.PassStart.Before(settled) && r.cur.Changed == 0 {
		return true, nil
	}
	if r.cur.Pass+1 >= maxPasses {
		return true, nil // finish reports what is left
	}
	if wait := time.Until(settled); wait > 0 {
		r.report("", "verify", 0)
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
		}
	}
	counts := r.counts
	counts.Pass, counts.Failed, counts.FailedCount = r.cur.Pass+1, nil, 0
	return false, r.save(ctx, jobCursor{Pass: r.cur.Pass + 1, PassStart: time.Now().UTC()}, counts)
}

// finish verifies that nothing is left on the old versions and retires
// them; otherwise it fails the job, naming the rows that do not decrypt.
// Rows that reached an old version after the last pass (a writer that
// had not learnt the new primary yet) start another pass.
func (r *runner) finish(ctx context.Context) error {
	var left int64
	var where []string
	for _, sd := range r.spec.Databases {
		usage, err := r.kw.st.KeyUsage(ctx, sd.ID)
		if err != nil {
			return err
		}
		for _, u := range usage {
			if u.Version < sd.Target && u.Entries+u.Attachments > 0 {
				left += u.Entries + u.Attachments
				where = append(where, fmt.Sprintf("%s v%d: %d entries, %d attachments", sd.Name, u.Version, u.Entries, u.Attachments))
			}
		}
	}
	if left > r.counts.FailedCount && r.cur.Pass+1 < maxPasses {
		counts := r.counts
		counts.Pass, counts.Failed, counts.FailedCount = r.cur.Pass+1, nil, 0
		return r.save(ctx, jobCursor{Pass: r.cur.Pass + 1, PassStart: time.Now().UTC()}, counts)
	}
	if left > 0 {
		msg := fmt.Sprintf("%d rows are still on old key versions (%s)", left, strings.Join(where, "; "))
		if r.counts.FailedCount > 0 {
			msg += fmt.Sprintf("; %d do not decrypt (ids in the job's progress): restore them from a backup or delete them, then run `keyward keys regenerate` again", r.counts.FailedCount)
		}
		return r.end(ctx, store.JobFailed, msg)
	}
	for _, sd := range r.spec.Databases {
		for _, v := range sd.Old {
			if v >= sd.Target {
				continue
			}
			err := r.kw.st.SetDataKeyState(ctx, sd.ID, v, store.KeyRetired)
			if err != nil && !errors.Is(err, store.ErrNotFound) { // destroyed already
				return r.end(ctx, store.JobFailed, fmt.Sprintf("retire %s version %d: %v", sd.Name, v, err))
			}
		}
	}
	r.report("", "verify", 0)
	return r.end(ctx, store.JobDone, "")
}

// end records the job's final state. A failed job's error is also
// returned.
func (r *runner) end(ctx context.Context, state store.JobState, msg string) error {
	if _, err := r.kw.st.SetJobState(ctx, r.lease.JobID, []store.JobState{store.JobRunning}, state, msg); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errStopped // paused or cancelled at the last moment
		}
		return err
	}
	r.kw.log.Info("job ended", "job", r.lease.JobID, "state", state.String())
	if state == store.JobFailed {
		return fmt.Errorf("keyward: job %s failed: %s", r.lease.JobID, msg)
	}
	return nil
}

// restoreMaintenance puts back the maintenance switch an offline job found.
func (kw *Keyward) restoreMaintenance(ctx context.Context, spec jobSpec) {
	if !spec.Offline || spec.Previous == nil {
		return
	}
	p := spec.Previous
	if _, err := kw.SetMaintenance(ctx, p.Enabled, p.Reason); err != nil {
		kw.log.Warn("could not restore the maintenance switch", "error", err)
	}
}

// limiter is a token bucket of entries per second (rate 0: no limit),
// holding up to one second of tokens.
type limiter struct {
	rate   float64
	tokens float64
	last   time.Time
}

// wait takes n tokens, sleeping as long as needed.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l.rate <= 0 {
		return nil
	}
	now := time.Now()
	if l.last.IsZero() {
		l.tokens = l.rate
	} else {
		l.tokens = min(l.tokens+now.Sub(l.last).Seconds()*l.rate, l.rate)
	}
	l.last = now
	l.tokens -= float64(n)
	if l.tokens >= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(-l.tokens / l.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
