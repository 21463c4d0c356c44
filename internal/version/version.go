// Package version holds slipway's release version.
package version

// Version is slipway's release version. Images, manifests and the CLI report it.
const Version = "0.1.0"
