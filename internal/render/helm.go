package render

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/strvals"
	"k8s.io/client-go/dynamic"
)

// HelmSpec is the input of a render-helm action.
type HelmSpec struct {
	// Target is the helm_chart target's label, for messages.
	Target string `json:"target"`
	// Chart is the chart directory, workspace-relative; Files are under it.
	Chart string `json:"chart"`
	Files []File `json:"files"`
	// Values are values files, layered in order (later files win) over the
	// chart's values.yaml.
	Values []File `json:"values,omitempty"`
	// Set are key=value overrides (helm --set syntax), applied last.
	Set         []string `json:"set,omitempty"`
	Release     string   `json:"release"`
	Namespace   string   `json:"namespace,omitempty"`
	KubeVersion string   `json:"kube_version"`
	Images      []Image  `json:"images,omitempty"`
}

// Helm renders a chart as `helm template` would (client-only, no hooks run),
// CRDs from crds/ first, then the templates in Helm's install order.
func Helm(spec HelmSpec) ([]byte, error) {
	log.SetOutput(io.Discard) // Helm's loader and coalescing log through the standard logger.
	ch, err := loadChart(spec)
	if err != nil {
		return nil, err
	}
	if err := refuseUnsupported(ch, spec); err != nil {
		return nil, err
	}
	vals, err := helmValues(spec)
	if err != nil {
		return nil, err
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return nil, fmt.Errorf("%s: dependencies: %w", spec.Chart, err)
	}
	caps, err := capabilities(ch, spec)
	if err != nil {
		return nil, err
	}
	opts := chartutil.ReleaseOptions{Name: spec.Release, Namespace: spec.Namespace, Revision: 1, IsInstall: true}
	renderVals, err := chartutil.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		return nil, fmt.Errorf("%s: values: %w", spec.Chart, err)
	}
	files, err := engine.RenderWithClientProvider(ch, renderVals, noCluster{})
	if err != nil {
		return nil, helmError(ch, spec, err)
	}
	return helmOutput(ch, spec, files)
}

// loadChart loads the chart from the declared files only.
func loadChart(spec HelmSpec) (*chart.Chart, error) {
	var files []*loader.BufferedFile
	prefix := spec.Chart + "/"
	for _, f := range spec.Files {
		if !strings.HasPrefix(f.Name, prefix) {
			return nil, fmt.Errorf("%s: %s is not inside the chart directory %s", spec.Target, f.Name, spec.Chart)
		}
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		files = append(files, &loader.BufferedFile{Name: strings.TrimPrefix(f.Name, prefix), Data: data})
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("%s: loading the chart: %w", spec.Chart, err)
	}
	return ch, nil
}

// helmValues layers the values files, the image values and the set values.
func helmValues(spec HelmSpec) (map[string]any, error) {
	vals := map[string]any{}
	for _, f := range spec.Values {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		layer, err := chartutil.ReadValues(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		vals = chartutil.MergeTables(layer.AsMap(), vals)
	}
	images, err := resolveImages(spec.Images)
	if err != nil {
		return nil, err
	}
	for _, img := range images {
		setImageValue(vals, img)
	}
	for _, s := range spec.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("%s: set %q: %w", spec.Target, s, err)
		}
	}
	return vals, nil
}

// setImageValue fills in the value at img.Key: a string value (or a key named
// "image" without one) gets registry/repository@digest; a map gets the chart
// conventions repository + tag + digest (and registry when it has one).
func setImageValue(vals map[string]any, img resolvedImage) {
	keys := strings.Split(img.Key, ".")
	m := vals
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	last := keys[len(keys)-1]
	if _, isString := m[last].(string); isString {
		m[last] = img.reference()
		return
	}
	table, ok := m[last].(map[string]any)
	if !ok {
		table = map[string]any{}
		m[last] = table
	}
	if _, hasRegistry := table["registry"]; hasRegistry {
		table["registry"], table["repository"] = img.host, img.Repository
	} else {
		table["repository"] = img.name()
	}
	table["tag"] = strings.Replace(img.digest, ":", "-", 1)
	table["digest"] = img.digest
}

func capabilities(ch *chart.Chart, spec HelmSpec) (*chartutil.Capabilities, error) {
	kv, err := chartutil.ParseKubeVersion(spec.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("%s: kube_version %q: %w", spec.Target, spec.KubeVersion, err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	if c := ch.Metadata.KubeVersion; c != "" && !chartutil.IsCompatibleRange(c, kv.String()) {
		return nil, fmt.Errorf("%s/Chart.yaml: the chart requires kubeVersion %s, the target declares kube_version %s", spec.Chart, c, kv)
	}
	return caps, nil
}

// noCluster answers the lookup function: rendering happens at build time.
type noCluster struct{}

func (noCluster) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	return nil, false, fmt.Errorf("lookup of %s %s is not supported: slipway renders charts at build time, without a cluster", apiVersion, kind)
}

// helmError names workspace files in Helm's chart-relative template errors.
func helmError(ch *chart.Chart, spec HelmSpec, err error) error {
	msg := strings.ReplaceAll(err.Error(), ch.Name()+"/", spec.Chart+"/")
	return fmt.Errorf("%s: %s", spec.Target, msg)
}

// helmOutput sorts the rendered files in install order, CRDs first, refusing hooks.
func helmOutput(ch *chart.Chart, spec HelmSpec, files map[string]string) ([]byte, error) {
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, helmError(ch, spec, err)
	}
	if len(hooks) > 0 {
		h := hooks[0]
		return nil, fmt.Errorf("%s: %s %s is a Helm hook (%s): hooks are not supported, slipway applies every object of a chart together; remove the helm.sh/hook annotation",
			workspaceName(ch, spec, h.Path), h.Kind, h.Name, hookEvents(h.Events))
	}
	var out bytes.Buffer
	for _, crd := range ch.CRDObjects() {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", workspaceName(ch, spec, crd.Filename), bytes.TrimSpace(crd.File.Data))
	}
	for _, m := range manifests {
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", workspaceName(ch, spec, m.Name), strings.TrimSpace(m.Content))
	}
	return out.Bytes(), nil
}

func workspaceName(ch *chart.Chart, spec HelmSpec, name string) string {
	return path.Join(spec.Chart, strings.TrimPrefix(name, ch.Name()+"/"))
}

func hookEvents[E fmt.Stringer](events []E) string {
	var s []string
	for _, e := range events {
		s = append(s, e.String())
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// nondeterministic are Sprig functions whose output changes on every render.
var nondeterministic = regexp.MustCompile(`(?:^|[^\w.$])(randAlphaNum|randAlpha|randNumeric|randAscii|randBytes|randInt|shuffle|uuidv4|now|unixEpoch|genCA|genCAWithKey|genPrivateKey|genSelfSignedCert|genSelfSignedCertWithKey|genSignedCert|genSignedCertWithKey|bcrypt|htpasswd|encryptAES)\b`)

var action = regexp.MustCompile(`(?s)\{\{.*?\}\}`)

// refuseUnsupported refuses templates calling nondeterministic functions: their
// output would change on every build, so nothing could be cached or diffed.
func refuseUnsupported(ch *chart.Chart, spec HelmSpec) error {
	charts := []*chart.Chart{ch}
	for i := 0; i < len(charts); i++ {
		c := charts[i]
		charts = append(charts, c.Dependencies()...)
		for _, t := range c.Templates {
			for _, loc := range action.FindAllIndex(t.Data, -1) {
				m := nondeterministic.FindSubmatchIndex(t.Data[loc[0]:loc[1]])
				if m == nil {
					continue
				}
				at := loc[0] + m[2]
				line := 1 + bytes.Count(t.Data[:at], []byte("\n"))
				col := at - bytes.LastIndexByte(t.Data[:at], '\n')
				return fmt.Errorf("%s:%d:%d: %s changes on every render and is not supported: slipway renders charts reproducibly at build time (pass the value in with set or a values file)",
					workspaceName(ch, spec, path.Join(c.ChartFullPath(), t.Name)), line, col, t.Data[at:loc[0]+m[3]])
			}
		}
	}
	return nil
}
