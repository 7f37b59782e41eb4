package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pollen-hq/pollen/adapters/postgres"
	"github.com/pollen-hq/pollen/adapters/postgres/pgtest"
	"github.com/pollen-hq/pollen/engine/seal"
)

// Nodes sharing a PostgreSQL store must share its secrets: a node with another key, or with
// bootstrap secrets of its own data directory that differ from the store's, is refused at its
// start with what to do; given the first node's files, it starts.
func TestNodesShareSecrets(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	first := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Store: url, Node: "first"}
	s1, err := New(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	s1.Close()

	// Another node, with a data directory of its own: a key and secrets of its own are generated,
	// and refused.
	second := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Store: url, Node: "second"}
	_, err = New(ctx, second)
	if !errors.Is(err, postgres.ErrOtherKey) || !errors.Is(err, seal.ErrUnknownKey) || !strings.Contains(err.Error(), "same key") {
		t.Fatalf("a node with another key: %v", err)
	}
	copyFile(t, filepath.Join(first.DataDir, KeysFile), filepath.Join(second.DataDir, KeysFile))
	_, err = New(ctx, second)
	if err == nil || !strings.Contains(err.Error(), "bootstrap admin has other secrets") {
		t.Fatalf("a node with other secrets: %v", err)
	}
	copyFile(t, filepath.Join(first.DataDir, SecretsFile), filepath.Join(second.DataDir, SecretsFile))
	s2, err := New(ctx, second)
	if err != nil {
		t.Fatalf("a node with the first node's key and secrets: %v", err)
	}
	s2.Close()

	// The same key given by the environment (POLLEN_KEY) works as well.
	keys, err := seal.ReadFile(filepath.Join(first.DataDir, KeysFile))
	if err != nil {
		t.Fatal(err)
	}
	third := Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Store: url, Node: "third", Key: seal.FormatKeys(keys),
		UserSecret: "user-secret-0f3e-49ab-a8c1-5d72e6", OrgSecret: "org-secret-7b21-4c9d-9e05-a3f86b"}
	s3, err := New(ctx, third)
	if err != nil {
		t.Fatalf("a node given the key and secrets by the environment: %v", err)
	}
	s3.Close()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
