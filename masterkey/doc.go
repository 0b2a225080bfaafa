// Package masterkey protects a deployment's root key with master-key
// providers.
//
// # Terms
//
//   - Root key: the random 256-bit key at the top of keyward's hierarchy.
//     It wraps the data keys (DEKs); it is never stored in the clear.
//   - KEK (key-encryption key): a 256-bit key that a provider obtains
//     (from a file, a command, a passphrase, a recovery key) and uses to
//     wrap the root key.
//   - Slot: one stored copy of the root key, wrapped by one provider. The
//     keyring package keeps the slots (provider spec plus blob) and tries
//     them in order; this package knows nothing of slot bookkeeping.
//   - Blob: what [Provider.Wrap] returns and [Provider.Unwrap] takes.
//   - ad (associated data): bytes chosen by the caller (deployment id,
//     slot id) that a blob is bound to. They are authenticated, not
//     stored: a blob moved to another slot or deployment fails with
//     [ErrWrongKey].
//
// # Providers
//
// A provider is named by a spec, "kind" or "kind:arg", and made by [New].
// More kinds (TPM, PKCS#11, OS keystores) register themselves from their
// own packages with [Register].
//
//	auto        random 32-byte key file <KeyDir>/<DeploymentID>.key, created
//	            (dir 0700, file 0600) by the first Wrap; the default. KeyDir
//	            is Options.KeyDir, $KEYWARD_KEY_DIR, $XDG_CONFIG_HOME/keyward
//	            or ~/.config/keyward: outside the data directory, so a copy
//	            of the data holds no key.
//	file:PATH   raw 32-byte key file; Wrap creates it (0600) if missing.
//	exec:CMD A  runs CMD with arguments A; its stdout is the key.
//	env:VAR     passphrase in environment variable VAR, through Argon2id.
//	recovery    the recovery key, supplied by Options.RecoveryKey.
//
// Key files (auto, file) must hold exactly 32 bytes ([ErrBadKeyFile]) and,
// on Unix, must not be readable or writable by group or others
// ([ErrInsecure]; the message gives the chmod command). A missing file
// gives [ErrUnavailable]. No provider ever overwrites an existing key file.
//
// exec runs CMD directly, never through a shell: the text after "exec:" is
// split at white space with [strings.Fields], so arguments cannot contain
// spaces and quotes are passed on literally; write a small script for
// anything more. Do not put secrets in the command line: it shows in
// errors (and in ps). CMD inherits keyward's environment, gets no stdin
// and, on Unix, cannot prompt on the terminal (it runs in a background
// process group: a read from /dev/tty stops it until the timeout). It
// must print on stdout exactly 32 raw bytes, or one line of standard
// base64 (padded or not, optionally ending in "\n" or "\r\n") that decodes
// to 32 bytes. Stdout is read into one buffer of at most 4 KiB, which is
// wiped afterwards, and never appears in an error; stderr (trimmed, cut to
// 1 KiB) does. The command runs in a process group of its own that is
// killed when Options.ExecTimeout (default 10s) expires or the context is
// cancelled. Failures are [*ExecError]s that match [ErrExecNotFound],
// [ErrExecFailed], [ErrExecOutput] or [ErrExecTimeout].
//
// env reads the passphrase at every Wrap and Unwrap (unset or empty:
// [ErrUnavailable]) and derives the KEK with Argon2id, using a fresh
// 16-byte salt and Options.KDF (default [DefaultArgon2]) at Wrap. Unwrap
// uses the parameters stored in the blob, so they can be raised for new
// slots without locking out old ones, and refuses absurd ones (time
// outside 1..100, memory outside 8×threads KiB..4 GiB, zero threads) with
// [ErrFormat] before allocating anything.
//
// # Recovery keys
//
// [GenerateRecoveryKey] makes 16 random bytes, appends the first 4 bytes of
// their SHA-256 as a checksum, and writes the 20 bytes as 32 characters of
// RFC 4648 base32 without padding, in 8 groups of 4 joined by '-'. The
// user keeps it on paper. [ParseRecoveryKey] reads it back leniently and
// reports a typo ([ErrRecoveryTypo]) rather than a wrong key; the KEK is
// HKDF-SHA256(secret = the 16 bytes, salt = none, info = "keyward recovery
// v1"), 32 bytes.
//
// # Blob formats
//
// Every blob starts with a format version byte, specific to its provider
// kind; Unwrap refuses other versions and other lengths with [ErrFormat]
// before touching the key source. All integers are big-endian.
//
// auto, file, exec and recovery, version 1, 61 bytes:
//
//	offset  size  field
//	0       1     version = 0x01
//	1       12    nonce, random
//	13      32    AES-256-GCM ciphertext of the root key
//	45      16    AES-256-GCM tag
//
// env, version 1, 86 bytes:
//
//	offset  size  field
//	0       1     version = 0x01
//	1       4     Argon2id time (passes), uint32
//	5       4     Argon2id memory in KiB, uint32
//	9       1     Argon2id threads (lanes), uint8
//	10      16    Argon2id salt, random
//	26      12    nonce, random
//	38      32    AES-256-GCM ciphertext of the root key
//	70      16    AES-256-GCM tag
//
// Call header the bytes before the nonce (1 byte, or 26 for env). For
// every kind the AES-256-GCM key is
//
//	HKDF-SHA256(secret = KEK, salt = none, info = "keyward masterkey <kind> v1"), 32 bytes
//
// so one KEK never serves as the AES key of two providers, and the
// additional data is
//
//	uint32(len(header)) | header | ad
//
// so the version, the Argon2 parameters and the salt are authenticated as
// well as the caller's ad. testdata/vectors.json holds a vector per kind,
// made by an independent implementation of this description.
//
// # Errors
//
// Errors match one of the sentinels in errors.go (test with errors.Is),
// and their message says what to do next: which chmod to run, which
// variable to set, to unlock with the recovery key. Authentication
// failures are one opaque [ErrWrongKey]: a wrong key and a tampered blob
// or ad look the same. No error contains key material or a command's
// stdout.
//
// # Memory
//
// KEKs and root keys live in [secret.Key] and are wiped when no longer
// needed; key files and command output are read into buffers that are
// wiped. Some copies escape that: the passphrase arrives as a Go string
// (environment variables, Options.RecoveryKey), and the AES key schedule
// and the Argon2 work area live in ordinary heap memory until the garbage
// collector reuses them.
package masterkey
