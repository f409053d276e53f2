// Package airec talks to the AIRec certificate API and handles its certificate_info.xlsx
// mapping file.
//
// The mapping (mapping.go, mapping_read.go) is built with excelize's stream writer, filled into
// a user's template, or read and validated from any xlsx the way Excel, LibreOffice and
// streaming writers produce them. Problems in a mapping are Findings, never panics, and every
// finding names the row and the column it is about.
//
// The client (client.go) uploads the mapping with the certificate chain and key, polls the
// bind status and switches HTTPS enforcement. It signs with the ROA signature of
// alibaba-cloud-sdk-go or sends a Bearer token, and talks HTTPS only, except to loopback
// hosts (the local cloud). Errors are *APIError values; no error ever carries key bytes.
package airec
