package sqlite

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/engine"
	"github.com/pollen-hq/pollen/engine/seal"
)

func sealedStore(t *testing.T, path string, keys ...[]byte) *Store {
	t.Helper()
	k, err := seal.NewKeyring(SealPurpose, keys...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{Sealer: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// filesContain reports which of the database's files (the WAL included) hold b.
func filesContain(t *testing.T, path string, b string) []string {
	t.Helper()
	var out []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.Contains(data, []byte(b)) {
			out = append(out, filepath.Base(p))
		}
	}
	return out
}

func TestConfigurationsSealedAtRest(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "pollen.db")
	k1, k2 := seal.GenerateKey(), seal.GenerateKey()
	s := sealedStore(t, path, k1)
	ctx := context.Background()
	const secret = "fd-API-key-SEALED-91c2"
	in := &engine.InstanceRecord{Name: "a", ElementKey: "freshdeskv2", Token: "t1", UserID: 1, OrganizationID: 1,
		Configuration: map[string]any{"username": secret, "event.notification.callback.url": "https://h.example.com/?token=cb-SEALED-77"}}
	if err := s.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Configuration["event.notification.signature.key"] = "sig-SEALED-55"
	if err := s.UpdateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Instance(ctx, in.ID)
	if err != nil || got.Configuration["username"] != secret {
		t.Fatalf("read back: %v %v", got, err)
	}
	for _, sec := range []string{secret, "cb-SEALED-77", "sig-SEALED-55"} {
		if f := filesContain(t, path, sec); len(f) > 0 {
			t.Errorf("%q in clear in %v", sec, f)
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	s.Close()

	// Rotation: the new key first, the old one second; Reseal moves every value to the new key.
	s2 := sealedStore(t, path, k2, k1)
	if n, err := s2.Reseal(ctx); err != nil || n != 1 {
		t.Fatalf("Reseal: %d %v", n, err)
	}
	s2.Close()
	s3 := sealedStore(t, path, k2)
	if got, err := s3.Instance(ctx, in.ID); err != nil || got.Configuration["username"] != secret {
		t.Fatalf("read with the new key alone: %v %v", got, err)
	}
	s3.Close()
	k, _ := seal.NewKeyring(SealPurpose, k1)
	s4, err := Open(path, Options{Sealer: k})
	if err == nil {
		_, err = s4.Instance(ctx, in.ID)
		s4.Close()
	}
	if !errors.Is(err, seal.ErrUnknownKey) {
		t.Errorf("read with the old key alone: %v", err)
	}
}

func TestClearConfigurationsSealedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pollen.db")
	s := openTest(t, path) // no key: stored in clear, as before sealing existed
	in := mkInstance(t, s, "legacy")
	s.Close()
	if len(filesContain(t, path, "secret-legacy")) == 0 {
		t.Fatal("the test's premise fails: the clear value is not in the file")
	}
	s2 := sealedStore(t, path, seal.GenerateKey())
	if got, err := s2.Instance(context.Background(), in.ID); err != nil || got.Configuration["username"] != "secret-legacy" {
		t.Fatalf("read back: %v %v", got, err)
	}
	if f := filesContain(t, path, "secret-legacy"); len(f) > 0 {
		t.Errorf("clear value left in %v after sealing", f)
	}
}

func TestDamagedFilesRefused(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	if _, err := Open(empty, Options{}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "0 bytes") {
		t.Errorf("zero-byte file: %v", err)
	}

	path := filepath.Join(dir, "pollen.db")
	s := openTest(t, path)
	for i := range 200 {
		mkInstance(t, s, strings.Repeat("x", 200)+string(rune('a'+i%26))+strings.Repeat("y", i))
	}
	s.Close()
	data, _ := os.ReadFile(path)
	if len(data) < 8192 {
		t.Fatalf("database too small to damage: %d bytes", len(data))
	}
	half := filepath.Join(dir, "half.db")
	os.WriteFile(half, data[:len(data)/2], 0o600)
	if _, err := Open(half, Options{}); !errors.Is(err, ErrDamaged) {
		t.Errorf("half-truncated file: %v", err)
	}
	corrupt := bytes.Clone(data)
	for i := 4096 + 100; i < 4096+400; i++ { // inside page 2
		corrupt[i] ^= 0x5a
	}
	bad := filepath.Join(dir, "corrupt.db")
	os.WriteFile(bad, corrupt, 0o600)
	if _, err := Open(bad, Options{}); !errors.Is(err, ErrDamaged) {
		t.Errorf("corrupted page: %v", err)
	}
}

// A database whose last run did not close it (a crash) opens with its write-ahead log replayed;
// without that log it is refused: opening would roll its latest changes back without a word. A
// clean close leaves nothing to check.
func TestLostWriteAheadLogRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pollen.db")
	s := openTest(t, path)
	in := mkInstance(t, s, "recent")
	// A crash now: the files as they stand, the database still open.
	crashed := filepath.Join(dir, "crashed")
	if err := os.Mkdir(crashed, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", openSuffix} {
		data, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatalf("%s: %v", suffix, err)
		}
		if err := os.WriteFile(filepath.Join(crashed, "pollen.db"+suffix), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if _, err := os.Stat(path + openSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a clean close left %s%s", path, openSuffix)
	}
	again := openTest(t, path)
	again.Close()

	cpath := filepath.Join(crashed, "pollen.db")
	wal, _ := os.ReadFile(cpath + "-wal")
	os.Remove(cpath + "-wal")
	if _, err := Open(cpath, Options{}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "write-ahead log") {
		t.Fatalf("a crashed database without its log: %v", err)
	}
	os.WriteFile(cpath+"-wal", wal, 0o600)
	recovered := openTest(t, cpath)
	if _, err := recovered.Instance(context.Background(), in.ID); err != nil {
		t.Errorf("the crashed database with its log lost the instance: %v", err)
	}
}
