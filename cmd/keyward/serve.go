package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keyward/keyward"
	"github.com/keyward/keyward/internal/serverlock"
	"github.com/keyward/keyward/server"
)

const defaultListen = "127.0.0.1:8443"

type serveFlags struct {
	listen, tlsCert, tlsKey string
	insecureHTTP            bool
	maxAttachment           string
	metricsPublic           bool
	logLevel, logFormat     string
}

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API (initialising an empty data directory first)",
		Long: `Serve keyward's HTTP API (docs/server.md, api/openapi.yaml) until SIGINT or
SIGTERM; requests in flight then finish, uploads that do not finish store
nothing.

On an empty data directory, serve first initialises it as "keyward init"
does and prints the recovery key and a first admin token, once.

Without --tls-cert/--tls-key it serves plain HTTP, which it allows only on a
loopback address unless --insecure-http is given. If no slot can unlock the
keys, it still starts, sealed: data requests get 503 until an admin unlocks
it (POST /v1/sys/unlock) with a passphrase or the recovery key.

A server holds the lock file keyward.serve.lock in the data directory while
it runs: a second server on the same data directory refuses to start, and
so do "keys get", "keys put", "keys import --overwrite" and "keys import
--rekey" (entry commands work beside a server).

The listening address is printed on standard error ("listening on ..."),
also when --listen asks for port 0. Logs go to standard error: text on a
terminal, JSON lines otherwise.`,
		Example: `  keyward serve
  keyward serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return a.serve(cmd, &f) },
	}
	fl := c.Flags()
	fl.StringVar(&f.listen, "listen", "", "`ADDR` to listen on (env KEYWARD_LISTEN; default "+defaultListen+")")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate `FILE` (PEM, env KEYWARD_TLS_CERT)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "TLS private key `FILE` (PEM, env KEYWARD_TLS_KEY)")
	fl.BoolVar(&f.insecureHTTP, "insecure-http", false, "allow plain HTTP on a non-loopback address (tokens and secrets cross the network in clear)")
	fl.StringVar(&f.maxAttachment, "max-attachment-size", "1GiB", "largest attachment upload `SIZE` (bytes, or with KiB, MiB, GiB)")
	fl.BoolVar(&f.metricsPublic, "metrics-public", false, "serve /metrics without a token (default: any valid token)")
	fl.StringVar(&f.logLevel, "log-level", "info", "`LEVEL`: debug (one line per request), info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "auto", "`FORMAT`: text, json, or auto (text on a terminal)")
	return c
}

// serveGCPercent is the GC target of a server unless GOGC is set.
const serveGCPercent = 400

func (a *app) serve(cmd *cobra.Command, f *serveFlags) (err error) {
	if _, set := a.getenv("GOGC"); !set {
		// A server's live heap is small (buffers of requests in flight), so
		// collecting at 4× instead of 2× it costs a few MiB and saves about
		// 5 % of the CPU per request (bench/README.md).
		debug.SetGCPercent(serveGCPercent)
	}
	s, err := a.settings(cmd)
	if err != nil {
		return err
	}
	listen, _ := a.pick(cmd, "listen", "KEYWARD_LISTEN", f.listen)
	if listen == "" {
		listen = defaultListen
	}
	cert, _ := a.pick(cmd, "tls-cert", "KEYWARD_TLS_CERT", f.tlsCert)
	key, _ := a.pick(cmd, "tls-key", "KEYWARD_TLS_KEY", f.tlsKey)
	if (cert == "") != (key == "") {
		return usagef(cmd, "--tls-cert and --tls-key go together: give both, or neither for plain HTTP on loopback")
	}
	if cert == "" && !f.insecureHTTP && !loopback(listen) {
		return usagef(cmd, "refusing plain HTTP on %s, which is not a loopback address: give --tls-cert and --tls-key, "+
			"listen on 127.0.0.1, or (behind a TLS proxy only) add --insecure-http", listen)
	}
	maxAtt, err := parseSize(f.maxAttachment)
	if err != nil {
		return usagef(cmd, "--max-attachment-size: %v", err)
	}
	log, err := a.logger(f.logLevel, f.logFormat)
	if err != nil {
		return usagef(cmd, "%v", err)
	}
	// One server per data directory, and none while keys get/put run on it.
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w", err)
	}
	lock, err := serverlock.Acquire(s.DataDir, serverlock.Holder)
	if err != nil {
		return err
	}
	defer lock.Release()
	adminToken, err := a.initIfEmpty(s)
	if err != nil {
		return err
	}
	cfg, err := a.libConfig(s)
	if err != nil {
		return err
	}
	cfg.Logger = log
	kw, err := keyward.OpenSealed(a.ctx, cfg)
	if err != nil {
		return err
	}
	defer closeKW(kw, &err)
	if uerr := kw.Unlock(a.ctx); uerr != nil {
		log.Warn("starting sealed: no slot could unlock the keys (reasons above); data requests get 503 until an admin unlocks with POST /v1/sys/unlock")
	}
	srv, err := server.New(server.Config{Keyward: kw, Logger: log, Version: version(),
		MaxAttachmentBytes: maxAtt, MetricsPublic: f.metricsPublic})
	if err != nil {
		return err
	}
	// Jobs (regenerations) whose process died resume here, in the
	// background, once the keys are unlocked (now, or by an unlock later).
	srv.ResumeJobs(a.ctx)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w; choose another address with --listen", listen, err)
	}
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String()
	fmt.Fprintf(a.stderr, "keyward: listening on %s\n", url)
	if adminToken != "" {
		fmt.Fprintf(a.stdout, "\nto use this server with the CLI:\n  export KEYWARD_ADDR=%s KEYWARD_TOKEN=%s\n", url, adminToken)
	}
	return srv.Serve(a.ctx, ln, cert, key)
}

// initIfEmpty initialises a data directory that holds no store yet, as
// `keyward init` does, and returns the first admin token ("" when the
// directory was initialised already).
func (a *app) initIfEmpty(s *settings) (string, error) {
	if fileExists(filepath.Join(s.DataDir, keyward.DBFile)) {
		return "", nil
	}
	res, err := keyward.Init(a.ctx, a.baseConfig(s))
	if err != nil {
		return "", withHint(err, "nothing was initialised: fix this and run `keyward serve` again")
	}
	a.printInit(s, res)
	return res.AdminToken, nil
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// logger logs to standard error: text on a terminal, JSON otherwise.
func (a *app) logger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	case "auto":
		if isTerminal(a.stderr) {
			return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text, json or auto", format)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// parseSize reads "1048576", "512KiB", "100MiB" or "1GiB".
func parseSize(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, errors.New("want a positive size such as 1073741824, 512MiB or 1GiB")
	}
	return n * mult, nil
}
