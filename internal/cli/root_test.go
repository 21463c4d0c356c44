package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/internal/version"
)

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	root := NewRoot()
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("slipway version: %v", err)
	}
	if got, want := out.String(), "slipway "+version.Version+" "; !strings.HasPrefix(got, want) {
		t.Errorf("slipway version printed %q, want prefix %q", got, want)
	}
}

func TestUnknownCommandFails(t *testing.T) {
	root := NewRoot()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"no-such-command"})
	if err := root.ExecuteContext(context.Background()); err == nil {
		t.Fatal("slipway no-such-command succeeded, want an error")
	}
}
