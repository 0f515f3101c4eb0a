// Package openapi describes the served API in OpenAPI, generated at start
// from the Go types of k8s.io/api by reflection: field names and types
// from the json tags, descriptions from the types' SwaggerDoc methods, and
// the list semantics that strategic merge patch and server-side apply need
// from the patchStrategy/patchMergeKey tags.
//
// The same definitions serve three consumers: kubectl (OpenAPI v3 per
// group-version for `explain` and apply's patch computation, whose PATCH
// operations declare `fieldValidation` so kubectl leaves validation to the
// server; OpenAPI v2 as gnostic protobuf for older clients), and the API
// server's own server-side apply type converter (Definitions).
package openapi
