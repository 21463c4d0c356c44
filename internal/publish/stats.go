package publish

// Stats counts what a push sent, from the registry API requests it made.
type Stats struct {
	Requests      int   `json:"requests"`
	BytesUploaded int64 `json:"bytesUploaded"`
	// BlobsUploaded: blob uploads completed with content sent by us.
	BlobsUploaded int `json:"blobsUploaded"`
	// BlobsMounted: blobs the registry linked from another repository.
	BlobsMounted int `json:"blobsMounted"`
	// BlobsPresent: blobs the registry already had in the repository.
	BlobsPresent int `json:"blobsPresent"`
	// ManifestsPut: manifests and indexes written.
	ManifestsPut int `json:"manifestsPut"`
}
