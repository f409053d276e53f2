// Package events decodes the payloads certflow's functions receive — EventBridge
// CloudEvents (one object or a batch), CAS service and ActionTrail events, the manual
// `s invoke` payload, MNS-trigger batches and timer payloads — into small typed values.
//
// Decoding is strict where a silent zero would do harm: an event that carries no
// certificate ID is an error ("event has no certificate ID"), never a Deploy with
// CertID 0 (case C21); an ID that is not a positive integer names the field it came
// from; an event of a source or type certflow does not handle is an error that names
// both, so it shows up in the report instead of vanishing.
//
// Decoders are pure functions of their input and safe for concurrent use.
package events
