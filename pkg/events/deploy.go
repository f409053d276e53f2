package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Deploy asks the deployer to roll one CAS certificate out.
type Deploy struct {
	CertID  int64    // CAS certificate ID; always > 0
	DryRun  bool     // plan and report only (manual payloads)
	Only    []string // restrict to these target IDs (manual payloads); empty = all
	EventID string   // CloudEvent id, or "manual"
	Source  string   // CloudEvent source, or "manual"
	Type    string   // CloudEvent type, or "manual"
	Manual  bool     // true for the manual `s invoke` payload
}

// CAS service event types certflow deploys on. CAS does not publish its EventBridge
// type names in any material we could read, so these are certflow's defaults,
// following EventBridge's `<service>:<resource>:<event>` convention. Set
// Filter.Types (and the trigger's eventRuleFilterPattern) to the names the
// EventBridge console shows for your account if they differ.
const (
	TypeCertificateIssued  = "cas:Certificate:Issued"
	TypeCertificateRenewed = "cas:Certificate:Renewed"
	// TypeCASActionTrail and TypeActionTrailAPICall are ActionTrail API-call events
	// as EventBridge publishes them for CAS (source acs.cas) and through the
	// ActionTrail source (acs.actiontrail).
	TypeCASActionTrail     = "cas:ActionTrail:ApiCall"
	TypeActionTrailAPICall = "actiontrail:ActionTrail:ApiCall"
)

// Event sources certflow accepts by default.
const (
	SourceCAS         = "acs.cas"
	SourceActionTrail = "acs.actiontrail"
)

// Filter says which CloudEvents DecodeDeploy accepts. The zero Filter means
// DefaultFilter(). With Sources set and Types empty, any type from those sources is
// accepted.
type Filter struct {
	Sources []string // accepted `source` values; default [acs.cas, acs.actiontrail]
	Types   []string // accepted `type` values; empty = any type whose source matches
}

// DefaultFilter returns the sources and types certflow handles out of the box: the
// CAS issued/renewed events and certificate-related ActionTrail API calls.
func DefaultFilter() Filter {
	return Filter{
		Sources: []string{SourceCAS, SourceActionTrail},
		Types:   []string{TypeCertificateIssued, TypeCertificateRenewed, TypeCASActionTrail, TypeActionTrailAPICall},
	}
}

func (f Filter) withDefaults() Filter {
	if len(f.Sources) == 0 && len(f.Types) == 0 {
		return DefaultFilter()
	}
	if len(f.Sources) == 0 {
		f.Sources = DefaultFilter().Sources
	}
	return f
}

// check reports whether ce passes the filter, with an error naming what it rejects.
func (f Filter) check(ce CloudEvent) error {
	if !slices.Contains(f.Sources, ce.Source) {
		return fmt.Errorf("unsupported event source %q (type %q); accepted sources: %s",
			ce.Source, ce.Type, strings.Join(f.Sources, ", "))
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, ce.Type) {
		return fmt.Errorf("unsupported event type %q from source %q; accepted types: %s",
			ce.Type, ce.Source, strings.Join(f.Types, ", "))
	}
	return nil
}

// DecodeDeploy decodes a deployer invocation payload: a CloudEvents 1.0 object, a
// JSON array of them (EventBridge batches), or the manual payload
// {"certId": N, "dryRun": bool, "only": [...]} ("certificateId" is accepted for
// "certId"). CloudEvents are checked against f; ActionTrail events must name a
// certificate action (see CertificateActions) and must not record a failed call.
//
// The certificate ID may be a JSON number or a numeric string, in data.certId,
// data.certificateId, data.CertId, data.CertificateId or the same names under
// data.requestParameters / data.responseElements. An event without one fails with
// ErrNoCertID ("event <id>: event has no certificate ID").
//
// One bad event in a batch never hides the others: DecodeDeploy returns every event
// that decoded, in payload order, together with a joined error naming each one that
// did not. err is nil only when every event decoded.
func DecodeDeploy(payload []byte, f Filter) ([]Deploy, error) {
	items, batch, err := splitBatch(payload)
	if err != nil {
		return nil, fmt.Errorf("decode deploy event: %w", err)
	}
	f = f.withDefaults()
	var (
		out  []Deploy
		errs []error
	)
	for i, raw := range items {
		d, err := decodeDeployItem(raw, itemLabel(i, batch), f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

func decodeDeployItem(raw json.RawMessage, label string, f Filter) (Deploy, error) {
	obj, err := object(raw)
	if err != nil {
		return Deploy{}, fmt.Errorf("event %s: %w", label, err)
	}
	if !isCloudEvent(obj) {
		return decodeManual(obj)
	}
	ce, err := decodeCloudEvent(raw, label)
	if err != nil {
		return Deploy{}, err
	}
	if err := f.check(ce); err != nil {
		return Deploy{}, fmt.Errorf("event %s: %w", ce.ID, err)
	}
	d := Deploy{EventID: ce.ID, Source: ce.Source, Type: ce.Type}
	if isActionTrail(ce.Type) {
		d.CertID, err = actionTrailCertID(ce)
	} else {
		d.CertID, err = extractCertID("data", ce.Data)
	}
	if err != nil {
		return Deploy{}, fmt.Errorf("event %s: %w", ce.ID, err)
	}
	return d, nil
}

// isCloudEvent tells a CloudEvent from the manual payload: any CloudEvents
// attribute marks an envelope (and then all required attributes are checked).
func isCloudEvent(obj map[string]json.RawMessage) bool {
	for _, k := range []string{"specversion", "source", "type", "id", "data"} {
		if _, ok := obj[k]; ok {
			return true
		}
	}
	return false
}
