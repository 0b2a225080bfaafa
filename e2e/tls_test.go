package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCerts makes a private CA and a server certificate for 127.0.0.1
// signed by it, and writes ca.pem, cert.pem and key.pem into dir.
func writeCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyward e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", srvDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// TestTLSAndCLIClientMode: serve with TLS; the CLI in client mode reaches it
// with the private CA, refuses it without, and every data command works
// through the API.
func TestTLSAndCLIClientMode(t *testing.T) {
	e := newEnv(t)
	ca, cert, key := writeCerts(t, t.TempDir())
	s := e.serveTLS(cert, key)
	admin := s.adminToken()
	url := "https://" + s.addr
	tokFile := filepath.Join(t.TempDir(), "admin.tok")
	if err := os.WriteFile(tokFile, []byte(admin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Client mode: no data dir of its own.
	c := &env{t: t, data: filepath.Join(t.TempDir(), "none"), keys: filepath.Join(t.TempDir(), "none"),
		vars: map[string]string{"KEYWARD_ADDR": url, "KEYWARD_TOKEN_FILE": tokFile}}

	_, stderr, code := c.run("db", "ls")
	if code != 1 || !strings.Contains(strings.ToLower(stderr), "certificate") {
		t.Fatalf("db ls without the CA: exit %d, %q; want exit 1 naming the certificate problem", code, stderr)
	}
	c.vars["KEYWARD_CA_CERT"] = ca
	mustRun := func(args ...string) string {
		t.Helper()
		out, stderr, code := c.run(args...)
		if code != 0 {
			t.Fatalf("keyward %v: exit %d\n%s%s", args, code, out, stderr)
		}
		return out
	}
	mustRun("db", "create", "app")
	mustRun("put", "app", "prod/db", "user=svc", "password=tls-s3cret")
	if got := mustRun("get", "app", "prod/db", "--field", "password"); got != "tls-s3cret" && got != "tls-s3cret\n" {
		t.Errorf("get --field password = %q", got)
	}
	src := filepath.Join(t.TempDir(), "ca-copy.pem")
	mustRun("attach", "put", "app", "prod/db", ca, "--name", "ca.pem")
	mustRun("attach", "get", "app", "prod/db", "ca.pem", "-o", src)
	if a, b := mustRead(t, ca), mustRead(t, src); a != b {
		t.Error("the attachment read back through the API differs")
	}
	reader := strings.TrimSpace(mustRun("token", "create", "--role", "reader", "--db", "app"))
	if !tokenRE.MatchString(reader) {
		t.Fatalf("token create printed %q, want the token alone", reader)
	}
	c.vars["KEYWARD_TOKEN"], c.vars["KEYWARD_TOKEN_FILE"] = reader, ""
	delete(c.vars, "KEYWARD_TOKEN_FILE")
	if _, stderr, code := c.run("put", "app", "x", "k=v"); code != 1 || !strings.Contains(stderr, "may not write") {
		t.Errorf("a reader's put: exit %d, %q; want exit 1 saying it may not write", code, stderr)
	}
	if got := mustRun("get", "app", "prod/db", "--field", "user"); strings.TrimSpace(got) != "svc" {
		t.Errorf("a reader's get = %q", got)
	}
	if strings.Contains(s.output(), "tls-s3cret") || strings.Contains(s.output(), reader) {
		t.Error("the server log shows a field value or a token")
	}
	s.stop()
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// serveTLS is serve with a certificate; it waits for the TLS port.
func (e *env) serveTLS(cert, key string) *server {
	e.t.Helper()
	return e.start([]string{"--tls-cert", cert, "--tls-key", key}, func(addr string) bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
