package keyward

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bundle"
	"github.com/keyward/keyward/secret"
	"github.com/keyward/keyward/store"
)

// ErrWrongDeployment is returned for a key export made by another
// deployment: every ciphertext is bound to its deployment id, so its keys
// open nothing here.
var ErrWrongDeployment = errors.New("keyward: the key export belongs to another deployment")

// ImportOptions says how ImportKeys treats the keys it finds.
type ImportOptions struct {
	// Overwrite replaces the stored key of a version whose key in the
	// export differs. The rows encrypted under the stored key no longer
	// open afterwards. Without it such an import is refused.
	Overwrite bool
	// DryRun computes the report and changes nothing.
	DryRun bool
}

// ImportReport says what an import did, or would do.
type ImportReport = api.KeyImportReport

// ImportKeys adds the keys of an export (read and verified with
// bundle.Read) to this deployment, in one store transaction:
//
//   - The export must come from this deployment (ErrWrongDeployment).
//   - Databases are matched by id. A database missing here is created with
//     the export's id and name, unless another database has that name
//     (then nothing is imported).
//   - A version missing here is added. It keeps its exported state (active,
//     retired, primary), except that it never becomes primary in a database
//     that has a primary here: it is added active then, so new writes go on
//     with the key they use now. A created database gets the export's
//     primary version as primary (or its highest version, if the export has
//     no primary for it). Its encryption count starts at 0: the automatic
//     rotation at 2^30 encryptions leaves room for those the key made
//     before it was exported.
//   - A version this store holds with the same key is left as it is.
//   - A version this store holds with another key is a conflict: refused
//     (an error matching ErrConflict, and nothing changes) unless
//     opts.Overwrite, which replaces the wrapped key and keeps the state.
//     The report counts the rows stored under that version, which only one
//     of the two keys opens, and says which key opened a sample of them.
//
// With opts.DryRun nothing changes and conflicts are only reported. The
// report is returned with a conflict error too. ErrSealed while sealed.
func (kw *Keyward) ImportKeys(ctx context.Context, b *bundle.Bundle, opts ImportOptions) (ImportReport, error) {
	rep, err := kw.importKeys(ctx, b, opts)
	if opts.DryRun {
		return rep, err // changes nothing: not audited
	}
	op := "keys.import"
	if opts.Overwrite {
		op = "keys.import.overwrite"
	}
	return rep, kw.Audit(ctx, op, "export of "+b.DeploymentID+" made "+b.Created.Format(time.RFC3339), err)
}

// importKeys is ImportKeys, shared with PutDataKey.
func (kw *Keyward) importKeys(ctx context.Context, b *bundle.Bundle, opts ImportOptions) (ImportReport, error) {
	if kw.Sealed() {
		return ImportReport{}, fmt.Errorf("keyward: import keys: %w", ErrSealed)
	}
	if err := kw.sameDeployment(b); err != nil {
		return ImportReport{}, err
	}
	p, err := kw.planImport(ctx, b, opts.Overwrite)
	if err != nil {
		return ImportReport{}, err
	}
	p.report.DryRun = opts.DryRun
	if opts.DryRun {
		return p.report, nil
	}
	if err := conflictError(p.report); err != nil {
		return p.report, err
	}
	if err := kw.applyImport(ctx, p); err != nil {
		return p.report, err
	}
	return p.report, nil
}

func (kw *Keyward) sameDeployment(b *bundle.Bundle) error {
	if b.DeploymentID != kw.DeploymentID() {
		return fmt.Errorf("%w: the export is of deployment %s, this is deployment %s; "+
			"every ciphertext is bound to its deployment, so these keys open nothing here: "+
			"import an export of this deployment; nothing was imported", ErrWrongDeployment, b.DeploymentID, kw.DeploymentID())
	}
	return nil
}

// importPlan is what an import changes: its report and the store changes,
// with the export's raw keys (owned by the bundle) still to be wrapped.
type importPlan struct {
	report  ImportReport
	create  []store.Database
	add     []plannedKey
	replace []plannedKey
}

type plannedKey struct {
	dbID    string
	version uint32
	state   store.KeyState
	created time.Time
	key     *secret.Key
	old     []byte // the wrapped key replaced
}

func (kw *Keyward) planImport(ctx context.Context, b *bundle.Bundle, overwrite bool) (*importPlan, error) {
	dbs, err := kw.st.Databases(ctx)
	if err != nil {
		return nil, err
	}
	byID, byName := map[string]store.Database{}, map[string]store.Database{}
	for _, db := range dbs {
		byID[db.ID], byName[db.Name] = db, db
	}
	p := &importPlan{report: ImportReport{DeploymentID: b.DeploymentID, Exported: b.Created, Databases: []api.KeyImportDatabase{}}}
	for i, bdb := range b.Databases {
		if slices.ContainsFunc(b.Databases[:i], func(o bundle.Database) bool { return o.ID == bdb.ID || o.Name == bdb.Name }) {
			return nil, fmt.Errorf("keyward: import keys: %w (database %q appears twice); nothing was imported", bundle.ErrFormat, bdb.Name)
		}
		var rd api.KeyImportDatabase
		if cur, ok := byID[bdb.ID]; ok {
			rd, err = kw.planExisting(ctx, p, cur, bdb, overwrite)
		} else {
			rd, err = p.planCreate(bdb, byName)
		}
		if err != nil {
			return nil, err
		}
		p.report.Databases = append(p.report.Databases, rd)
	}
	return p, nil
}

// planCreate plans a database that does not exist here.
func (p *importPlan) planCreate(bdb bundle.Database, byName map[string]store.Database) (api.KeyImportDatabase, error) {
	rd := api.KeyImportDatabase{Name: bdb.Name, ID: bdb.ID, Keys: []api.KeyImportKey{}}
	if other, taken := byName[bdb.Name]; taken {
		return rd, fmt.Errorf("keyward: import keys: database %q of the export (id %s) does not exist here, and its name is taken by another database (id %s); nothing was imported",
			bdb.Name, bdb.ID, other.ID)
	}
	if err := checkDBName(bdb.Name); err != nil {
		return rd, fmt.Errorf("keyward: import keys: database of the export: %w", err)
	}
	if len(bdb.Keys) == 0 {
		return rd, nil // nothing to create it with; the report shows no key
	}
	rd.Create = true
	primary, created := bdb.Keys[0], bdb.Keys[0].Created
	for _, k := range bdb.Keys {
		if parseState(primary.State) != store.KeyPrimary && (parseState(k.State) == store.KeyPrimary || k.Version > primary.Version) {
			primary = k
		}
		if !k.Created.IsZero() && (created.IsZero() || k.Created.Before(created)) {
			created = k.Created
		}
	}
	p.create = append(p.create, store.Database{ID: bdb.ID, Name: bdb.Name, Created: created})
	for _, k := range bdb.Keys {
		state := parseState(k.State)
		switch {
		case k.Version == primary.Version:
			state = store.KeyPrimary
		case state == store.KeyPrimary:
			state = store.KeyActive
		}
		rd.Keys = append(rd.Keys, p.planAdd(bdb.ID, k, state))
	}
	return rd, nil
}

// planExisting plans the keys of a database that exists here.
func (kw *Keyward) planExisting(ctx context.Context, p *importPlan, cur store.Database, bdb bundle.Database, overwrite bool) (api.KeyImportDatabase, error) {
	rd := api.KeyImportDatabase{Name: cur.Name, ID: cur.ID, Keys: []api.KeyImportKey{}}
	if bdb.Name != cur.Name {
		rd.ExportedName = bdb.Name
	}
	stored, err := kw.st.DataKeys(ctx, cur.ID)
	if err != nil {
		return rd, err
	}
	hasPrimary := slices.ContainsFunc(stored, func(dk store.DataKey) bool { return dk.State == store.KeyPrimary })
	for _, k := range bdb.Keys {
		i := slices.IndexFunc(stored, func(dk store.DataKey) bool { return dk.Version == k.Version })
		if i < 0 {
			state := parseState(k.State)
			if state == store.KeyPrimary && hasPrimary {
				state = store.KeyActive
			}
			hasPrimary = hasPrimary || state == store.KeyPrimary
			rd.Keys = append(rd.Keys, p.planAdd(cur.ID, k, state))
			continue
		}
		rk, err := kw.planStored(ctx, p, cur, stored[i], k, overwrite)
		if err != nil {
			return rd, err
		}
		rd.Keys = append(rd.Keys, rk)
	}
	return rd, nil
}

// planStored compares a version this store holds with the export's key.
func (kw *Keyward) planStored(ctx context.Context, p *importPlan, db store.Database, dk store.DataKey, k bundle.Key, overwrite bool) (api.KeyImportKey, error) {
	rk := api.KeyImportKey{Version: k.Version, State: dk.State.String(), ExportedState: k.State, CheckValue: bundle.CheckValue(k.Key)}
	storedKey, err := kw.kr.UnwrapDataKey(dk) // a key that does not unwrap differs
	if errors.Is(err, ErrSealed) {
		return rk, err
	}
	defer storedKey.Wipe()
	if err == nil && storedKey.Equal(k.Key) {
		rk.Action = api.KeySame
		return rk, nil
	}
	rk.Action = api.KeyConflict
	if overwrite {
		rk.Action = api.KeyReplace
		p.replace = append(p.replace, plannedKey{dbID: db.ID, version: k.Version, key: k.Key, old: dk.Wrapped})
	}
	usage, err := kw.usageOf(ctx, db.ID)
	if err != nil {
		return rk, err
	}
	u, used := usage[k.Version]
	if !used {
		return rk, nil
	}
	rk.Entries, rk.Attachments = u.Entries, u.Attachments
	d := &Database{kw: kw, db: db}
	samples, err := d.findSamples(ctx, map[uint32]store.KeyUsage{k.Version: u})
	if err != nil {
		return rk, err
	}
	if s, ok := samples[k.Version]; ok {
		switch {
		case d.opens(s, storedKey):
			rk.SampleOpens = api.SampleStored
		case d.opens(s, k.Key):
			rk.SampleOpens = api.SampleExported
		default:
			rk.SampleOpens = api.SampleNeither
		}
	}
	return rk, nil
}

func (p *importPlan) planAdd(dbID string, k bundle.Key, state store.KeyState) api.KeyImportKey {
	p.add = append(p.add, plannedKey{dbID: dbID, version: k.Version, state: state, created: k.Created, key: k.Key})
	return api.KeyImportKey{Version: k.Version, Action: api.KeyAdd, State: state.String(), ExportedState: k.State, CheckValue: bundle.CheckValue(k.Key)}
}

// parseState reads an exported state; anything unknown imports as active.
func parseState(s string) store.KeyState {
	switch s {
	case "primary":
		return store.KeyPrimary
	case "retired":
		return store.KeyRetired
	}
	return store.KeyActive
}

// conflictError lists the conflicts of a report, or returns nil.
func conflictError(rep ImportReport) error {
	var list []string
	for _, db := range rep.Databases {
		for _, k := range db.Keys {
			if k.Action == api.KeyConflict {
				list = append(list, fmt.Sprintf("%s version %d (%d entries, %d attachments use it)", db.Name, k.Version, k.Entries, k.Attachments))
			}
		}
	}
	if len(list) == 0 {
		return nil
	}
	return conflictf("keyward: import keys: the store holds another key than the import under %s; "+
		"nothing was imported: see the report of a dry run, and give --overwrite only if the imported key is the one that opens them",
		strings.Join(list, ", "))
}

// keyConflictError is a key version stored with another key than the one
// imported. It matches ErrConflict.
type keyConflictError struct{ msg string }

func (e *keyConflictError) Error() string        { return e.msg }
func (e *keyConflictError) Is(target error) bool { return target == ErrConflict }

func conflictf(format string, args ...any) error {
	return &keyConflictError{msg: fmt.Sprintf(format, args...)}
}

// applyImport wraps the planned keys under the root key and stores them
// (again, under the new root key, if another process rotated it meanwhile).
func (kw *Keyward) applyImport(ctx context.Context, p *importPlan) error {
	if len(p.create)+len(p.add)+len(p.replace) == 0 {
		return nil
	}
	err := kw.kr.WithRoot(ctx, func() error {
		imp, err := kw.wrapImport(p)
		if err != nil {
			return err
		}
		return kw.st.ImportKeys(ctx, imp)
	})
	if err != nil {
		if errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keyward: import keys: the stored keys changed while the import was prepared (%v); nothing was imported: run it again", err)
		}
		return fmt.Errorf("keyward: import keys: %w", err)
	}
	for _, k := range p.replace {
		kw.kr.Forget(k.dbID, k.version)
	}
	return nil
}

// wrapImport wraps the planned keys under the root key, with its check
// value (the caller holds the root key: see Keyring.WithRoot).
func (kw *Keyward) wrapImport(p *importPlan) (store.KeyImport, error) {
	imp := store.KeyImport{Create: p.create}
	wrap := func(k plannedKey) ([]byte, error) {
		w, check, err := kw.kr.WrapDataKey(k.dbID, k.version, k.key)
		if err == nil && imp.Root != nil && !bytes.Equal(imp.Root, check) {
			err = errors.New("keyward: import keys: the root key changed while the keys were wrapped")
		}
		imp.Root = check
		return w, err
	}
	for _, k := range p.add {
		w, err := wrap(k)
		if err != nil {
			return store.KeyImport{}, err
		}
		imp.Add = append(imp.Add, store.DataKey{DatabaseID: k.dbID, Version: k.version, State: k.state, Wrapped: w, Created: k.created})
	}
	for _, k := range p.replace {
		w, err := wrap(k)
		if err != nil {
			return store.KeyImport{}, err
		}
		imp.Replace = append(imp.Replace, store.RewrappedKey{DatabaseID: k.dbID, Version: k.version, Old: k.old, New: w})
	}
	return imp, nil
}
