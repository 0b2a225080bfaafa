// Package client is the Go client of keyward's HTTP API (the routes under
// /v1 that `keyward serve` answers). The keyward CLI uses it in client mode;
// applications can use it to read their secrets from a keyward server
// without linking the storage engine.
//
// # Connecting
//
// New takes the server's base URL and options: WithToken (an API token,
// sent as a bearer token), WithCACertFile or WithTLSConfig (a private CA, a
// client certificate), WithHTTPClient and WithUserAgent. It refuses an
// http:// URL to any host but loopback, because the token and the secrets
// would cross the network in clear; WithInsecureHTTP overrides that.
//
// # Calls
//
// Every method takes a context and mirrors one route: Health, Status,
// Unlock, Maintenance and SetMaintenance; Databases and CreateDatabase;
// Get, Put (compare and swap with PutEntry.Revision), Create, Delete, List
// (one page) and Entries or ListAll (every page); PutAttachment (streams,
// in constant memory), OpenAttachment and OpenAttachmentRange, Attachments,
// DeleteAttachment; CreateToken, Tokens and DeleteToken. Bodies are the
// wire types of package api.
//
// # Errors
//
// An error response is an *Error holding the HTTP status, the api.Code*
// code, the server's message and, where it applies, the failed entry's id,
// each slot's reason and Retry-After. errors.Is matches it against the
// sentinels ErrNotFound, ErrExists, ErrConflict, ErrSealed, ErrMaintenance,
// ErrIntegrity and the others of this package, which mirror the root
// package's. A request that got no answer is a *TransportError. No error
// ever holds the token.
package client
