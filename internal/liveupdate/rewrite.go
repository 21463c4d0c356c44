// Package liveupdate is the dev loop's live update (docs/live-update.md): which
// cycles may sync a new binary into running containers instead of deploying a
// new image (the planner), how dev-mode pod templates run the agent (the
// rewrite), and how a binary reaches the agent (the exec API).
package liveupdate

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// In dev mode, a live-update container runs the agent from a shared emptyDir
// that an init container fills from the agent image.
const (
	Volume        = "slipway-live"
	InitContainer = "slipway-live-install"
	StateDir      = "/.slipway-live"
	AgentPath     = StateDir + "/agent"
	// AgentImagePath is where the agent is in its own image.
	AgentImagePath = "/slipway-agent"
	// Annotation, on rewritten pod templates, names the live-update images.
	Annotation = "slipway.dev/live-update"
)

// ErrNoCommand: a live-update container whose image has no entrypoint and
// whose manifest sets no command: there is nothing for the agent to run.
var ErrNoCommand = errors.New("no command: the image has no entrypoint and the container sets none")

// Image is a live-update image as a deployable deploys it.
type Image struct {
	// Label is the image target; Binary the executable target whose sources are
	// syncable, placed at BinaryPath in the image.
	Label, Binary, BinaryPath string
	// Reference is how the manifests name it (registry/repository@digest).
	Reference, Digest string
	// Entrypoint and Cmd are the image configuration's.
	Entrypoint, Cmd []string
}

// Sync is one container the loop syncs a new binary into.
type Sync struct {
	// Kind, Namespace and Name are the workload's; Selector selects its pods.
	Kind, Namespace, Name string
	Selector              map[string]string
	Container             string
	Image                 Image
}

// workloads are the kinds whose pod template the rewrite changes: the ones
// with a label selector, by which the loop finds their pods.
var workloads = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true}

// Rewrite changes obj's pod template (when obj is a workload) so that the
// containers running one of images run it under the agent; it returns those
// containers. The containers' images are unchanged.
func Rewrite(obj *unstructured.Unstructured, images []Image, agentRef string) ([]Sync, error) {
	if !workloads[obj.GetKind()] || len(images) == 0 {
		return nil, nil
	}
	raw, found, err := unstructured.NestedMap(obj.Object, "spec", "template")
	if err != nil || !found {
		return nil, err
	}
	var tmpl corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("%s/%s: pod template: %w", obj.GetKind(), obj.GetName(), err)
	}
	syncs, err := rewriteTemplate(&tmpl, images, agentRef)
	if err != nil || len(syncs) == 0 {
		return nil, wrap(obj, err)
	}
	selector, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector", "matchLabels")
	for i := range syncs {
		syncs[i].Kind, syncs[i].Namespace, syncs[i].Name, syncs[i].Selector = obj.GetKind(), obj.GetNamespace(), obj.GetName(), selector
	}
	out, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&tmpl)
	if err != nil {
		return nil, wrap(obj, err)
	}
	return syncs, unstructured.SetNestedMap(obj.Object, out, "spec", "template")
}

func wrap(obj *unstructured.Unstructured, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s/%s: %w", obj.GetKind(), obj.GetName(), err)
}

func rewriteTemplate(tmpl *corev1.PodTemplateSpec, images []Image, agentRef string) ([]Sync, error) {
	var syncs []Sync
	var labels []string
	for i := range tmpl.Spec.Containers {
		c := &tmpl.Spec.Containers[i]
		img, ok := imageOf(c.Image, images)
		if !ok {
			continue
		}
		argv := containerArgv(c, img)
		if len(argv) == 0 {
			return nil, fmt.Errorf("container %s: %w", c.Name, ErrNoCommand)
		}
		c.Command = append([]string{AgentPath, "run", "--state=" + StateDir, "--allow=" + img.BinaryPath, "--"}, argv...)
		c.Args = nil
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: Volume, MountPath: StateDir})
		syncs = append(syncs, Sync{Container: c.Name, Image: img})
		if !slices.Contains(labels, img.Label) {
			labels = append(labels, img.Label)
		}
	}
	if len(syncs) == 0 {
		return nil, nil
	}
	tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: Volume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	tmpl.Spec.InitContainers = append([]corev1.Container{{
		Name:         InitContainer,
		Image:        agentRef,
		Command:      []string{AgentImagePath, "install", AgentPath},
		VolumeMounts: []corev1.VolumeMount{{Name: Volume, MountPath: StateDir}},
	}}, tmpl.Spec.InitContainers...)
	if tmpl.Annotations == nil {
		tmpl.Annotations = map[string]string{}
	}
	slices.Sort(labels)
	tmpl.Annotations[Annotation] = strings.Join(labels, ",")
	return syncs, nil
}

func imageOf(ref string, images []Image) (Image, bool) {
	for _, img := range images {
		if img.Reference == ref {
			return img, true
		}
	}
	return Image{}, false
}

// containerArgv is what the container runs, by Kubernetes' rules: its command
// replaces the image's entrypoint (and then the image's cmd is not used), its
// args replace the image's cmd.
func containerArgv(c *corev1.Container, img Image) []string {
	switch {
	case len(c.Command) > 0:
		return append(slices.Clone(c.Command), c.Args...)
	case len(c.Args) > 0:
		return append(slices.Clone(img.Entrypoint), c.Args...)
	}
	return append(slices.Clone(img.Entrypoint), img.Cmd...)
}
