package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/api"
)

// TestMalformedRequests: each gets a JSON error with the right status and
// changes nothing.
func TestMalformedRequests(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	admin := s.adminToken()
	s.must(201, "POST", "/v1/db", admin, api.CreateDatabase{Name: "app"}, nil)
	s.must(201, "PUT", "/v1/db/app/entries/a", admin, api.PutEntry{Fields: map[string]string{"k": "v"}}, nil)
	huge := bytes.Repeat([]byte("x"), 32<<20)
	for _, c := range []struct {
		name, method, path string
		body               any
		hdr                []string
		want               int
	}{
		{"truncated JSON", "PUT", "/v1/db/app/entries/a", []byte(`{"fields": {"k": `), nil, 400},
		{"not an object", "PUT", "/v1/db/app/entries/a", []byte(`[1,2]`), nil, 400},
		{"unknown field", "PUT", "/v1/db/app/entries/a", []byte(`{"fields": {"k": "x"}, "fieldz": 1}`), nil, 400},
		{"field value not a string", "PUT", "/v1/db/app/entries/a", []byte(`{"fields": {"k": 1}}`), nil, 400},
		{"oversized body", "PUT", "/v1/db/app/entries/a", append(append([]byte(`{"fields": {"k": "`), huge...), `"}}`...), nil, 413},
		{"bad If-Match", "PUT", "/v1/db/app/entries/a", api.PutEntry{Fields: map[string]string{"k": "x"}}, []string{"If-Match", "banana"}, 400},
		{"stale revision", "PUT", "/v1/db/app/entries/a", api.PutEntry{Fields: map[string]string{"k": "x"}}, []string{"If-Match", "7"}, 412},
		{"bad database name", "POST", "/v1/db", api.CreateDatabase{Name: "no spaces allowed"}, nil, 400},
		{"existing database", "POST", "/v1/db", api.CreateDatabase{Name: "app"}, nil, 409},
		{"missing entry", "GET", "/v1/db/app/entries/nope", nil, nil, 404},
		{"missing database", "GET", "/v1/db/nope/entries/a", nil, nil, 404},
		{"bad limit", "GET", "/v1/db/app/entries?limit=-3", nil, nil, 400},
		{"unknown route", "GET", "/v1/nothing-here", nil, nil, 404},
	} {
		code, er, _ := s.call(c.method, c.path, admin, c.body, nil, c.hdr...)
		if code != c.want {
			t.Errorf("%s: status %d (%s: %s), want %d", c.name, code, er.Code, er.Message, c.want)
		}
	}
	var got api.Entry
	s.must(200, "GET", "/v1/db/app/entries/a", admin, nil, &got)
	if got.Revision != 1 || got.Fields["k"] != "v" {
		t.Errorf("entry after malformed requests = %+v, want unchanged", got)
	}
	s.stop()
}

// TestUploadCutMidway: a client that disconnects in the middle of an
// attachment upload leaves no attachment, partial or whole.
func TestUploadCutMidway(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	admin := s.adminToken()
	s.must(201, "POST", "/v1/db", admin, api.CreateDatabase{Name: "app"}, nil)
	s.must(201, "PUT", "/v1/db/app/entries/a", admin, api.PutEntry{Fields: map[string]string{"k": "v"}}, nil)

	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	const total, sent = 64 << 20, 5 << 20
	fmt.Fprintf(conn, "PUT /v1/db/app/entries/a/attachments/big.bin HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", s.addr, admin, total)
	chunk := bytes.Repeat([]byte{0xA5}, 64<<10)
	for n := 0; n < sent; n += len(chunk) {
		if _, err := conn.Write(chunk); err != nil {
			t.Fatalf("writing the upload: %v", err)
		}
	}
	conn.Close()

	// The server notices the cut; give it a moment, then look.
	var list api.AttachmentList
	for range 100 {
		s.must(200, "GET", "/v1/db/app/entries/a/attachments", admin, nil, &list)
		if len(list.Attachments) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(list.Attachments) != 0 {
		t.Fatalf("after a cut upload the entry lists %+v", list.Attachments)
	}
	s.must(404, "GET", "/v1/db/app/entries/a/attachments/big.bin", admin, nil, nil)

	// A whole upload after it works and reads back, also by range.
	body := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	var att api.Attachment
	s.must(201, "PUT", "/v1/db/app/entries/a/attachments/small.bin", admin, bytes.NewReader(body), &att)
	if att.Size != int64(len(body)) {
		t.Errorf("upload answered %+v, want size %d", att, len(body))
	}
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/v1/db/app/entries/a/attachments/small.bin", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Range", "bytes=100000-100015")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(part) != "0123456789abcdef" {
		t.Errorf("range GET: %d %q", resp.StatusCode, part)
	}
	s.stop()
}

// TestConcurrentClients: many clients increment one counter with
// compare-and-swap and write entries of their own; no update is lost and
// every read decrypts.
func TestConcurrentClients(t *testing.T) {
	e := newEnv(t)
	s := e.serve()
	admin := s.adminToken()
	s.must(201, "POST", "/v1/db", admin, api.CreateDatabase{Name: "app"}, nil)
	s.must(201, "PUT", "/v1/db/app/entries/counter", admin, api.PutEntry{Fields: map[string]string{"n": "0"}}, nil)
	const clients, increments = 12, 15
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			for i := range increments {
				for {
					var cur api.Entry
					code, er, _ := s.call("GET", "/v1/db/app/entries/counter", admin, nil, &cur)
					if code != 200 {
						errs <- fmt.Errorf("client %d: GET counter: %d %+v", c, code, er)
						return
					}
					n, _ := strconv.Atoi(cur.Fields["n"])
					code, er, _ = s.call("PUT", "/v1/db/app/entries/counter", admin,
						api.PutEntry{Fields: map[string]string{"n": strconv.Itoa(n + 1)}}, nil, "If-Match", strconv.FormatInt(cur.Revision, 10))
					if code == 200 {
						break
					}
					if code != 412 {
						errs <- fmt.Errorf("client %d: PUT counter: %d %+v", c, code, er)
						return
					}
				}
				path := fmt.Sprintf("/v1/db/app/entries/client-%d/item-%d", c, i)
				value := strings.Repeat(strconv.Itoa(c), 10+i)
				if code, er, _ := s.call("PUT", path, admin, api.PutEntry{Fields: map[string]string{"v": value}}, nil); code != 201 {
					errs <- fmt.Errorf("client %d: PUT own entry: %d %+v", c, code, er)
					return
				}
				var own api.Entry
				if code, er, _ := s.call("GET", path, admin, nil, &own); code != 200 || own.Fields["v"] != value {
					errs <- fmt.Errorf("client %d: GET own entry: %d %+v %+v", c, code, er, own)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var got api.Entry
	s.must(200, "GET", "/v1/db/app/entries/counter", admin, nil, &got)
	if got.Fields["n"] != strconv.Itoa(clients*increments) || got.Revision != clients*increments+1 {
		t.Errorf("counter = %s at revision %d, want %d at %d: an update was lost", got.Fields["n"], got.Revision, clients*increments, clients*increments+1)
	}
	var list api.EntryList
	s.must(200, "GET", "/v1/db/app/entries?prefix=client-&limit=1000", admin, nil, &list)
	if len(list.Entries) != clients*increments {
		t.Errorf("%d client entries listed, want %d", len(list.Entries), clients*increments)
	}
	s.stop()
}
