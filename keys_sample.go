package keyward

import (
	"context"
	"errors"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// rowSample is one stored row encrypted under a key version, to find out
// which key opens it: an entry with its ciphertext, or an attachment with
// its first chunk.
type rowSample struct {
	entry *store.Entry
	att   *store.Attachment
	chunk []byte
}

// samplePage is how many entries findSamples reads at a time.
const samplePage = 1000

// findSamples returns, for each version in want (with its usage), one row
// stored under it: an entry when the version has entries, else an
// attachment. It reads the database's entry metadata page by page until
// every version is found, and an entry's attachments only while a version
// used only by attachments is still missing. A version whose rows vanish
// meanwhile is left out.
func (d *Database) findSamples(ctx context.Context, want map[uint32]store.KeyUsage) (map[uint32]rowSample, error) {
	st := d.kw.st
	needEntry, needAtt := map[uint32]bool{}, map[uint32]bool{}
	for v, u := range want {
		switch {
		case u.Entries > 0:
			needEntry[v] = true
		case u.Attachments > 0:
			needAtt[v] = true
		}
	}
	out := map[uint32]rowSample{}
	for after := ""; len(needEntry)+len(needAtt) > 0; {
		page, err := st.Entries(ctx, d.db.ID, "", after, samplePage)
		if err != nil || len(page) == 0 {
			return out, err
		}
		for _, e := range page {
			if needEntry[e.KeyVersion] {
				full, err := st.Entry(ctx, d.db.ID, e.Path)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return out, err
				}
				if err == nil && full.KeyVersion == e.KeyVersion {
					out[e.KeyVersion] = rowSample{entry: &full}
					delete(needEntry, e.KeyVersion)
				}
			}
			if len(needAtt) > 0 {
				if err := d.sampleAttachments(ctx, e.ID, needAtt, out); err != nil {
					return out, err
				}
			}
		}
		after = page[len(page)-1].Path
	}
	return out, nil
}

// sampleAttachments adds to out the first chunk of an attachment of the
// entry for each version in need, and takes it out of need.
func (d *Database) sampleAttachments(ctx context.Context, entryID string, need map[uint32]bool, out map[uint32]rowSample) error {
	atts, err := d.kw.st.Attachments(ctx, entryID)
	if err != nil {
		return err
	}
	for _, a := range atts {
		if !need[a.KeyVersion] || a.Chunks < 1 {
			continue
		}
		chunk, err := d.kw.st.AttachmentChunk(ctx, a.ID, 0)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		out[a.KeyVersion] = rowSample{att: &a, chunk: chunk}
		delete(need, a.KeyVersion)
	}
	return nil
}

// name names the sample's row, for messages.
func (s rowSample) name() string {
	if s.entry != nil {
		return "entry id " + s.entry.ID
	}
	return "attachment id " + s.att.ID
}

// opens reports whether key opens the sample (nil key: false).
func (d *Database) opens(s rowSample, key *secret.Key) bool {
	if key == nil {
		return false
	}
	if s.entry != nil {
		aead, err := crypt.NewAEAD(key)
		if err != nil {
			return false
		}
		pt, err := crypt.OpenRecord(aead, d.entryContext(s.entry.ID, s.entry.Path), s.entry.Ciphertext)
		clear(pt)
		return err == nil
	}
	o, err := crypt.NewStreamOpener(key, s.att.Header, d.attachmentContext(s.att.EntryID, s.att.ID, s.att.Name))
	if err != nil {
		return false
	}
	defer o.Close()
	pt, err := o.OpenChunk(nil, 0, s.chunk, s.att.Chunks == 1)
	clear(pt)
	return err == nil
}

// usageOf returns a database's key usage by version, counting only
// versions that rows use.
func (kw *Keyward) usageOf(ctx context.Context, dbID string) (map[uint32]store.KeyUsage, error) {
	us, err := kw.st.KeyUsage(ctx, dbID)
	if err != nil {
		return nil, err
	}
	out := map[uint32]store.KeyUsage{}
	for _, u := range us {
		if u.Entries+u.Attachments > 0 {
			out[u.Version] = u
		}
	}
	return out, nil
}
