package gazelle

import (
	"flag"
	"log"
	"maps"
	"path"
	"strings"

	"github.com/bazelbuild/bazel-gazelle/config"
	"github.com/bazelbuild/bazel-gazelle/rule"
)

// The `# gazelle:` directives this extension reads. All but serviceDirective and
// devDirective are inherited by subdirectories, which may override them.
const (
	// serviceDirective marks a directory as a service: an image per go_binary, even
	// without manifest files. `# gazelle:slipway_service false` unmarks one.
	serviceDirective = "slipway_service"
	// globsDirective sets the manifest file globs, comma separated, relative to each
	// directory. Default: deploy.yaml, deploy.yml, k8s/*.yaml, k8s/*.yml.
	globsDirective = "slipway_manifests_globs"
	// manifestsNameDirective names generated manifests targets. Default: deploy.
	manifestsNameDirective = "slipway_manifests_name"
	// namespaceDirective sets manifests' namespace ("" clears it).
	namespaceDirective = "slipway_namespace"
	// labelDirective adds a label to manifests: `key=value`; `key=` removes it.
	labelDirective = "slipway_label"
	// imageDirective maps a YAML image name to a target: `name //pkg:target`,
	// overriding the inferred one; `name` alone removes the override.
	imageDirective = "slipway_image"
	// baseDirective sets images' base (a label; "" clears it).
	baseDirective = "slipway_image_base"
	// envDirective adds an environment variable to images: `KEY=value`; `KEY=` removes it.
	envDirective = "slipway_image_env"
	// userDirective sets images' user ("" clears it).
	userDirective = "slipway_image_user"
	// devDirective puts a dev target in this package over the deployables beneath it:
	// `# gazelle:slipway_dev [name]`; `# gazelle:slipway_dev off` at the root drops
	// the root's.
	devDirective = "slipway_dev"
)

var defaultGlobs = []string{"deploy.yaml", "deploy.yml", "k8s/*.yaml", "k8s/*.yml"}

// slipwayConfig is the extension's configuration of one directory.
type slipwayConfig struct {
	service       bool
	globs         []string
	manifestsName string
	namespace     string
	labels        map[string]string
	imageOverride map[string]string
	base          string
	env           map[string]string
	user          string
	devName       string // "" for no dev target in this package
}

func newSlipwayConfig() *slipwayConfig {
	return &slipwayConfig{
		globs:         defaultGlobs,
		manifestsName: "deploy",
		labels:        map[string]string{},
		imageOverride: map[string]string{},
		env:           map[string]string{},
		devName:       "dev",
	}
}

// child is the configuration a subdirectory inherits.
func (sc *slipwayConfig) child() *slipwayConfig {
	c := *sc
	c.service = false
	c.devName = ""
	c.labels = maps.Clone(sc.labels)
	c.imageOverride = maps.Clone(sc.imageOverride)
	c.env = maps.Clone(sc.env)
	return &c
}

// getSlipwayConfig returns the extension's configuration of c's directory.
func getSlipwayConfig(c *config.Config) *slipwayConfig {
	if sc, ok := c.Exts[languageName].(*slipwayConfig); ok {
		return sc
	}
	return newSlipwayConfig()
}

// RegisterFlags registers no flags: the extension is configured by directives.
func (*slipwayLang) RegisterFlags(*flag.FlagSet, string, *config.Config) {}

// CheckFlags has no flags to check.
func (*slipwayLang) CheckFlags(*flag.FlagSet, *config.Config) error { return nil }

// KnownDirectives lists the extension's directives.
func (*slipwayLang) KnownDirectives() []string {
	return []string{serviceDirective, globsDirective, manifestsNameDirective, namespaceDirective,
		labelDirective, imageDirective, baseDirective, envDirective, userDirective, devDirective}
}

// Configure derives the directory rel's configuration from its parent's and the
// directives of its BUILD file f (nil when there is none).
func (*slipwayLang) Configure(c *config.Config, rel string, f *rule.File) {
	var sc *slipwayConfig
	if parent, ok := c.Exts[languageName].(*slipwayConfig); ok && rel != "" {
		sc = parent.child()
	} else {
		sc = newSlipwayConfig()
	}
	if f != nil {
		for _, d := range f.Directives {
			sc.apply(f.Path, d)
		}
	}
	c.Exts[languageName] = sc
}

// apply applies one directive of the BUILD file at file.
func (sc *slipwayConfig) apply(file string, d rule.Directive) {
	v := strings.TrimSpace(d.Value)
	switch d.Key {
	case serviceDirective:
		sc.service = v == "" || v == "true"
	case globsDirective:
		sc.globs = splitList(v)
	case manifestsNameDirective:
		if v != "" {
			sc.manifestsName = v
		}
	case namespaceDirective:
		sc.namespace = v
	case labelDirective:
		setKeyValue(file, d, sc.labels)
	case envDirective:
		setKeyValue(file, d, sc.env)
	case imageDirective:
		setImageOverride(file, d, sc.imageOverride)
	case baseDirective:
		sc.base = v
	case userDirective:
		sc.user = v
	case devDirective:
		switch v {
		case "":
			sc.devName = "dev"
		case "off", "false":
			sc.devName = ""
		default:
			sc.devName = v
		}
	}
}

// setKeyValue applies a `key=value` directive to m; `key=` deletes key.
func setKeyValue(file string, d rule.Directive, m map[string]string) {
	k, v, ok := strings.Cut(strings.TrimSpace(d.Value), "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		log.Printf("%s: # gazelle:%s %s: want key=value (key= removes it)", file, d.Key, d.Value)
		return
	}
	if v = strings.TrimSpace(v); v == "" {
		delete(m, k)
		return
	}
	m[k] = v
}

// setImageOverride applies a `name label` directive to m; `name` alone deletes it.
func setImageOverride(file string, d rule.Directive, m map[string]string) {
	fields := strings.Fields(d.Value)
	switch len(fields) {
	case 1:
		delete(m, fields[0])
	case 2:
		m[fields[0]] = fields[1]
	default:
		log.Printf("%s: # gazelle:%s %s: want an image name and a label", file, d.Key, d.Value)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = path.Clean(strings.TrimSpace(p)); p != "." {
			out = append(out, p)
		}
	}
	return out
}
