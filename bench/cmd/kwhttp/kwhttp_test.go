package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out, err := os.ReadFile("testdata/wrk-ok.txt") // wrk 4.1.0 output as printed
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.rps != 304.96 || r.p50 != 5680*time.Microsecond || r.p99 != 15780*time.Microsecond || r.requests != 306 {
		t.Errorf("parseWrk = %+v, want 304.96 req/s, p50 5.68ms, p99 15.78ms, 306 requests", r)
	}
	withErrors := strings.Replace(string(out), "Requests/sec:", "  Non-2xx or 3xx responses: 12\nRequests/sec:", 1)
	if _, err := parseWrk(withErrors); err == nil || !strings.Contains(err.Error(), "Non-2xx") {
		t.Errorf("parseWrk with non-2xx responses = %v, want an error", err)
	}
	socket := strings.Replace(string(out), "Requests/sec:", "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec:", 1)
	if _, err := parseWrk(socket); err == nil {
		t.Error("parseWrk with socket errors: nil error, want one")
	}
	if _, err := parseWrk("wrk: something went wrong"); err == nil {
		t.Error("parseWrk of garbage: nil error, want one")
	}
	us := strings.Replace(string(out), "50%    5.68ms", "50%  812.00us", 1)
	if r, err := parseWrk(us); err != nil || r.p50 != 812*time.Microsecond {
		t.Errorf("parseWrk with a p50 in us = %+v, %v", r, err)
	}
}
