// Package server is keyward's HTTP API: JSON under /v1 (the wire types are
// in package api, the routes in api/openapi.yaml) and Prometheus metrics at
// /metrics. `keyward serve` runs it; a Go program can mount Handler in its
// own http.Server.
//
// # Access
//
// Every route but GET /v1/sys/health and GET /v1/sys/status needs
// `Authorization: Bearer <token>`. A token has a role — admin (everything),
// writer (create and list databases, read and write entries and
// attachments) or reader (read only) — and may be limited to some databases.
// A request is authenticated and authorised before anything else happens:
// one that is refused (401, 403) reads nothing but the token table and
// writes nothing.
//
// Verified tokens are cached for Config.TokenCacheTTL (default 2 s), so a
// read does not pay a hash and a store lookup each time. A token deleted
// through this server stops working at once; one deleted through another
// server (or the CLI) sharing the store stops working here within the TTL.
//
// # Sealed, maintenance, integrity
//
// A server whose keys no slot could unlock still runs: it answers health and
// status, returns 503 "sealed" to data requests, writes nothing, and accepts
// POST /v1/sys/unlock (admin) with a passphrase or the recovery key.
// Maintenance mode (stored in the store, read with a cache of
// Config.MaintenanceTTL, default 1 s) makes data requests answer 503
// "maintenance" with Retry-After, while admin routes go on. A record whose
// ciphertext fails to authenticate fails that request with 500 "integrity"
// naming the entry id, is logged and counted, and is listed in the admin
// status; every other record is served as usual.
//
// # Limits
//
// JSON bodies are capped at Config.MaxBodyBytes (413 above it), attachment
// uploads at Config.MaxAttachmentBytes. Uploads stream into the store and
// downloads out of it in constant memory; their connection deadlines move
// forward as long as bytes flow (Config.StallTimeout), so a large transfer
// is not cut by the server's WriteTimeout while a stalled one is.
package server
