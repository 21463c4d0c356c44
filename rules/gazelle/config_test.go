package gazelle

import (
	"testing"

	"github.com/bazelbuild/bazel-gazelle/config"
	"github.com/bazelbuild/bazel-gazelle/rule"
	"github.com/google/go-cmp/cmp"
)

// configureTree configures the directories "" and "a" with these BUILD file contents.
func configureTree(t *testing.T, root, child string) (rootCfg, childCfg *slipwayConfig) {
	t.Helper()
	l := &slipwayLang{}
	c := config.New()
	for _, d := range []struct{ rel, content string }{{"", root}, {"a", child}} {
		f, err := rule.LoadData(d.rel+"/BUILD.bazel", d.rel, []byte(d.content))
		if err != nil {
			t.Fatal(err)
		}
		c = c.Clone()
		l.Configure(c, d.rel, f)
		if d.rel == "" {
			rootCfg = getSlipwayConfig(c)
		}
	}
	return rootCfg, getSlipwayConfig(c)
}

func TestConfigureInheritsAndOverrides(t *testing.T) {
	root, child := configureTree(t, `
# gazelle:slipway_namespace shop
# gazelle:slipway_label team=a
# gazelle:slipway_label tier=web
# gazelle:slipway_image_env PORT=8080
# gazelle:slipway_image api //x:image
# gazelle:slipway_service
`, `
# gazelle:slipway_label tier=
# gazelle:slipway_image_env LOG=debug
# gazelle:slipway_image api
# gazelle:slipway_manifests_globs k8s/*.yaml, app.yaml
# gazelle:slipway_dev mine
`)
	want := &slipwayConfig{
		service: true, globs: defaultGlobs, manifestsName: "deploy", namespace: "shop",
		labels: map[string]string{"team": "a", "tier": "web"}, env: map[string]string{"PORT": "8080"},
		imageOverride: map[string]string{"api": "//x:image"}, devName: "dev",
	}
	if diff := cmp.Diff(want, root, cmp.AllowUnexported(slipwayConfig{})); diff != "" {
		t.Errorf("root (-want +got):\n%s", diff)
	}
	want = &slipwayConfig{
		globs: []string{"k8s/*.yaml", "app.yaml"}, manifestsName: "deploy", namespace: "shop",
		labels: map[string]string{"team": "a"}, env: map[string]string{"LOG": "debug", "PORT": "8080"},
		imageOverride: map[string]string{}, devName: "mine",
	}
	if diff := cmp.Diff(want, child, cmp.AllowUnexported(slipwayConfig{})); diff != "" {
		t.Errorf("child (-want +got):\n%s", diff)
	}
}
