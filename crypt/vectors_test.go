package crypt

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"testing"
)

// The vectors in testdata/ pin the formats down. They were generated once
// with -update and must never change: a released ciphertext must stay
// readable. Regenerate only while a format is still unreleased:
//
//	go test ./crypt -run TestGenerateVectors -update
var update = flag.Bool("update", false, "rewrite the test vectors in testdata/")

// vecContext is a Context as the vector files spell it.
type vecContext struct {
	Deployment string `json:"deployment"`
	Database   string `json:"database"`
	Record     string `json:"record"`
	Purpose    string `json:"purpose"`
}

func (v vecContext) ctx() Context { return Context(v) }

type recordFile struct {
	Comment string         `json:"comment"`
	Cases   []recordVector `json:"cases"`
}

type recordVector struct {
	Name       string     `json:"name"`
	Key        hexBytes   `json:"key"`
	Version    uint32     `json:"version"`
	Context    vecContext `json:"context"`
	AD         hexBytes   `json:"context_ad"`
	Nonce      hexBytes   `json:"nonce"`
	Plaintext  hexBytes   `json:"plaintext"`
	Ciphertext hexBytes   `json:"ciphertext"`
}

type wrapFile struct {
	Comment string       `json:"comment"`
	Cases   []wrapVector `json:"cases"`
}

type wrapVector struct {
	Name    string      `json:"name"`
	KEK     hexBytes    `json:"kek"`
	Key     hexBytes    `json:"key"`
	Context *vecContext `json:"context,omitempty"` // where AD came from, if a Context
	AD      hexBytes    `json:"ad"`
	Nonce   hexBytes    `json:"nonce"`
	Blob    hexBytes    `json:"blob"`
}

type streamFile struct {
	Comment string         `json:"comment"`
	Cases   []streamVector `json:"cases"`
}

type streamVector struct {
	Name             string     `json:"name"`
	DEK              hexBytes   `json:"dek"`
	Version          uint32     `json:"version"`
	Context          vecContext `json:"context"`
	Salt             hexBytes   `json:"salt"`
	Subkey           hexBytes   `json:"subkey"`
	NoncePrefix      hexBytes   `json:"nonce_prefix"`
	PlaintextLen     int        `json:"plaintext_len"`
	Plaintext        hexBytes   `json:"plaintext,omitempty"`       // absent: pattern(PlaintextLen)
	Ciphertext       hexBytes   `json:"ciphertext,omitempty"`      // absent for large cases
	CiphertextLen    int        `json:"ciphertext_len"`            // always
	CiphertextSHA256 hexBytes   `json:"ciphertext_sha256"`         // always
	CiphertextTail   hexBytes   `json:"ciphertext_tail,omitempty"` // last 64 bytes, large cases
}

func (v streamVector) plaintext() []byte {
	if v.Plaintext != nil || v.PlaintextLen == 0 {
		return v.Plaintext
	}
	return pattern(v.PlaintextLen)
}

var (
	vecCtx = vecContext{"dep-01H8Z", "payroll", "entry/42", "entry"}

	recordCases = []recordVector{
		{Name: "empty plaintext", Key: fixed(0x00, 32), Version: 1, Context: vecCtx,
			Nonce: fixed(0xa0, 12), Plaintext: []byte{}},
		{Name: "short entry", Key: fixed(0x00, 32), Version: 1,
			Context: vecContext{"dep-01H8Z", "payroll", "entry/43", "entry"}, Nonce: fixed(0xb0, 12),
			Plaintext: []byte(`{"user":"svc-backup","password":"correct horse battery staple"}`)},
		{Name: "300 bytes, high key version, non-ASCII context", Key: fixed(0x40, 32), Version: 0xfffffffe,
			Context: vecContext{"déploiement-α", "財務", "entry/7f3c", "attachment-meta"}, Nonce: fixed(0xc0, 12),
			Plaintext: pattern(300)},
		{Name: "empty context, key version 0", Key: fixed(0x20, 32), Version: 0, Nonce: fixed(0xd0, 12),
			Plaintext: []byte("x")},
	}

	wrapCases = []wrapVector{
		{Name: "DEK under the root key", KEK: fixed(0x60, 32), Key: fixed(0x80, 32),
			Context: &vecContext{"dep-01H8Z", "payroll", "dek/3", "dek"}, Nonce: fixed(0xc0, 12)},
		{Name: "root key under a slot KEK", KEK: fixed(0x70, 32), Key: fixed(0x90, 32),
			Context: &vecContext{"dep-01H8Z", "", "slot/2", "root"}, Nonce: fixed(0xc8, 12)},
		{Name: "64-byte key, empty ad", KEK: fixed(0x60, 32), Key: fixed(0x10, 64),
			AD: []byte{}, Nonce: fixed(0xd0, 12)},
	}

	attCtx      = vecContext{"dep-01H8Z", "payroll", "att/9b1f", "attachment"}
	streamCases = []streamVector{
		{Name: "empty stream", PlaintextLen: 0},
		{Name: "one byte", PlaintextLen: 1, Plaintext: []byte("k")},
		{Name: "short text", PlaintextLen: 44, Plaintext: []byte("The quick brown fox jumps over the lazy dog.")},
		{Name: "ChunkSize-1", PlaintextLen: ChunkSize - 1},
		{Name: "exactly ChunkSize: one full last chunk", PlaintextLen: ChunkSize},
		{Name: "ChunkSize+1: a full chunk and a 1-byte last chunk", PlaintextLen: ChunkSize + 1},
		{Name: "2*ChunkSize+5", PlaintextLen: 2*ChunkSize + 5},
	}
)

const vectorsComment = "keyward crypt format vectors; see the crypt package documentation for the layouts. Never change released vectors."

func TestGenerateVectors(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/*.json")
	}
	rf := recordFile{Comment: vectorsComment}
	for _, v := range recordCases {
		aead := testAEAD(t, testKey(t, v.Key))
		v.AD = v.Context.ctx().AD()
		v.Ciphertext = sealRecordNonce(aead, v.Version, v.Context.ctx(), v.Plaintext, v.Nonce)
		rf.Cases = append(rf.Cases, v)
	}
	writeJSON(t, "record_v1.json", rf)

	wf := wrapFile{Comment: vectorsComment}
	for _, v := range wrapCases {
		if v.Context != nil {
			v.AD = v.Context.ctx().AD()
		}
		var err error
		v.Blob, err = wrapKeyNonce(testKey(t, v.KEK), testKey(t, v.Key), v.AD, v.Nonce)
		if err != nil {
			t.Fatal(err)
		}
		wf.Cases = append(wf.Cases, v)
	}
	writeJSON(t, "wrap_v1.json", wf)

	sf := streamFile{Comment: vectorsComment + " Large plaintexts are pattern bytes: byte i = i mod 251."}
	for i, v := range streamCases {
		v.DEK, v.Version, v.Context, v.Salt = fixed(0x30, 32), uint32(3+i), attCtx, fixed(0xe0+byte(i), 32)
		dek := testKey(t, v.DEK)
		ct := sealStream(t, dek, v.Version, v.Context.ctx(), v.Salt, v.plaintext())
		okm, err := streamOKM(dek, ct[:StreamHeaderSize], v.Context.ctx())
		if err != nil {
			t.Fatal(err)
		}
		v.Subkey, v.NoncePrefix = okm[:32], okm[32:]
		sum := sha256.Sum256(ct)
		v.CiphertextLen, v.CiphertextSHA256 = len(ct), sum[:]
		if len(ct) <= 4096 {
			v.Ciphertext = ct
		} else {
			v.Plaintext, v.CiphertextTail = nil, ct[len(ct)-64:]
		}
		sf.Cases = append(sf.Cases, v)
	}
	writeJSON(t, "stream_v1.json", sf)
}

func loadRecordVectors(t testing.TB) []recordVector {
	var f recordFile
	readJSON(t, "record_v1.json", &f)
	if len(f.Cases) < len(recordCases) {
		t.Fatalf("record_v1.json has %d cases, want %d", len(f.Cases), len(recordCases))
	}
	return f.Cases
}

func loadWrapVectors(t testing.TB) []wrapVector {
	var f wrapFile
	readJSON(t, "wrap_v1.json", &f)
	if len(f.Cases) < len(wrapCases) {
		t.Fatalf("wrap_v1.json has %d cases, want %d", len(f.Cases), len(wrapCases))
	}
	return f.Cases
}

func loadStreamVectors(t testing.TB) []streamVector {
	var f streamFile
	readJSON(t, "stream_v1.json", &f)
	if len(f.Cases) < len(streamCases) {
		t.Fatalf("stream_v1.json has %d cases, want %d", len(f.Cases), len(streamCases))
	}
	return f.Cases
}

func TestRecordVectors(t *testing.T) {
	for _, v := range loadRecordVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			c := v.Context.ctx()
			if got := c.AD(); !bytes.Equal(got, v.AD) {
				t.Errorf("AD() = %x, want %x", got, v.AD)
			}
			aead := testAEAD(t, testKey(t, v.Key))
			if got := sealRecordNonce(aead, v.Version, c, v.Plaintext, v.Nonce); !bytes.Equal(got, v.Ciphertext) {
				t.Errorf("sealRecordNonce = %x, want %x", got, v.Ciphertext)
			}
			got, err := OpenRecord(aead, c, v.Ciphertext)
			if err != nil || !bytes.Equal(got, v.Plaintext) {
				t.Errorf("OpenRecord = %x, %v, want %x", got, err, v.Plaintext)
			}
			if ver, err := RecordKeyVersion(v.Ciphertext); err != nil || ver != v.Version {
				t.Errorf("RecordKeyVersion = %d, %v, want %d", ver, err, v.Version)
			}
		})
	}
}

func TestWrapVectors(t *testing.T) {
	for _, v := range loadWrapVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			if v.Context != nil {
				if got := v.Context.ctx().AD(); !bytes.Equal(got, v.AD) {
					t.Errorf("AD() = %x, want %x", got, v.AD)
				}
			}
			kek := testKey(t, v.KEK)
			got, err := wrapKeyNonce(kek, testKey(t, v.Key), v.AD, v.Nonce)
			if err != nil || !bytes.Equal(got, v.Blob) {
				t.Errorf("wrapKeyNonce = %x, %v, want %x", got, err, v.Blob)
			}
			k, err := UnwrapKey(kek, v.Blob, v.AD)
			if err != nil {
				t.Fatalf("UnwrapKey: %v", err)
			}
			defer k.Wipe()
			if !bytes.Equal(k.UnsafeBytes(), v.Key) {
				t.Errorf("UnwrapKey = %x, want %x", k.UnsafeBytes(), v.Key)
			}
		})
	}
}

func TestStreamVectors(t *testing.T) {
	for _, v := range loadStreamVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			c, pt := v.Context.ctx(), v.plaintext()
			if len(pt) != v.PlaintextLen {
				t.Fatalf("plaintext is %d bytes, want %d", len(pt), v.PlaintextLen)
			}
			dek := testKey(t, v.DEK)
			ct := sealStream(t, dek, v.Version, c, v.Salt, pt)
			checkStreamBytes(t, v, ct)
			if v.Ciphertext != nil {
				ct = v.Ciphertext // open the published bytes, not our own
			}
			got, err := openStream(dek, c, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("openStream = %d bytes, %v, want %d bytes", len(got), err, len(pt))
			}
			if ver, err := StreamKeyVersion(ct); err != nil || ver != v.Version {
				t.Errorf("StreamKeyVersion = %d, %v, want %d", ver, err, v.Version)
			}
			if n, err := PlaintextSize(int64(len(ct))); err != nil || n != int64(len(pt)) {
				t.Errorf("PlaintextSize(%d) = %d, %v, want %d", len(ct), n, err, len(pt))
			}
		})
	}
}

// checkStreamBytes compares a whole stream ciphertext to a vector, by hex
// when published, always by length, SHA-256 and tail.
func checkStreamBytes(t *testing.T, v streamVector, ct []byte) {
	t.Helper()
	if v.Ciphertext != nil && !bytes.Equal(ct, v.Ciphertext) {
		t.Errorf("stream = %x, want %x", ct, v.Ciphertext)
	}
	sum := sha256.Sum256(ct)
	if len(ct) != v.CiphertextLen || !bytes.Equal(sum[:], v.CiphertextSHA256) {
		t.Errorf("stream: %d bytes, SHA-256 %x, want %d bytes, %x", len(ct), sum, v.CiphertextLen, v.CiphertextSHA256)
	}
	if v.CiphertextTail != nil && !bytes.HasSuffix(ct, v.CiphertextTail) {
		t.Errorf("stream tail = %x, want %x", ct[max(0, len(ct)-64):], v.CiphertextTail)
	}
}
