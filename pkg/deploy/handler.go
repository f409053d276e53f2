package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/certflow/certflow/pkg/events"
	"github.com/certflow/certflow/pkg/rollout"
)

// Result is what the deployer function returns: one report per certificate event.
type Result struct {
	Reports []rollout.Report `json:"reports"`
	Errors  []string         `json:"errors,omitempty"` // events that could not be handled at all
}

// ErrRetry is returned (wrapped) by Handle while retryable work remains, so the trigger
// delivers the event again; a retry touches only the unfinished targets, since everything
// finished reads back unchanged.
var ErrRetry = errors.New("retryable failures remain")

// Handle decodes a trigger payload (CloudEvents, a batch of them, or the manual
// {"certId":…} payload) and rolls each certificate out. It logs each report as one JSON
// line. It fails the invocation (ErrRetry) only for what another delivery can finish:
// retryable target failures, a transient CAS failure, a failed queue hand-off. Invalid or
// unknown certificates are reported, not retried. A payload with no decodable event fails
// the invocation with the decoding error, so `s invoke` shows it.
func (s *Service) Handle(ctx context.Context, payload []byte, filter events.Filter) (Result, error) {
	reqs, decodeErr := events.DecodeDeploy(payload, filter)
	var res Result
	if decodeErr != nil {
		res.Errors = append(res.Errors, decodeErr.Error())
		s.logf("certflow deployer: %v", decodeErr)
	}
	var retry []string
	for _, req := range reqs {
		rep, err := s.Run(ctx, req)
		res.Reports = append(res.Reports, rep)
		if line, jerr := json.Marshal(rep); jerr == nil {
			s.logf("certflow report %s", line)
		}
		switch {
		case err == nil:
		case rollout.IsRetryable(err): // CAS or the domain list failed for now
			res.Errors = append(res.Errors, err.Error())
			retry = append(retry, fmt.Sprintf("certificate %d: %v", req.CertID, err))
		default: // invalid certificate, unknown certificate, bad "only": a retry cannot help
			res.Errors = append(res.Errors, err.Error())
		}
		if b := rep.BindTask; b != nil && b.Error != "" && !req.DryRun {
			retry = append(retry, fmt.Sprintf("certificate %d: AIRec hand-off: %s", req.CertID, b.Error))
		}
		for _, t := range rep.Retryable() {
			retry = append(retry, fmt.Sprintf("certificate %d: %s", req.CertID, t))
		}
	}
	if len(retry) > 0 {
		return res, fmt.Errorf("%w: %s", ErrRetry, strings.Join(retry, "; "))
	}
	if len(reqs) == 0 && decodeErr != nil {
		return res, decodeErr
	}
	return res, nil
}
