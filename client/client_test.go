package client_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/internal/apifake"
)

const adminToken = "kwt_admin-secret-0123456789"

// recorder wraps a handler and remembers the requests it saw.
type recorder struct {
	h    http.Handler
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	r.mu.Unlock()
	r.h.ServeHTTP(w, req)
}

func (r *recorder) last() *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// setup starts a fake API server and returns it with an admin client.
func setup(t *testing.T) (*apifake.Server, *recorder, *client.Client) {
	t.Helper()
	fake := apifake.New(adminToken)
	rec := &recorder{h: fake}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.WithToken(adminToken), client.WithUserAgent("test-agent"))
	if err != nil {
		t.Fatal(err)
	}
	return fake, rec, c
}

var newTests = []struct {
	url     string
	opts    []client.Option
	wantErr string
}{
	{url: "https://keyward.example:8443"},
	{url: "https://keyward.example/prefix/"},
	{url: "http://localhost:8200"},
	{url: "http://127.0.0.1:8200"},
	{url: "http://[::1]:8200"},
	{url: "http://keyward.example", wantErr: "refusing http://keyward.example"},
	{url: "http://10.0.0.1:80", wantErr: "in clear"},
	{url: "http://keyward.example", opts: []client.Option{client.WithInsecureHTTP()}},
	{url: "keyward.example", wantErr: "want http(s)://HOST"},
	{url: "ftp://keyward.example", wantErr: "want http(s)://HOST"},
	{url: "https://user:pw@keyward.example", wantErr: "remove the user"},
	{url: "https://keyward.example", opts: []client.Option{client.WithToken("two words")}, wantErr: "white space"},
	{url: "https://keyward.example", opts: []client.Option{client.WithCACertFile("/nonexistent/ca.pem")}, wantErr: "CA certificate"},
	{url: "https://keyward.example", opts: []client.Option{client.WithHTTPClient(http.DefaultClient), client.WithCACertFile("x")}, wantErr: "excludes"},
}

func TestNew(t *testing.T) {
	for _, tt := range newTests {
		_, err := client.New(tt.url, tt.opts...)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("New(%q) = %v, want no error", tt.url, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("New(%q) = %v, want an error containing %q", tt.url, err, tt.wantErr)
		}
	}
	if _, err := client.New("https://user:topsecret@keyward.example"); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("New with a password in the URL: error %v shows the password or is nil", err)
	}
}

func TestCACertFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(apifake.New(adminToken))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	ctx := context.Background()

	// Without the CA the server's certificate is not trusted.
	c, err := client.New(srv.URL, client.WithToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(ctx)
	var te *client.TransportError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Health without the CA = %v, want a *TransportError about the certificate", err)
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, ca, srv.Certificate().Raw)
	c, err = client.New(srv.URL, client.WithToken(adminToken), client.WithCACertFile(ca))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := c.Health(ctx); err != nil || h.Status != "ok" {
		t.Errorf("Health with the CA = %+v, %v, want status ok", h, err)
	}

	notPEM := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(notPEM, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(srv.URL, client.WithCACertFile(notPEM)); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("New with a file holding no PEM = %v, want an error", err)
	}
}

func TestRequestHeaders(t *testing.T) {
	_, rec, c := setup(t)
	if _, err := c.Databases(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := rec.last()
	if got := r.Header.Get("Authorization"); got != "Bearer "+adminToken {
		t.Errorf("Authorization = %q, want the bearer token", got)
	}
	if got := r.Header.Get("User-Agent"); got != "test-agent" {
		t.Errorf("User-Agent = %q, want test-agent", got)
	}
}

func TestErrors(t *testing.T) {
	fake, _, c := setup(t)
	ctx := context.Background()
	if _, err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}

	_, err := c.Get(ctx, "app", "missing")
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound || ae.Code != api.CodeNotFound || !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Get(missing) = %#v, want a 404 *Error matching ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), `entry "missing" in database "app": not found`) || errors.Is(err, client.ErrExists) {
		t.Errorf("Get(missing) = %q: want the server's message, and no other sentinel", err)
	}
	if _, err := c.CreateDatabase(ctx, "app"); !errors.Is(err, client.ErrExists) {
		t.Errorf("CreateDatabase twice = %v, want ErrExists", err)
	}
	if _, err := c.CreateDatabase(ctx, "bad name"); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("CreateDatabase(bad name) = %v, want ErrInvalid", err)
	}

	// A wrong token: 401, and the token is nowhere in the message.
	srvURL := c.URL()
	bad, _ := client.New(srvURL, client.WithToken("kwt_wrong-secret-value"))
	_, err = bad.Databases(ctx)
	if !errors.Is(err, client.ErrUnauthorized) || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("Databases with a wrong token = %v, want ErrUnauthorized without the token", err)
	}

	// A reader token may not write: 403.
	tc, err := c.CreateToken(ctx, api.CreateToken{Role: api.RoleReader, Databases: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	reader, _ := client.New(srvURL, client.WithToken(tc.Secret))
	if _, err := reader.Put(ctx, "app", "x", api.PutEntry{Fields: map[string]string{"a": "b"}}); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("Put with a reader token = %v, want ErrForbidden", err)
	}

	// Maintenance: 503 with Retry-After.
	fake.RetryAfter = 42
	if _, err := c.SetMaintenance(ctx, true, "backup"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, "app", "x")
	if !errors.As(err, &ae) || !errors.Is(err, client.ErrMaintenance) || ae.RetryAfter != 42*time.Second {
		t.Errorf("Get in maintenance = %#v, want ErrMaintenance with RetryAfter 42s", err)
	}
	if _, err := c.SetMaintenance(ctx, false, ""); err != nil {
		t.Fatal(err)
	}

	// Sealed, then a failed and a good unlock.
	fake.Passphrase = "correct horse"
	fake.Seal()
	if _, err := c.Get(ctx, "app", "x"); !errors.Is(err, client.ErrSealed) {
		t.Errorf("Get while sealed = %v, want ErrSealed", err)
	}
	_, err = c.Unlock(ctx, api.UnlockRequest{Passphrase: "wrong"})
	if !errors.As(err, &ae) || !errors.Is(err, client.ErrUnlockFailed) || len(ae.Slots) != 1 || ae.Slots[0].Error == "" {
		t.Errorf("Unlock(wrong) = %#v, want ErrUnlockFailed with the slot's reason", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("Unlock(wrong) = %q: the passphrase shows in the error", err)
	}
	res, err := c.Unlock(ctx, api.UnlockRequest{Passphrase: "correct horse"})
	if err != nil || res.Sealed || res.Slot == nil {
		t.Errorf("Unlock(right) = %+v, %v, want unsealed by a slot", res, err)
	}
	if _, err := c.Unlock(ctx, api.UnlockRequest{}); err == nil {
		t.Error("Unlock with neither passphrase nor recovery key: no error")
	}
}

func TestTransportErrorHidesToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	c, err := client.New(url, client.WithToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Databases(context.Background())
	var te *client.TransportError
	if !errors.As(err, &te) || strings.Contains(err.Error(), adminToken) || !strings.Contains(err.Error(), url) {
		t.Errorf("Databases with no server = %v, want a *TransportError naming %s and not the token", err, url)
	}
}

func TestNotTheAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>proxy error</html>"))
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL)
	_, err := c.Databases(context.Background())
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadGateway || ae.Code != "" || !strings.Contains(err.Error(), "not an API error") {
		t.Errorf("Databases behind a broken proxy = %#v, want a 502 *Error without a code", err)
	}
}

func TestHealth(t *testing.T) {
	fake, _, c := setup(t)
	ctx := context.Background()
	if h, err := c.Health(ctx); err != nil || h.Status != "ok" {
		t.Errorf("Health = %+v, %v, want ok", h, err)
	}
	fake.Seal()
	if h, err := c.Health(ctx); err != nil || h.Status != "sealed" || !h.Sealed {
		t.Errorf("Health while sealed = %+v, %v, want sealed without an error", h, err)
	}
}
