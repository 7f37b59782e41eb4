package main

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopChromium()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}
