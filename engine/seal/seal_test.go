package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpenRotate(t *testing.T) {
	k1, k2 := GenerateKey(), GenerateKey()
	old, err := NewKeyring("test", k1)
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte(`{"username":"fd-API-key"}`)
	s1, err := old.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s1, []byte("fd-API-key")) || !IsSealed(s1) {
		t.Fatalf("sealed value shows the plaintext or lacks the header: %q", s1)
	}
	if again, _ := old.Seal(plain); bytes.Equal(again, s1) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	both, _ := NewKeyring("test", k2, k1)
	if got, err := both.Open(s1); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open with the old key second: %q %v", got, err)
	}
	if both.Primary(s1) {
		t.Error("a value sealed with the old key counts as primary")
	}
	s2, _ := both.Seal(plain)
	if !both.Primary(s2) {
		t.Error("a value sealed with the new key is not primary")
	}
	if _, err := old.Open(s2); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old keyring opens a new value: %v", err)
	}
	other, _ := NewKeyring("other purpose", k2)
	if _, err := other.Open(s2); err == nil {
		t.Error("a value opens for another purpose")
	}
	s2[len(s2)-1] ^= 1
	if _, err := both.Open(s2); err == nil {
		t.Error("an altered value opens")
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pollen.key")
	k1, k2 := GenerateKey(), GenerateKey()
	if err := WriteFile(path, [][]byte{k1, k2}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o", fi.Mode().Perm())
	}
	keys, err := ReadFile(path)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], k1) {
		t.Fatalf("ReadFile: %d keys, %v", len(keys), err)
	}
	os.Chmod(path, 0o644)
	if _, err := ReadFile(path); err == nil {
		t.Error("a world-readable key file is accepted")
	}
	if _, err := ParseKeys("bm90IGEga2V5"); err == nil {
		t.Error("a short key is accepted")
	}
}
