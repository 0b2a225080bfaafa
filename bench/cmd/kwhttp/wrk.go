package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/api"
	"github.com/keyward/keyward/bench/entries"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	requests int64
}

// writeScripts writes the wrk Lua scripts for GET and PUT of n entries and
// returns their paths. The token is written into the scripts (mode 0600)
// rather than passed on wrk's command line.
func writeScripts(dir, token string, n int) (get, put string, err error) {
	const bodies = 256
	var b strings.Builder
	fmt.Fprintf(&b, "local token = %q\nlocal n = %d\nlocal bodies = {}\n", token, n)
	for i := range bodies {
		body, err := json.Marshal(api.PutEntry{Fields: entries.Fields(i), Type: "login", Tags: []string{"bench"}})
		if err != nil {
			return "", "", err
		}
		fmt.Fprintf(&b, "bodies[%d] = [==[%s]==]\n", i, body)
	}
	common := b.String() + `
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(os.time() * 1000 + id)
end
local function path(i)
  return string.format("/v1/db/` + dbName + `/entries/team/service-%05d/login", i)
end
`
	get = filepath.Join(dir, "get.lua")
	put = filepath.Join(dir, "put.lua")
	getScript := common + `
request = function()
  return wrk.format("GET", path(math.random(0, n - 1)), {["Authorization"] = "Bearer " .. token})
end
`
	putScript := common + fmt.Sprintf(`
request = function()
  local i = math.random(0, n - 1)
  return wrk.format("PUT", path(i), {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, bodies[i %% %d])
end
`, bodies)
	if err := os.WriteFile(get, []byte(getScript), 0o600); err != nil {
		return "", "", err
	}
	return get, put, os.WriteFile(put, []byte(putScript), 0o600)
}

// runWrk runs wrk against addr and parses its report. Any non-2xx answer
// or socket error fails the run: a benchmark of errors measures nothing.
func runWrk(addr, script string, conns int, d time.Duration) (wrkResult, error) {
	threads := min(conns, 2)
	cmd := exec.Command("wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency", "-s", script, "http://"+addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	return parseWrk(string(out))
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	rePct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	reErrors   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)`)
)

// parseWrk reads wrk's --latency report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	if m := reErrors.FindString(out); m != "" {
		return r, fmt.Errorf("wrk saw errors (%s):\n%s", m, out)
	}
	m := reRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := reRequests.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range rePct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[3]]
		d := time.Duration(v * float64(unit))
		if m[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if r.p50 == 0 || r.p99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk's output:\n%s", out)
	}
	return r, nil
}
