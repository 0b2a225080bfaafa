package masterkey

import "github.com/keyward/keyward/secret"

// ParseExecOutput exposes parseExecOutput to the fuzz test.
var ParseExecOutput = parseExecOutput

// CleanStderr exposes cleanStderr to the tests.
var CleanStderr = cleanStderr

// SealKEKNonce seals a key-file-family blob (auto, file, exec, recovery)
// with the given nonce instead of a random one.
var SealKEKNonce = sealKEKNonce

// EnvWrapWith is the env provider p's Wrap with the given salt and nonce
// instead of random ones.
func EnvWrapWith(p Provider, root *secret.Key, ad, salt, nonce []byte) ([]byte, error) {
	return p.(*envProvider).wrapWith(root, ad, salt, nonce)
}

// Offsets in an env blob: version | time | memory | threads | salt | nonce.
const (
	EnvParamsEnd = 1 + 4 + 4 + 1
	EnvSaltEnd   = envHeaderSize
)
