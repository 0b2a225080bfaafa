package keyring

import (
	"encoding/hex"
	"testing"

	"github.com/keyward/keyward/secret"
)

// TestRootCheckVector pins the root key check value (docs/formats.md). The
// expected value was computed outside Go:
// python3 -c 'import hmac,hashlib; print(hmac.new(bytes(range(32)), b"keyward root key check v1", hashlib.sha256).hexdigest()[:32])'
func TestRootCheckVector(t *testing.T) {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	k := secret.FromBytes(b)
	defer k.Wipe()
	if got := hex.EncodeToString(rootCheckOf(k)); got != "29b8293ec90a75740b38f3b01022b792" {
		t.Errorf("root check value of 00 01 … 1f = %s", got)
	}
	other := secret.Random(32)
	defer other.Wipe()
	if hex.EncodeToString(rootCheckOf(other)) == hex.EncodeToString(rootCheckOf(k)) {
		t.Error("two keys share a check value")
	}
}
