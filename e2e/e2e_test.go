// Package e2e tests the real keyward binary end to end: `keyward serve` on a
// loopback port, driven over HTTP and through the CLI's client mode, as an
// operator and an application would use it. TestMain builds the binary
// once; every test gets its own data directory and server.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/api"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyward-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "keyward")
	build := exec.Command("go", "build", "-o", binary, "../cmd/keyward")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building keyward:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one deployment: its directories and the environment the binary
// runs with (nothing inherited from the developer's own KEYWARD_* settings).
type env struct {
	t          *testing.T
	data, keys string
	vars       map[string]string
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	return &env{t: t, data: filepath.Join(dir, "data"), keys: filepath.Join(dir, "keys"), vars: map[string]string{}}
}

func (e *env) environ() []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + e.t.TempDir(), "KEYWARD_DATA=" + e.data, "KEYWARD_KEY_DIR=" + e.keys}
	for k, v := range e.vars {
		out = append(out, k+"="+v)
	}
	return out
}

// run runs the CLI to completion and returns its stdout, stderr and exit code.
func (e *env) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running keyward %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

// server is a running `keyward serve`.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	out  bytes.Buffer // stdout and stderr together
	done chan error
}

func (s *server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve starts `keyward serve` and waits until /v1/sys/health answers
// (200, or 503 when sealed or in maintenance).
func (e *env) serve(extra ...string) *server {
	e.t.Helper()
	return e.start(extra, func(addr string) bool {
		resp, err := http.Get("http://" + addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
}

// start runs `keyward serve --listen ADDR extra…` and waits until ready
// says the server answers (or fails the test after 30 s).
func (e *env) start(extra []string, ready func(addr string) bool) *server {
	e.t.Helper()
	s := &server{t: e.t, addr: freeAddr(e.t), done: make(chan error, 1)}
	s.cmd = exec.Command(binary, append([]string{"serve", "--listen", s.addr}, extra...)...)
	s.cmd.Env = e.environ()
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	e.t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.done
		}
		if e.t.Failed() {
			e.t.Logf("keyward serve output:\n%s", s.output())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-s.done:
			e.t.Fatalf("keyward serve exited early: %v\n%s", err, s.output())
		default:
		}
		if ready(s.addr) {
			return s
		}
	}
	e.t.Fatalf("keyward serve did not answer within 30 s:\n%s", s.output())
	return nil
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("keyward serve after SIGTERM: %v\n%s", err, s.output())
		}
	case <-time.After(30 * time.Second):
		s.t.Fatalf("keyward serve did not stop within 30 s of SIGTERM")
	}
}

var tokenRE = regexp.MustCompile(`kw_[a-z2-7]{16}_[A-Za-z0-9_-]{43}`)

// adminToken finds the admin token a first start printed.
func (s *server) adminToken() string {
	s.t.Helper()
	tok := tokenRE.FindString(s.output())
	if tok == "" {
		s.t.Fatalf("no admin token in the output of the first start:\n%s", s.output())
	}
	return tok
}

// call makes one API request and decodes a JSON answer into out (if not
// nil and the status is 2xx) or returns the error body.
func (s *server) call(method, path, token string, body any, out any, hdr ...string) (int, api.Error, http.Header) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, "http://"+s.addr+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var eb api.ErrorBody
		if err := json.Unmarshal(raw, &eb); err == nil && eb.Error.Code != "" {
			return resp.StatusCode, eb.Error, resp.Header
		}
		if !strings.HasSuffix(path, "/sys/health") { // health answers 503 with its own body
			s.t.Fatalf("%s %s: status %d with a body that is not an api.ErrorBody: %q", method, path, resp.StatusCode, raw)
		}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %v in %q", method, path, err, raw)
		}
	}
	return resp.StatusCode, api.Error{}, resp.Header
}

// must is call that expects the given status.
func (s *server) must(want int, method, path, token string, body, out any, hdr ...string) api.Error {
	s.t.Helper()
	code, e, _ := s.call(method, path, token, body, out, hdr...)
	if code != want {
		s.t.Fatalf("%s %s: status %d (%s: %s), want %d", method, path, code, e.Code, e.Message, want)
	}
	return e
}
