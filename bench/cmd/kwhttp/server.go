package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/bench/entries"
)

// deployment is a data directory with its key directory and admin token.
type deployment struct {
	data, keys string
	token      string
}

// dbName is the database every benchmark uses.
const dbName = "bench"

// newDeployment initialises a deployment under dir and fills dbName with n
// entries (entries.Entry(i)), writing from several goroutines.
func newDeployment(ctx context.Context, dir string, n int) (deployment, error) {
	d := deployment{data: filepath.Join(dir, "data"), keys: filepath.Join(dir, "keys")}
	cfg := keyward.Config{DataDir: d.data, KeyDir: d.keys}
	res, err := keyward.Init(ctx, cfg)
	if err != nil {
		return d, err
	}
	d.token = res.AdminToken
	kw, err := keyward.Open(ctx, cfg)
	if err != nil {
		return d, err
	}
	defer kw.Close()
	db, err := kw.CreateDatabase(ctx, dbName)
	if err != nil {
		return d, err
	}
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	start := time.Now()
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if _, err := db.Create(ctx, entries.Entry(i)); err != nil {
					errMu.Lock()
					first = errors.Join(first, err)
					errMu.Unlock()
					next.Store(int64(n))
					return
				}
				if i > 0 && i%100_000 == 0 {
					fmt.Fprintf(os.Stderr, "kwhttp: filled %d of %d entries (%.0f/s)\n", i, n, float64(i)/time.Since(start).Seconds())
				}
			}
		})
	}
	wg.Wait()
	return d, first
}

// server is a running `keyward serve`.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
	done chan error
}

// freePort returns a loopback address that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startServer runs bin serve on d and returns at once; logPath receives its
// output.
func startServer(bin string, d deployment, logPath string) (*server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--data", d.data, "--key-dir", d.keys, "--listen", addr)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "KEYWARD_CONFIG=")
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	s := &server{cmd: cmd, addr: addr, log: log, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	return s, nil
}

// waitHealthy polls /v1/sys/health until it answers 200 and returns how
// long that took since start.
func (s *server) waitHealthy(start time.Time, limit time.Duration) (time.Duration, error) {
	c := &http.Client{Timeout: time.Second}
	url := "http://" + s.addr + "/v1/sys/health"
	for time.Since(start) < limit {
		select {
		case err := <-s.done:
			return 0, fmt.Errorf("keyward serve exited: %v (log: %s)", err, s.log.Name())
		default:
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("keyward serve not healthy after %s (log: %s)", limit, s.log.Name())
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() error {
	defer s.log.Close()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-s.done:
		if err != nil {
			return fmt.Errorf("keyward serve: %v (log: %s)", err, s.log.Name())
		}
		return nil
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		return errors.New("keyward serve did not stop within 30 s of SIGTERM")
	}
}
