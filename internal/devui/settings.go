package devui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Settings are a user's own, in .slipway/settings.json in the workspace (never
// committed), layered over the dev rule's defaults.
type Settings struct {
	// Enabled and Disabled override the dev rule's disabled list, by target.
	Enabled  []string `json:"enabled,omitempty"`
	Disabled []string `json:"disabled,omitempty"`
	// UIPort is the UI's port when no --ui-port is given.
	UIPort int `json:"uiPort,omitempty"`
}

// SettingsPath is where a workspace's settings are.
func SettingsPath(workspace string) string {
	return filepath.Join(workspace, ".slipway", "settings.json")
}

// ReadSettings reads the settings; a missing file is no settings.
func ReadSettings(path string) (Settings, []byte, error) {
	var s Settings
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return s, nil, nil
	}
	if err != nil {
		return s, nil, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, b, fmt.Errorf("%s: %w (want {\"enabled\": [LABEL...], \"disabled\": [LABEL...], \"uiPort\": N})", path, err)
	}
	return s, b, nil
}

// DisabledTargets layers the settings over the rule's disabled deployables.
func (s Settings) DisabledTargets(ruleDisabled []string) []string {
	var out []string
	for _, t := range append(append([]string{}, ruleDisabled...), s.Disabled...) {
		if !slices.Contains(s.Enabled, t) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// WatchSettings calls onChange with the settings each time the file's content
// changes (checked every interval) until ctx ends; read errors go to onError.
func WatchSettings(ctx context.Context, path string, interval time.Duration, last []byte, onChange func(Settings), onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s, b, err := ReadSettings(path)
		if bytes.Equal(b, last) {
			continue
		}
		last = b
		if err != nil {
			onError(err)
			continue
		}
		onChange(s)
	}
}
