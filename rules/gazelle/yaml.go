package gazelle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	yaml "go.yaml.in/yaml/v4"
)

// imageUse is a container's image as a manifest names it.
type imageUse struct {
	name  string   // as written in the YAML, e.g. "catalog"
	file  string   // repository-relative path of the YAML file
	line  int      // line of the image: value
	ports []string // the container's ports: "8080", or "53/udp"
}

func (u imageUse) String() string { return fmt.Sprintf("%s:%d", u.file, u.line) }

// containerListKeys are the keys of pod specs whose values are lists of containers.
var containerListKeys = map[string]bool{"containers": true, "initContainers": true, "ephemeralContainers": true}

// scanManifest reads the containers' images of every YAML document in the file at
// path (rel: its repository-relative path, for messages).
func scanManifest(path, rel string) ([]imageUse, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var uses []imageUse
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return uses, nil
		}
		if err != nil {
			return uses, fmt.Errorf("%s: %w", rel, err)
		}
		uses = appendContainers(uses, rel, &doc)
	}
}

// appendContainers appends the containers found anywhere below n.
func appendContainers(uses []imageUse, rel string, n *yaml.Node) []imageUse {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if containerListKeys[k.Value] && v.Kind == yaml.SequenceNode {
				for _, c := range v.Content {
					if u, ok := containerImage(rel, c); ok {
						uses = append(uses, u)
					}
				}
				continue
			}
			uses = appendContainers(uses, rel, v)
		}
		return uses
	}
	for _, c := range n.Content {
		uses = appendContainers(uses, rel, c)
	}
	return uses
}

// containerImage reads a container's image and ports.
func containerImage(rel string, c *yaml.Node) (imageUse, bool) {
	image := mapValue(c, "image")
	if image == nil || image.Kind != yaml.ScalarNode || image.Value == "" {
		return imageUse{}, false
	}
	u := imageUse{name: image.Value, file: rel, line: image.Line}
	if ports := mapValue(c, "ports"); ports != nil && ports.Kind == yaml.SequenceNode {
		for _, p := range ports.Content {
			port := mapValue(p, "containerPort")
			if port == nil || port.Kind != yaml.ScalarNode {
				continue
			}
			s := port.Value
			if proto := mapValue(p, "protocol"); proto != nil && !strings.EqualFold(proto.Value, "TCP") {
				s += "/" + strings.ToLower(proto.Value)
			}
			u.ports = append(u.ports, s)
		}
	}
	return u, true
}

// mapValue is the value of key in the mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// localImageName reports whether an image name may name an image built in the
// workspace: no registry host, tag or digest ("catalog", "team/catalog"). Others
// ("nginx:1.27", "ghcr.io/x/y") are left as written, without a warning.
func localImageName(name string) bool {
	if strings.ContainsAny(name, ":@{}$ ") {
		return false
	}
	first, _, found := strings.Cut(name, "/")
	return !found || !strings.ContainsAny(first, ".:") && first != "localhost"
}

// imageKey is the name an image is looked up by: the last path element.
func imageKey(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}
