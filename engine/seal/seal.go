// Package seal encrypts secrets at rest with AES-256-GCM (the standard library's crypto/aes
// and crypto/cipher): a Keyring seals with its primary key and opens with any of its keys, so
// that keys can be rotated without downtime: add the new key first, reseal, drop the old one.
//
// A sealed value is: the magic "PS", a version byte (1), the 4-byte id of the key (the first
// bytes of SHA-256 over the key, which tell keys apart without revealing them), a 12-byte
// random nonce, and the ciphertext with its 16-byte tag. The additional data binds a value to
// what it is ("pollen instance configuration" for the stores), so that a value sealed for one
// purpose does not open as another.
//
// Keys live in a key file (one base64 key per line, the primary first; '#' starts a comment) or
// in an environment variable (the same, separated by commas). The file is created with mode 0600.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

const (
	version   = 1
	headerLen = 2 + 1 + 4 + 12
)

var magic = []byte("PS")

// ErrUnknownKey is returned by Open for a value sealed with a key the keyring does not hold.
var ErrUnknownKey = errors.New("sealed with a key this keyring does not hold")

type key struct {
	id   [4]byte
	aead cipher.AEAD
}

// Keyring seals with its first key and opens with any. It is safe for concurrent use.
type Keyring struct {
	keys []key
	ad   []byte
}

// NewKeyring returns a keyring of keys, the primary first; purpose is the additional data every
// value is bound to.
func NewKeyring(purpose string, keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no key")
	}
	k := &Keyring{ad: []byte(purpose)}
	for i, raw := range keys {
		if len(raw) != KeySize {
			return nil, fmt.Errorf("seal: key %d is %d bytes, want %d", i+1, len(raw), KeySize)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.keys = append(k.keys, key{id: KeyID(raw), aead: aead})
	}
	return k, nil
}

// KeyID is the id a sealed value names its key by.
func KeyID(raw []byte) [4]byte {
	sum := sha256.Sum256(append([]byte("pollen seal key id\x00"), raw...))
	return [4]byte(sum[:4])
}

// Seal encrypts plaintext with the primary key.
func (k *Keyring) Seal(plaintext []byte) ([]byte, error) {
	p := k.keys[0]
	out := make([]byte, headerLen, headerLen+len(plaintext)+p.aead.Overhead())
	copy(out, magic)
	out[2] = version
	copy(out[3:7], p.id[:])
	if _, err := rand.Read(out[7:headerLen]); err != nil {
		return nil, err
	}
	return p.aead.Seal(out, out[7:headerLen], plaintext, k.ad), nil
}

// Open decrypts a value Seal returned, with whichever key of the keyring sealed it.
func (k *Keyring) Open(sealed []byte) ([]byte, error) {
	if !IsSealed(sealed) || len(sealed) < headerLen+16 {
		return nil, errors.New("seal: not a sealed value")
	}
	id := [4]byte(sealed[3:7])
	for _, key := range k.keys {
		if key.id != id {
			continue
		}
		out, err := key.aead.Open(nil, sealed[7:headerLen], sealed[headerLen:], k.ad)
		if err != nil {
			return nil, fmt.Errorf("seal: the value does not open: it was altered, or sealed for something else")
		}
		return out, nil
	}
	return nil, fmt.Errorf("seal: %w (key id %x)", ErrUnknownKey, id)
}

// Primary reports whether a sealed value was sealed with the primary key.
func (k *Keyring) Primary(sealed []byte) bool {
	return IsSealed(sealed) && len(sealed) >= headerLen && [4]byte(sealed[3:7]) == k.keys[0].id
}

// IsSealed reports whether b has the form of a sealed value.
func IsSealed(b []byte) bool {
	return len(b) >= 3 && bytes.Equal(b[:2], magic) && b[2] == version
}

// GenerateKey returns a new random key.
func GenerateKey() []byte {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return b
}

// ParseKeys reads keys: base64, separated by newlines or commas, the primary first; blank lines
// and '#' comments are skipped.
func ParseKeys(text string) ([][]byte, error) {
	var out [][]byte
	for _, line := range strings.Split(text, "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		for _, field := range strings.Split(line, ",") {
			field = strings.TrimSpace(field)
			if field == "" {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(field)
			if err != nil || len(b) != KeySize {
				return nil, fmt.Errorf("key %d: want %d bytes in base64", len(out)+1, KeySize)
			}
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no key")
	}
	return out, nil
}

// FormatKeys writes keys as a key file holds them.
func FormatKeys(keys [][]byte) string {
	var b strings.Builder
	b.WriteString("# Pollen's keys for secrets at rest: base64 AES-256 keys, the primary first. Keep this file secret.\n")
	for _, k := range keys {
		b.WriteString(base64.StdEncoding.EncodeToString(k))
		b.WriteByte('\n')
	}
	return b.String()
}

// ReadFile reads a key file. It refuses a file that others than its owner may read.
func ReadFile(path string) ([][]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o lets others read the key; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// WriteFile replaces a key file atomically (a temporary file beside it, renamed), mode 0600.
func WriteFile(path string, keys [][]byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pollen-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(FormatKeys(keys)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
