package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/api"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader in
// different goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServe runs `keyward serve` in this process on an empty data
// directory and a free loopback port: it initialises, prints the address,
// the admin token and how to use them, answers, and stops on cancel.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"KEYWARD_DATA": filepath.Join(dir, "data"), "KEYWARD_KEY_DIR": filepath.Join(dir, "keys")}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stdout lockedBuffer
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"serve", "--listen", "127.0.0.1:0"}, strings.NewReader(""), &stdout, pw, getenv)
		pw.Close()
		done <- code
	}()
	addr := make(chan string, 1)
	var stderr lockedBuffer
	go func() {
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`^keyward: listening on (http://\S+)$`)
		for sc.Scan() {
			stderr.Write(append(sc.Bytes(), '\n'))
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		close(addr)
	}()
	url, ok := <-addr
	if !ok {
		t.Fatalf("serve did not print its address; exit %d, stderr:\n%s", <-done, stderr.String())
	}
	resp, err := http.Get(url + "/v1/sys/health")
	if err != nil {
		t.Fatal(err)
	}
	var h api.Health
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || h.Status != "ok" {
		t.Errorf("GET /v1/sys/health = %d %+v (%v), want 200 ok", resp.StatusCode, h, err)
	}
	out := stdout.String()
	m := regexp.MustCompile(`(?m)^  export KEYWARD_ADDR=(\S+) KEYWARD_TOKEN=(\S+)$`).FindStringSubmatch(out)
	if m == nil || m[1] != url {
		t.Fatalf("stdout lacks the export line for %s:\n%s", url, out)
	}
	for _, want := range []string{"recovery key: ", "admin token: " + m[2]} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	req, _ := http.NewRequest("GET", url+"/v1/db", nil)
	req.Header.Set("Authorization", "Bearer "+m[2])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /v1/db with the printed token = %d, want 200", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("serve exited with %d after cancel, want 0; stderr:\n%s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), m[2]) {
		t.Errorf("the admin token is in the logs")
	}
}

func TestServeRefusesPlainHTTPOffLoopback(t *testing.T) {
	c := newCLI(t)
	code, _, stderr := c.run("serve", "--listen", "0.0.0.0:0")
	if code != exitUsage || !strings.Contains(stderr, "refusing plain HTTP on 0.0.0.0:0") || !strings.Contains(stderr, "--tls-cert") {
		t.Errorf("serve --listen 0.0.0.0:0 = %d, %q; want 2 and a refusal that says what to do", code, stderr)
	}
	code, _, stderr = c.run("serve", "--tls-cert", "c.pem")
	if code != exitUsage || !strings.Contains(stderr, "--tls-key") {
		t.Errorf("serve --tls-cert alone = %d, %q; want 2", code, stderr)
	}
	if fileExists(filepath.Join(c.env["KEYWARD_DATA"], "keyward.db")) {
		t.Errorf("a refused serve initialised the data directory")
	}
}

func TestLoopbackAndParseSize(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8443": true, "[::1]:1": true, "localhost:80": true,
		"0.0.0.0:8443": false, ":8443": false, "10.0.0.1:1": false, "example.com:1": false,
	} {
		if got := loopback(addr); got != want {
			t.Errorf("loopback(%q) = %v, want %v", addr, got, want)
		}
	}
	for in, want := range map[string]int64{"1024": 1024, "2KiB": 2048, "1GiB": 1 << 30, "0": 0, "-1": 0, "x": 0} {
		got, err := parseSize(in)
		if (err != nil) != (want == 0) || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
