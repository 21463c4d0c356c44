package remotecache

import (
	"net/http"
	"strings"
)

// Settings are the remote caching options of a build, as Bazel applied them
// (its rc files included).
type Settings struct {
	// Cache is --remote_cache (else --remote_executor, which caches too); empty
	// when the build used none.
	Cache string
	// Download is what Bazel downloads: "all", "toplevel" or "minimal"; empty when
	// no flag said (Bazel 7's default is toplevel).
	Download string
	// Header holds --remote_header and --remote_cache_header values.
	Header http.Header
}

// FromOptions reads the settings from a build's effective options (the Build
// Event Protocol's optionsParsed cmdLine: rc files and command line, in order;
// later ones win).
func FromOptions(options []string) Settings {
	s := Settings{Header: http.Header{}}
	executor := ""
	for i := 0; i < len(options); i++ {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(options[i], "--"), "=")
		if !strings.HasPrefix(options[i], "--") {
			continue
		}
		takesValue := name == "remote_cache" || name == "remote_executor" || name == "remote_download_outputs" ||
			name == "remote_header" || name == "remote_cache_header"
		if takesValue && !hasValue && i+1 < len(options) && !strings.HasPrefix(options[i+1], "--") {
			i++
			value = options[i]
		}
		switch name {
		case "remote_cache":
			s.Cache = value
		case "remote_executor":
			executor = value
		case "remote_download_outputs":
			s.Download = value
		case "remote_download_minimal":
			s.Download = "minimal"
		case "remote_download_toplevel":
			s.Download = "toplevel"
		case "remote_download_all":
			s.Download = "all"
		case "remote_header", "remote_cache_header":
			if k, v, ok := strings.Cut(value, "="); ok {
				s.Header.Add(k, v)
			}
		}
	}
	if s.Cache == "" {
		s.Cache = executor
	}
	return s
}

// IsHTTP tells whether the cache speaks the HTTP caching protocol, which slipway
// streams from; a gRPC cache (grpc://, grpcs://, or no scheme) is read through
// Bazel for now.
func (s Settings) IsHTTP() bool {
	return strings.HasPrefix(s.Cache, "http://") || strings.HasPrefix(s.Cache, "https://")
}
