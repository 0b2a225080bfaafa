package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/keyward/keyward/bench/internal/report"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// OpenBao KV v2 (raft storage) on this machine kind under the same wrk
// load, from the issue: GET 7,300–8,100 req/s at c=16 (p99 24–28 ms) and
// 6,900–8,100 at c=64 (p99 73–99 ms); PUT about 2,200 at c=16 (2,960 on
// file storage). The goal is twice that at a lower p99; "met" takes the
// top of each range (and the lowest p99), so it is not flattered.
var reference = map[string]struct {
	text string
	rps  float64
	p99  time.Duration
}{
	"GET c=16": {"7300–8100 req/s, p99 24–28ms", 8100, 24 * time.Millisecond},
	"GET c=64": {"6900–8100 req/s, p99 73–99ms", 8100, 73 * time.Millisecond},
	"PUT c=16": {"2200 req/s (file storage 2960)", 2200, 0},
}

type cell struct {
	name   string
	script func(get, put string) string
	conns  int
}

var cells = []cell{
	{"GET c=16", func(g, _ string) string { return g }, 16},
	{"GET c=64", func(g, _ string) string { return g }, 64},
	{"PUT c=16", func(_, p string) string { return p }, 16},
	{"PUT c=64", func(_, p string) string { return p }, 64},
}

func runHTTP(work, bin string, rounds int, d time.Duration, n int) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not on the PATH: apt-get install wrk")
	}
	dir := filepath.Join(work, "http")
	fmt.Fprintf(os.Stderr, "kwhttp: filling %d entries\n", n)
	dep, err := newDeployment(context.Background(), dir, n)
	if err != nil {
		return err
	}
	get, put, err := writeScripts(work, dep.token, n)
	if err != nil {
		return err
	}
	srv, err := startServer(bin, dep, filepath.Join(work, "serve-http.log"))
	if err != nil {
		return err
	}
	if _, err := srv.waitHealthy(time.Now(), time.Minute); err != nil {
		srv.stop()
		return err
	}
	results := map[string][]wrkResult{}
	for r := range rounds {
		for i := range cells {
			c := cells[(i+r)%len(cells)] // rotate the order each round
			res, err := runWrk(srv.addr, c.script(get, put), c.conns, d)
			if err != nil {
				srv.stop()
				return fmt.Errorf("%s: %w", c.name, err)
			}
			fmt.Fprintf(os.Stderr, "kwhttp: round %d %s: %.0f req/s, p50 %s, p99 %s\n", r+1, c.name, res.rps, res.p50, res.p99)
			results[c.name] = append(results[c.name], res)
		}
	}
	if err := srv.stop(); err != nil {
		return err
	}
	fmt.Printf("\n## HTTP: 300-byte entries, keep-alive, wrk on the same machine\n\n")
	fmt.Printf("`keyward serve` (plain HTTP on loopback, SQLite, %d entries), wrk -t2 --latency, %s per cell, %d rounds in rotating order; medians over the rounds.\n\n", n, d, rounds)
	fmt.Println("| op | req/s | p50 | p99 | OpenBao KV v2 (issue) | × OpenBao (top of range) | goal | met? |")
	fmt.Println("|---|---:|---:|---:|---|---:|---|---|")
	for _, c := range cells {
		rs := results[c.name]
		var rps, p50, p99 []float64
		for _, r := range rs {
			rps, p50, p99 = append(rps, r.rps), append(p50, float64(r.p50)), append(p99, float64(r.p99))
		}
		mr, m50, m99 := report.Median(rps), time.Duration(report.Median(p50)), time.Duration(report.Median(p99))
		ref, ok := reference[c.name]
		refText, goal, ratio, met := "—", "—", "—", "—"
		if ok {
			refText = ref.text
			goal = fmt.Sprintf("≥ %.0f req/s", 2*ref.rps)
			ratio = fmt.Sprintf("%.2f×", mr/ref.rps)
			good := mr >= 2*ref.rps
			if ref.p99 > 0 {
				goal += fmt.Sprintf(", p99 < %s", ref.p99)
				good = good && m99 < ref.p99
			}
			met = report.YesNo(good)
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %s | %s |\n", c.name, mr, round(m50), round(m99), refText, ratio, goal, met)
	}
	return nil
}

// round shortens a latency for the table.
func round(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(10 * time.Microsecond)
}
