// Package keyward keeps an application's sensitive data — credentials,
// connection settings, API tokens, documents, attachments — encrypted at
// rest in a SQL database, and manages the keys that protect it.
//
// # Words
//
//   - Deployment: one keyward store, named by a random deployment id that is
//     bound into every ciphertext, so data copied between deployments does
//     not open.
//   - Root key: a random 256-bit key per deployment. It never touches disk
//     in the clear; it is stored once per slot, wrapped.
//   - Slot: one way to unlock the root key, like a LUKS key slot. A slot
//     names a master-key provider (see package masterkey) and holds the root
//     key wrapped by that provider's key-encryption key (KEK). Slots are
//     tried in priority order; adding or removing one never touches data.
//   - Recovery key: a slot made at Init whose KEK comes from a random key
//     shown to the user once (grouped base32). It unlocks when every other
//     key source is lost.
//   - Database: a named set of entries with its own data keys.
//   - Data key (DEK): a per-database AES-256 key, in numbered versions, each
//     wrapped by the root key. The primary version encrypts new writes;
//     active versions only decrypt; retired versions hold no data.
//   - Entry: a record at a path in a database: plaintext metadata (path,
//     type, tags, timestamps, revision, key version) and encrypted fields.
//   - Attachment: a file stored under an entry, encrypted in 64 KiB chunks
//     so it streams in constant memory and can be read by range.
//
// # Use
//
// Init a data directory once, then Open it (which unlocks it with the
// first slot that works), pick a Database and Put, Get, List and Delete
// entries. Writes use optimistic concurrency: pass the Revision you read to
// make a write fail with ErrConflict if someone else wrote in between.
//
// # Errors
//
// Errors wrap sentinels (ErrNotFound, ErrExists, ErrConflict, ErrSealed,
// ErrNotInitialized, ErrSchemaTooNew) and typed errors (*IntegrityError,
// *keyring.UnlockError) that say what to do next. No error ever contains a
// key or a plaintext value.
package keyward
