package client_test

import (
	"encoding/pem"
	"os"
	"testing"
)

func writePEM(t *testing.T, name string, der []byte) {
	t.Helper()
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
