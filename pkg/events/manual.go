package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/certflow/certflow/pkg/config"
)

// ManualEventID is the EventID, Source and Type of a Deploy decoded from the manual
// payload.
const ManualEventID = "manual"

// manualFields are the only members the manual payload may have: a typo such as
// "dry_run" must not silently turn a dry run into a real deployment.
func manualFields() []string { return []string{"certId", "certificateId", "dryRun", "only"} }

// decodeManual decodes {"certId": N, "dryRun": bool, "only": [...]}.
func decodeManual(obj map[string]json.RawMessage) (Deploy, error) {
	fail := func(err error) (Deploy, error) {
		return Deploy{}, fmt.Errorf("event %s: %w", ManualEventID, err)
	}
	var unknown []string
	for k := range obj {
		if !slices.Contains(manualFields(), k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	d := Deploy{EventID: ManualEventID, Source: ManualEventID, Type: ManualEventID, Manual: true}

	var found []foundID
	for _, name := range []string{"certId", "certificateId"} {
		raw, ok := obj[name]
		if !ok {
			continue
		}
		id, present, err := parseCertID(name, raw)
		if err != nil {
			return fail(err)
		}
		if present {
			found = append(found, foundID{field: name, id: id})
		}
	}
	switch {
	case len(found) == 0 && len(unknown) > 0:
		return fail(fmt.Errorf("%w (unknown fields: %s; accepted: %s)", ErrNoCertID,
			strings.Join(unknown, ", "), strings.Join(manualFields(), ", ")))
	case len(found) == 0:
		return fail(ErrNoCertID)
	case len(unknown) > 0:
		return fail(fmt.Errorf("unknown fields: %s (accepted: %s)",
			strings.Join(unknown, ", "), strings.Join(manualFields(), ", ")))
	case len(found) == 2 && found[0].id != found[1].id:
		return fail(fmt.Errorf("conflicting certificate IDs: certId=%d, certificateId=%d", found[0].id, found[1].id))
	}
	d.CertID = found[0].id

	if raw, ok := obj["dryRun"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &d.DryRun); err != nil {
			return fail(fmt.Errorf("dryRun: must be true or false, got %s", abbreviate(string(raw), 20)))
		}
	}
	if raw, ok := obj["only"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &d.Only); err != nil {
			return fail(fmt.Errorf("only: must be a list of target IDs: %w", err))
		}
		var errs []error
		for i, id := range d.Only {
			norm, err := config.NormalizeTargetID(id)
			if err != nil {
				errs = append(errs, fmt.Errorf("only[%d]: %w", i, err))
				continue
			}
			d.Only[i] = norm
		}
		if err := errors.Join(errs...); err != nil {
			return fail(err)
		}
	}
	return d, nil
}
