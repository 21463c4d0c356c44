package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-dev/slipway/internal/oci"
)

// koVersion is the newest ko whose go.mod asks for no newer Go than this machine's.
const koVersion = "v0.19.1"

// The image benchmark's program: crane (go-containerregistry's CLI) as a main
// package of a module of our own, with a const the benchmark edits.
const progGoMod = `module benchprog

go 1.26

require github.com/google/go-containerregistry v0.22.1
`

const progMain = `// Command benchprog is crane, go-containerregistry's CLI, with a version line the
// image benchmark edits.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/google/go-containerregistry/cmd/crane/cmd"
	"github.com/google/go-containerregistry/pkg/logs"
)

const version = "v1"

func main() {
	logs.Warn.SetOutput(os.Stderr)
	if len(os.Args) > 1 && os.Args[1] == "bench-version" {
		fmt.Println(version)
		return
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := cmd.Root.ExecuteContext(ctx); err != nil {
		cancel()
		os.Exit(1)
	}
}
`

// goEnv is the environment of the go commands the benchmarks run.
var goEnv = []string{"GOTOOLCHAIN=local", "GOWORK=off", "CGO_ENABLED=0"}

// tools builds the binaries the benchmarks run (once per run: go build is cached).
type tools struct {
	builder, slipway, ko string
}

func buildTools(ctx context.Context, withKo bool) (*tools, error) {
	bin := filepath.Join(opts.root, "bin")
	t := &tools{builder: filepath.Join(bin, "builder"), slipway: filepath.Join(bin, "slipway"), ko: filepath.Join(bin, "ko")}
	for out, pkg := range map[string]string{t.builder: "./rules/private/builder", t.slipway: "./cmd/slipway"} {
		if _, _, err := run(ctx, opts.slipway, goEnv, "go", "build", "-o", out, pkg); err != nil {
			return nil, err
		}
	}
	if withKo {
		if _, err := os.Stat(t.ko); err != nil {
			logf("installing ko %s (go install, from the Go module proxy)", koVersion)
			if _, _, err := run(ctx, opts.root, append(goEnv, "GOBIN="+bin), "go", "install", "github.com/google/ko@"+koVersion); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// imageFiles are one image build's inputs and outputs.
type imageFiles struct {
	dir                                   string
	layerSpec, blob, descriptor           string
	imageSpec, layoutDir, digest, binPath string
}

// writeSpecs writes the builder's JSON specs as rules/private/image.bzl does for an
// image with only a binary (scratch base, gzip, mtime 0).
func writeSpecs(dir, binary string) (*imageFiles, error) {
	f := &imageFiles{dir: dir, layerSpec: filepath.Join(dir, "binary.json"), blob: filepath.Join(dir, "binary.layer"),
		descriptor: filepath.Join(dir, "binary.descriptor.json"), imageSpec: filepath.Join(dir, "image.json"),
		layoutDir: filepath.Join(dir, "layout"), digest: filepath.Join(dir, "image.digest"), binPath: "/app/benchprog"}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	layer := map[string]any{"files": []map[string]any{{"dest": f.binPath, "executable": true, "mode": 493, "src": binary}},
		"group": "binary", "compression": "gzip", "mtime": 0}
	image := map[string]any{"annotations": map[string]string{}, "arch": "amd64", "base": "", "base_layers": []string{},
		"config": map[string]any{"cmd": []string{}, "entrypoint": []string{f.binPath}, "env": map[string]string{},
			"exposed_ports": []string{}, "labels": map[string]string{}, "user": "65532", "workdir": ""},
		"created": 0, "layers": []map[string]string{{"blob": f.blob, "descriptor": f.descriptor}}, "os": "linux"}
	for path, v := range map[string]any{f.layerSpec: layer, f.imageSpec: image} {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// assemble runs the builder's layer and image verbs (fresh outputs) and returns
// the wall time of both.
func (t *tools) assemble(ctx context.Context, f *imageFiles) (time.Duration, error) {
	for _, p := range []string{f.blob, f.descriptor, f.layoutDir, f.digest} {
		os.RemoveAll(p)
	}
	start := time.Now()
	if _, _, err := run(ctx, f.dir, nil, t.builder, "layer", "--spec="+f.layerSpec, "--blob="+f.blob, "--descriptor="+f.descriptor); err != nil {
		return 0, err
	}
	if _, _, err := run(ctx, f.dir, nil, t.builder, "image", "--spec="+f.imageSpec, "--layout="+f.layoutDir, "--digest="+f.digest); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func imageCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ExitOnError)
	reps := fs.Int("reps", 7, "timed repetitions (after one warm-up)")
	pushReps := fs.Int("push-reps", 3, "one-line-change pushes")
	_ = fs.Parse(args)

	t, err := buildTools(ctx, true)
	if err != nil {
		return err
	}
	cl, err := benchCluster(ctx)
	if err != nil {
		return err
	}
	reg := cl.RegistryHost

	// The program, in a module of its own under the scratch folder.
	progDir := filepath.Join(opts.root, "imgprog")
	if _, err := os.Stat(filepath.Join(progDir, "go.sum")); err != nil {
		if err := writeFile(filepath.Join(progDir, "go.mod"), progGoMod); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(progDir, "main.go"), progMain); err != nil {
			return err
		}
		logf("resolving the program's modules (go mod tidy in %s, not in slipway)", progDir)
		if _, _, err := run(ctx, progDir, goEnv, "go", "mod", "tidy"); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(progDir, "main.go"), []byte(progMain), 0o644); err != nil {
		return err
	}
	work := filepath.Join(opts.root, "image")
	os.RemoveAll(work)
	binDir := filepath.Join(work, "bin")
	binary := filepath.Join(binDir, "benchprog")
	gobuild := func() (time.Duration, error) {
		d, _, err := run(ctx, progDir, goEnv, "go", "build", "-trimpath", "-o", binary, ".")
		return d, err
	}
	if _, err := gobuild(); err != nil {
		return err
	}
	st, err := os.Stat(binary)
	if err != nil {
		return err
	}
	f, err := writeSpecs(filepath.Join(work, "slipway"), binary)
	if err != nil {
		return err
	}

	// ko's base: an empty linux/amd64 image in the bench registry (no network pulls).
	base := reg + "/bench/scratch:latest"
	if err := pushScratch(base); err != nil {
		return fmt.Errorf("pushing the scratch base for ko: %w", err)
	}
	koLayout := filepath.Join(work, "ko-layout")
	koEnv := append(append([]string{}, goEnv...), "KO_DOCKER_REPO="+reg+"/bench/ko", "KO_DEFAULTBASEIMAGE="+base)
	koBuild := func() (time.Duration, error) {
		os.RemoveAll(koLayout)
		d, out, err := run(ctx, progDir, koEnv, t.ko, "build", "--push=false", "--oci-layout-path="+koLayout,
			"--sbom=none", "--bare", "--platform=linux/amd64", ".")
		if err != nil {
			return d, err
		}
		_ = out
		return d, nil
	}

	var tTar, tGz, tSlip, tKo, tGo []time.Duration
	for i := -1; i < *reps; i++ {
		dTar, _, err := sh(ctx, binDir, "tar cf - benchprog | sha256sum")
		if err != nil {
			return err
		}
		dGz, _, err := sh(ctx, binDir, "tar cf - benchprog | gzip -1 | sha256sum")
		if err != nil {
			return err
		}
		dSlip, err := t.assemble(ctx, f)
		if err != nil {
			return err
		}
		dKo, err := koBuild()
		if err != nil {
			return err
		}
		dGo, err := gobuild()
		if err != nil {
			return err
		}
		if i < 0 {
			continue // warm-up: page cache, go build cache, ko's base pull
		}
		tTar, tGz, tSlip, tKo, tGo = append(tTar, dTar), append(tGz, dGz), append(tSlip, dSlip), append(tKo, dKo), append(tGo, dGo)
		logf("image rep %d: tar %s, tar+gzip %s, slipway %s, ko %s, go build %s", i+1, ms(dTar), ms(dGz), ms(dSlip), ms(dKo), ms(dGo))
	}
	desc, err := oci.ReadLayerDescriptor(f.descriptor)
	if err != nil {
		return err
	}
	koLayers := koLayerSizes(koLayout)

	// Bytes pushed: the first push, a one-line change, and nothing changed.
	push := func(layoutDir string) (pushResult, error) {
		_, out, err := run(ctx, work, nil, t.slipway, "push", "--json", "--layout", layoutDir, "--repository", "bench/imgprog", "--registry", reg)
		if err != nil {
			return pushResult{}, err
		}
		var r pushResult
		if err := json.Unmarshal([]byte(lastJSONLine(out)), &r); err != nil {
			return pushResult{}, fmt.Errorf("slipway push --json printed %q: %v", out, err)
		}
		return r, nil
	}
	first, err := push(f.layoutDir)
	if err != nil {
		return err
	}
	var changedRatios []float64
	var changedBytes, layerBytes, againBytes []int64
	for i := 0; i < *pushReps; i++ {
		if _, _, err := editVersion(filepath.Join(progDir, "main.go"), "v"); err != nil {
			return err
		}
		if _, err := gobuild(); err != nil {
			return err
		}
		if _, err := t.assemble(ctx, f); err != nil {
			return err
		}
		d, err := oci.ReadLayerDescriptor(f.descriptor)
		if err != nil {
			return err
		}
		changed, err := push(f.layoutDir)
		if err != nil {
			return err
		}
		again, err := push(f.layoutDir)
		if err != nil {
			return err
		}
		changedBytes = append(changedBytes, changed.Stats.BytesUploaded)
		layerBytes = append(layerBytes, d.Size)
		againBytes = append(againBytes, again.Stats.BytesUploaded)
		changedRatios = append(changedRatios, float64(changed.Stats.BytesUploaded)/float64(d.Size))
		logf("push rep %d: changed %d bytes (%d blobs) for a %d-byte app layer; again %d bytes (already present: %v)",
			i+1, changed.Stats.BytesUploaded, changed.Stats.BlobsUploaded, d.Size, again.Stats.BytesUploaded, again.AlreadyPresent)
	}
	_ = os.WriteFile(filepath.Join(progDir, "main.go"), []byte(progMain), 0o644)

	r := newReport("image")
	defer r.close()
	r.printf("program: crane (github.com/google/go-containerregistry/cmd/crane v0.22.1) as module benchprog, go build -trimpath, CGO_ENABLED=0: %s (%d bytes)\n", mib(st.Size()), st.Size())
	r.printf("slipway app layer (gzip BestSpeed): %s; ko layers: %s\n", mib(desc.Size), koLayers)
	r.printf("medians of %d runs after a warm-up, all interleaved in this run\n\n", *reps)
	mTar, mGz, mSlip, mKo, mGo := median(tTar), median(tGz), median(tSlip), median(tKo), median(tGo)
	r.table([][]string{
		{"step", "median", "runs (ms)", "slipway / this"},
		{"floor: tar cf - bin | sha256sum", ms(mTar), list(tTar), ratio(mSlip, mTar)},
		{"floor: tar cf - bin | gzip -1 | sha256sum", ms(mGz), list(tGz), ratio(mSlip, mGz)},
		{"slipway: builder layer + builder image", ms(mSlip), list(tSlip), "1.00x"},
		{"ko build (warm go cache, --push=false --oci-layout-path)", ms(mKo), list(tKo), ratio(mSlip, mKo)},
		{"go build -trimpath (warm cache; ko includes one)", ms(mGo), list(tGo), ratio(mSlip, mGo)},
		{"go build + slipway assembly", ms(mGo + mSlip), "", ratio(mGo+mSlip, mKo) + " of ko"},
	})
	r.printf("\nRATIO slipway/floor(tar|sha256sum) = %s; slipway/floor(tar|gzip -1|sha256sum) = %s; slipway/ko = %s; (go build + slipway)/ko = %s\n",
		ratio(mSlip, mTar), ratio(mSlip, mGz), ratio(mSlip, mKo), ratio(mGo+mSlip, mKo))
	r.printf("\npushes to %s/bench/imgprog with slipway push --json:\n", reg)
	rows := [][]string{{"push", "bytes uploaded", "app layer bytes", "ratio"}}
	rows = append(rows, []string{"first push of the program (0 if the registry kept it from an earlier run)", fmt.Sprint(first.Stats.BytesUploaded), fmt.Sprint(desc.Size), ""})
	for i := range changedBytes {
		rows = append(rows, []string{fmt.Sprintf("one-line change #%d", i+1), fmt.Sprint(changedBytes[i]), fmt.Sprint(layerBytes[i]), fmt.Sprintf("%.4fx", changedRatios[i])})
		rows = append(rows, []string{fmt.Sprintf("same image again #%d", i+1), fmt.Sprint(againBytes[i]), "", ""})
	}
	r.table(rows)
	worst := 0.0
	for _, x := range changedRatios {
		worst = max(worst, x)
	}
	medRatio := float64(medianInt(changedBytes)) / float64(medianInt(layerBytes))
	r.goal("push-after-one-line-change", fmt.Sprintf("%.4fx the app layer (median; worst %.4fx)", medRatio, worst), "<= 1.05x", worst <= 1.05)
	maxAgain := int64(0)
	for _, b := range againBytes {
		maxAgain = max(maxAgain, b)
	}
	r.goal("push-unchanged", fmt.Sprintf("%d bytes (max of %d)", maxAgain, len(againBytes)), "0 bytes", maxAgain == 0)
	r.goal("image-assembly-vs-ko", fmt.Sprintf("%s slipway vs %s ko (%s)", ms(mSlip), ms(mKo), ratio(mSlip, mKo)), "< 1x ko (informational: no numeric goal given)", mSlip < mKo)
	return nil
}

type pushResult struct {
	Reference      string
	AlreadyPresent bool
	Stats          struct {
		BytesUploaded int64 `json:"bytesUploaded"`
		BlobsUploaded int   `json:"blobsUploaded"`
	}
}

func lastJSONLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "{") {
			return lines[i]
		}
	}
	return out
}

// pushScratch writes an empty linux/amd64 image to ref.
func pushScratch(ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		return err
	}
	return remote.Write(r, img)
}

// koLayerSizes describes the layers of the image ko wrote to its layout.
func koLayerSizes(dir string) string {
	p, err := layout.FromPath(dir)
	if err != nil {
		return "?"
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return "?"
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) == 0 {
		return "?"
	}
	img, err := idx.Image(m.Manifests[len(m.Manifests)-1].Digest)
	if err != nil {
		return "?"
	}
	layers, err := img.Layers()
	if err != nil {
		return "?"
	}
	var parts []string
	for _, l := range layers {
		n, _ := l.Size()
		parts = append(parts, mib(n))
	}
	return strings.Join(parts, " + ")
}
