package main

import (
	"os"
	"testing"

	"github.com/pollen-hq/pollen/cmd/internal/rig"
)

func TestMain(m *testing.M) {
	code := m.Run()
	rig.RemoveBuilt()
	os.Exit(code)
}
