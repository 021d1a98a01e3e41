package creds

import (
	"os"
	"testing"

	"github.com/scproxy/scproxy/internal/keyringtest"
)

func TestMain(m *testing.M) { os.Exit(keyringtest.Run(m)) }

func needKeyring(t *testing.T) *keyringtest.Session { return keyringtest.Shared(t) }
