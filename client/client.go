package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultUserAgent is the User-Agent of requests unless WithUserAgent sets
// another.
const DefaultUserAgent = "keyward-client/1"

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// Client calls keyward's HTTP API. It is safe for concurrent use.
type Client struct {
	base      *url.URL // scheme://host[/prefix], without a trailing slash
	token     string
	userAgent string
	hc        *http.Client
}

// Option configures a Client.
type Option func(*options) error

type options struct {
	token     string
	tls       *tls.Config
	caFile    string
	hc        *http.Client
	userAgent string
	insecure  bool
}

// WithToken authenticates every request with the API token (sent as
// "Authorization: Bearer …"; it never appears in an error).
func WithToken(token string) Option {
	return func(o *options) error {
		if strings.ContainsAny(token, " \t\r\n") {
			return errors.New("client: the token contains white space; copy it again")
		}
		o.token = token
		return nil
	}
}

// WithTLSConfig sets the TLS configuration, e.g. a private CA in RootCAs or
// a client certificate.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(o *options) error { o.tls = cfg; return nil }
}

// WithCACertFile trusts the PEM certificates in file (a private CA) in
// addition to nothing else: only servers whose certificate chains to them
// are accepted.
func WithCACertFile(file string) Option {
	return func(o *options) error { o.caFile = file; return nil }
}

// WithHTTPClient makes requests with hc. It excludes WithTLSConfig and
// WithCACertFile: configure hc's transport instead.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error { o.hc = hc; return nil }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(o *options) error { o.userAgent = ua; return nil }
}

// WithInsecureHTTP allows an http:// URL to a host that is not loopback.
// Tokens, passphrases and secret values then cross the network in clear:
// use it only on a network you trust completely.
func WithInsecureHTTP() Option {
	return func(o *options) error { o.insecure = true; return nil }
}

// New returns a client of the server at baseURL ("https://keyward.internal:8443";
// a path, if any, is the prefix in front of /v1). An http:// URL is refused
// unless its host is loopback (localhost, 127.0.0.1, ::1) or
// WithInsecureHTTP is given.
func New(baseURL string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	u, err := parseBase(baseURL, o.insecure)
	if err != nil {
		return nil, err
	}
	hc, err := o.httpClient()
	if err != nil {
		return nil, err
	}
	ua := o.userAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	return &Client{base: u, token: o.token, userAgent: ua, hc: hc}, nil
}

func parseBase(raw string, insecure bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("client: server address %q: want http(s)://HOST[:PORT], e.g. https://keyward.example:8443", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: server address %s: remove the user, query or fragment", u.Redacted())
	}
	if u.Scheme == "http" && !insecure && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("client: refusing http://%s: tokens and secrets would cross the network in clear; use https:// (or http:// only to localhost)", u.Host)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (o *options) httpClient() (*http.Client, error) {
	if o.hc != nil {
		if o.tls != nil || o.caFile != "" {
			return nil, errors.New("client: WithHTTPClient excludes WithTLSConfig and WithCACertFile; set TLSClientConfig on the client's transport")
		}
		return o.hc, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.tls != nil {
		cfg = o.tls.Clone()
	}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("client: CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client: CA certificate %s holds no PEM certificate", o.caFile)
		}
		cfg.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{
		Transport: tr,
		// The API never redirects; following one could send the token
		// somewhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("client: the server answered with a redirect, which the keyward API never does; check the server address")
		},
	}, nil
}

// URL returns the server's base URL.
func (c *Client) URL() string { return c.base.String() }

// request is one API call.
type request struct {
	method string
	path   string // escaped, after the base URL: "/v1/db"
	query  url.Values
	header http.Header
	body   io.Reader
	size   int64 // of body; -1 unknown
	ctype  string
	// alsoOK is a non-2xx status whose body is a normal answer (health's 503).
	alsoOK int
}

func jsonRequest(method, path string, v any) (*request, error) {
	r := &request{method: method, path: path}
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		r.body, r.size, r.ctype = bytes.NewReader(b), int64(len(b)), "application/json"
	}
	return r, nil
}

// send performs r and returns the response when its status is 2xx; any
// other status becomes an *Error. The caller closes the body.
func (c *Client) send(ctx context.Context, r *request) (*http.Response, error) {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + r.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	u.Path = p
	u.RawQuery = r.query.Encode()
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), r.body)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	maps.Copy(req.Header, r.header)
	if r.body != nil {
		req.ContentLength = r.size
		if r.size == 0 {
			req.Body = http.NoBody
		}
		req.Header.Set("Content-Type", r.ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &TransportError{Method: r.method, URL: c.base.Redacted(), Err: unwrapURLError(err)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 || resp.StatusCode == r.alsoOK {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, parseError(resp)
}

// unwrapURLError drops the *url.Error around a transport error: its text
// repeats the method and URL, which TransportError says once.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// do performs r and decodes a JSON response into out (unless out is nil).
func (c *Client) do(ctx context.Context, r *request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	return decodeJSON(resp, out)
}

func decodeJSON(resp *http.Response, out any) error {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("client: %s %s: the server sent %q, not JSON; is this the keyward API?",
			resp.Request.Method, resp.Request.URL.Path, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("client: %s %s: malformed response: %w", resp.Request.Method, resp.Request.URL.Path, err)
	}
	return nil
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
