package gazelle

import "testing"

func TestDevPattern(t *testing.T) {
	for _, tc := range []struct {
		pkgs []string
		want string
	}{
		{[]string{"services/api", "services/worker"}, "//services/..."},
		{[]string{"examples/shop/catalog", "examples/shop/orders", "examples/shop/worker"}, "//examples/shop/..."},
		{[]string{"examples/hello", "examples/shop/catalog"}, "//examples/..."},
		{[]string{"deploy"}, "//deploy/..."},
		{[]string{"orders", "worker"}, "//..."},
		{[]string{"", "api"}, "//..."},
		// A shared name prefix is not a shared directory.
		{[]string{"team/app", "team/apps"}, "//team/..."},
		{[]string{"app", "apps"}, "//..."},
	} {
		if got := devPattern(tc.pkgs); got != tc.want {
			t.Errorf("devPattern(%q) = %q, want %q", tc.pkgs, got, tc.want)
		}
	}
}
