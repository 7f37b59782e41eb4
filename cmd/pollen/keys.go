package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pollen-hq/pollen/adapters/sqlite"
	"github.com/pollen-hq/pollen/cmd/internal/cli"
	"github.com/pollen-hq/pollen/cmd/internal/server"
	"github.com/pollen-hq/pollen/engine/seal"
)

const keysDoc = `Keys manages the keys that seal secrets at rest (vendor credentials, signature
keys, URL credentials) in the database, with AES-256-GCM.

  pollen keys rotate [--data-dir D] [--key-file F] [--store URL]
        generates a new key, seals every instance's secrets with it, and drops the old
        one from the key file (DATA-DIR/pollen.key by default). Stop 'pollen serve' first.
        --store (or POLLEN_STORE) names the PostgreSQL store, as pollen serve's; without
        it the database is the SQLite file in the data directory.
        With POLLEN_KEY set ("NEW,OLD": base64 keys, the new one first), it seals everything
        with NEW and the old key may then be removed from POLLEN_KEY.
  pollen keys generate
        prints a new random key (base64), for POLLEN_KEY.

Back the key up with the database: without it the instances' secrets cannot be read.`

func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stdout, "usage: pollen keys <rotate|generate> [flags]\n\n%s\n", keysDoc)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	switch args[0] {
	case "generate":
		fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(seal.GenerateKey()))
		return cli.ExitOK
	case "rotate":
	default:
		fmt.Fprintf(stderr, "pollen keys: unknown subcommand %q\n", args[0])
		return cli.ExitUsage
	}
	fs := cli.NewFlags("pollen keys rotate", "[flags]", keysDoc, stderr)
	dataDir := fs.String("data-dir", "pollen-data", "`directory` of the database")
	file := fs.String("key-file", "", "`file` of the keys (default DATA-DIR/pollen.key)")
	storeURL := fs.String("store", "", "`URL` of the PostgreSQL store (default: POLLEN_STORE; neither: the SQLite file in --data-dir)")
	if code, ok := cli.ParseFlags(fs, args[1:]); !ok {
		return code
	}
	if *storeURL == "" {
		*storeURL = os.Getenv("POLLEN_STORE")
	}
	if err := rotateKeys(ctx, *dataDir, *storeURL, *file, os.Getenv("POLLEN_KEY"), stdout); err != nil {
		fmt.Fprintf(stderr, "pollen keys rotate: %v\n", err)
		return cli.ExitFail
	}
	return cli.ExitOK
}

// rotateKeys seals every instance configuration with a new primary key. With a key file: the
// new key is written first beside the old one (so that a crash at any point leaves a file that
// opens everything), everything is resealed, then the old key is dropped.
func rotateKeys(ctx context.Context, dataDir, storeURL, file, env string, out io.Writer) error {
	if err := server.CheckStore(storeURL); err != nil {
		return err
	}
	if !server.IsPostgres(storeURL) {
		if _, err := os.Stat(filepath.Join(dataDir, server.DBFile)); err != nil {
			return fmt.Errorf("no database: %w", err)
		}
	}
	reseal := func(keys [][]byte) (int, error) {
		k, err := seal.NewKeyring(sqlite.SealPurpose, keys...)
		if err != nil {
			return 0, err
		}
		store, err := server.OpenStore(ctx, storeURL, dataDir, k, nil)
		if err != nil {
			return 0, err
		}
		defer store.Close()
		return store.Reseal(ctx)
	}
	if env != "" {
		keys, err := seal.ParseKeys(env)
		if err != nil {
			return fmt.Errorf("POLLEN_KEY: %w", err)
		}
		if len(keys) < 2 {
			return errors.New(`POLLEN_KEY holds one key: set it to "NEW,OLD" (pollen keys generate prints NEW), run this again, then set it to NEW`)
		}
		n, err := reseal(keys)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%d instance configurations sealed with the first key of POLLEN_KEY; the others may now be removed from it\n", n)
		return nil
	}
	if file == "" {
		file = filepath.Join(dataDir, server.KeysFile)
	}
	old, err := seal.ReadFile(file)
	if err != nil {
		return err
	}
	keys := append([][]byte{seal.GenerateKey()}, old...)
	if err := seal.WriteFile(file, keys); err != nil {
		return err
	}
	n, err := reseal(keys)
	if err != nil {
		return fmt.Errorf("%w (the key file holds the new and the old keys: run this again)", err)
	}
	if err := seal.WriteFile(file, keys[:1]); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d instance configurations sealed with a new key; %s holds it alone\n", n, file)
	return nil
}
