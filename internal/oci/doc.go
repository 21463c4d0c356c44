// Package oci builds reproducible OCI layers, images and indexes from files, for the
// action tool behind slipway's image rules. Everything here is hermetic: no clock, no
// network, no host paths or owners in the outputs, so the same inputs give the same
// digests on any machine and in any output path.
package oci
