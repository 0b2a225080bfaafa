package masterkey

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/keyward/keyward/secret"
)

func init() { Register("auto", newAutoProvider) }

// autoProvider keeps a random 32-byte KEK in <KeyDir>/<DeploymentID>.key,
// outside the data directory, so that a copy of the data holds no key.
type autoProvider struct {
	dir    string
	path   string
	dirErr error // set when no key directory could be determined
}

var _ Provider = (*autoProvider)(nil)

func newAutoProvider(arg string, opts Options) (Provider, error) {
	if arg != "" {
		return nil, errf(ErrBadSpec, "masterkey: auto takes no argument (got %q); to keep the key at a path of your choice, use file:PATH", arg)
	}
	if err := checkDeploymentID(opts.DeploymentID); err != nil {
		return nil, err
	}
	p := &autoProvider{}
	p.dir, p.dirErr = keyDir(opts)
	if p.dirErr == nil {
		p.path = filepath.Join(p.dir, opts.DeploymentID+".key")
	}
	return p, nil
}

// checkDeploymentID accepts ids that are safe as a file name on every OS.
func checkDeploymentID(id string) error {
	ok := id != "" && id[0] != '.' && len(id) <= 128
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			ok = false
		}
	}
	if !ok {
		return errf(ErrBadSpec,
			"masterkey: auto needs Options.DeploymentID made of letters, digits, '.', '_' and '-' (not starting with '.'), got %q", id)
	}
	return nil
}

// keyDir resolves the directory of auto's key files: Options.KeyDir, else
// $KEYWARD_KEY_DIR, else $XDG_CONFIG_HOME/keyward (when absolute, as the
// XDG spec requires), else $HOME/.config/keyward.
func keyDir(opts Options) (string, error) {
	if opts.KeyDir != "" {
		return opts.KeyDir, nil
	}
	if v, ok := opts.Getenv("KEYWARD_KEY_DIR"); ok && v != "" {
		return v, nil
	}
	if v, ok := opts.Getenv("XDG_CONFIG_HOME"); ok && filepath.IsAbs(v) {
		return filepath.Join(v, "keyward"), nil
	}
	for _, home := range []string{"HOME", "USERPROFILE"} {
		if v, ok := opts.Getenv(home); ok && v != "" {
			return filepath.Join(v, ".config", "keyward"), nil
		}
	}
	return "", errf(ErrUnavailable,
		"masterkey: auto cannot find a directory for its key file: HOME is not set; set KEYWARD_KEY_DIR to a directory only this user can read")
}

// Wrap creates the key directory (0700) and the key file (0600) when they
// do not exist, and reuses an existing key file.
func (p *autoProvider) Wrap(ctx context.Context, root *secret.Key, ad []byte) ([]byte, error) {
	if err := ctxErr(ctx, "auto"); err != nil {
		return nil, err
	}
	if p.dirErr != nil {
		return nil, p.dirErr
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, fmt.Errorf("masterkey: auto: cannot create key directory %s: %w; create it (mode 0700) or set KEYWARD_KEY_DIR", p.dir, err)
	}
	kek, err := loadOrCreateKeyFile(p.path)
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	return sealKEK("auto", kek, root, ad)
}

// Unwrap reads the key file and opens blob. It never creates the file.
func (p *autoProvider) Unwrap(ctx context.Context, blob, ad []byte) (*secret.Key, error) {
	if err := ctxErr(ctx, "auto"); err != nil {
		return nil, err
	}
	if err := checkKEKBlob("auto", blob); err != nil {
		return nil, err
	}
	if p.dirErr != nil {
		return nil, p.dirErr
	}
	kek, err := readKeyFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errf(ErrUnavailable,
			"masterkey: auto: key file %s does not exist: the data was initialised on another machine or as another user, or the file was deleted; unlock with the recovery key, then add a slot for this machine (keyward slot add auto)",
			p.path)
	}
	if err != nil {
		return nil, err
	}
	defer kek.Wipe()
	root, err := openKEK("auto", kek, blob, ad)
	if errors.Is(err, ErrWrongKey) {
		return nil, wrongKeyFileError(p.path)
	}
	return root, err
}
