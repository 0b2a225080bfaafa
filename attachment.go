package keyward

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/keyward/keyward/crypt"
	"github.com/keyward/keyward/store"
)

// Attachment describes a stored file.
type Attachment struct {
	Name       string
	Size       int64
	KeyVersion uint32
	Created    time.Time
}

// PutAttachment stores r as the attachment name of the entry at path,
// replacing one of the same name atomically. Memory use does not depend on
// the size of r. If r fails or ctx ends midway, nothing is stored.
func (d *Database) PutAttachment(ctx context.Context, path, name string, r io.Reader) (Attachment, error) {
	if err := checkAttachmentName(name); err != nil {
		return Attachment{}, err
	}
	se, err := d.kw.st.Entry(ctx, d.db.ID, path)
	if err != nil {
		return Attachment{}, d.notFound(path, err)
	}
	dek, err := d.kw.kr.Encrypter(ctx, d.db.ID)
	if err != nil {
		return Attachment{}, err
	}
	a := store.Attachment{ID: newID(), EntryID: se.ID, Name: name, KeyVersion: dek.Version}
	sealer, err := crypt.NewStreamSealer(dek.Key(), dek.Version, d.attachmentContext(se.ID, a.ID, name))
	if err != nil {
		return Attachment{}, err
	}
	defer sealer.Close()
	a.Header = sealer.Header()
	w, err := d.kw.st.BeginAttachment(ctx, a)
	if err != nil {
		return Attachment{}, d.notFound(path, err)
	}
	final, err := sealChunks(ctx, r, sealer, w, a)
	if err != nil {
		_ = w.Abort(context.WithoutCancel(ctx))
		return Attachment{}, fmt.Errorf("keyward: attachment %q of entry %q not stored: %w", name, path, err)
	}
	stored, err := w.Commit(ctx, final)
	if err != nil {
		_ = w.Abort(context.WithoutCancel(ctx))
		return Attachment{}, d.notFound(path, err)
	}
	return toAttachment(stored), nil
}

// Attachments lists the attachments of the entry at path.
func (d *Database) Attachments(ctx context.Context, path string) ([]Attachment, error) {
	se, err := d.kw.st.Entry(ctx, d.db.ID, path)
	if err != nil {
		return nil, d.notFound(path, err)
	}
	as, err := d.kw.st.Attachments(ctx, se.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Attachment, len(as))
	for i, a := range as {
		out[i] = toAttachment(a)
	}
	return out, nil
}

// DeleteAttachment removes one attachment. ErrNotFound if it does not exist.
func (d *Database) DeleteAttachment(ctx context.Context, path, name string) error {
	se, err := d.kw.st.Entry(ctx, d.db.ID, path)
	if err != nil {
		return d.notFound(path, err)
	}
	if err := d.kw.st.DeleteAttachment(ctx, se.ID, name); err != nil {
		return fmt.Errorf("keyward: attachment %q of entry %q: %w", name, path, err)
	}
	return nil
}

// attachmentContext binds an attachment's chunks to its deployment,
// database, entry, own id and name.
func (d *Database) attachmentContext(entryID, attID, name string) crypt.Context {
	return crypt.Context{Deployment: d.kw.DeploymentID(), Database: d.db.ID,
		Record: entryID + ":" + attID + ":" + name, Purpose: "attachment"}
}

func toAttachment(a store.Attachment) Attachment {
	return Attachment{Name: a.Name, Size: a.Size, KeyVersion: a.KeyVersion, Created: a.Created}
}
