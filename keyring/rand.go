package keyring

import "crypto/rand"

// randRead fills b from crypto/rand; it never fails on supported platforms.
func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("keyring: crypto/rand failed: " + err.Error())
	}
}
