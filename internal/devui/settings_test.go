package devui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSettingsLayerOverTheRule(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings Settings
		rule     []string
		want     []string
	}{
		{"rule alone", Settings{}, []string{"//b:deploy"}, []string{"//b:deploy"}},
		{"enabled wins over the rule", Settings{Enabled: []string{"//b:deploy"}}, []string{"//b:deploy"}, nil},
		{"disabled adds", Settings{Disabled: []string{"//a:deploy"}}, []string{"//b:deploy"}, []string{"//a:deploy", "//b:deploy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.settings.DisabledTargets(tc.rule)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSettingsChangesAreSeenWithoutRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan Settings, 10)
	errs := make(chan error, 10)
	go WatchSettings(ctx, path, 10*time.Millisecond, nil, func(s Settings) { changes <- s }, func(err error) { errs <- err })
	if err := os.WriteFile(path, []byte(`{"disabled": ["//a:deploy"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-changes:
		if !cmp.Equal(s.Disabled, []string{"//a:deploy"}) {
			t.Errorf("settings %+v", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the change was not seen")
	}
	if err := os.WriteFile(path, []byte(`{"disabled": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), path) {
			t.Errorf("error %v does not name the file", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the broken file was not reported")
	}
}

func TestOneLoopPerWorkspace(t *testing.T) {
	ws := t.TempDir()
	if _, err := FindLoop(ws); err == nil || !strings.Contains(err.Error(), "no slipway dev loop runs") {
		t.Errorf("FindLoop with no loop: %v", err)
	}
	c, err := ClaimWorkspace(ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(LoopInfo{PID: 42, URL: "http://127.0.0.1:1/"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ClaimWorkspace(ws); err == nil || !strings.Contains(err.Error(), "pid 42, UI at http://127.0.0.1:1/") {
		t.Errorf("second claim: %v", err)
	}
	if info, err := FindLoop(ws); err != nil || info.PID != 42 {
		t.Errorf("FindLoop: %+v %v", info, err)
	}
	c.Release()
	if _, err := FindLoop(ws); err == nil {
		t.Error("FindLoop found a released loop")
	}
	if b, _ := os.ReadFile(filepath.Join(ws, ".slipway", ".gitignore")); !strings.Contains(string(b), "*") {
		t.Errorf(".slipway/.gitignore: %q", b)
	}
}
