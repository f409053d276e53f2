package check

import (
	"context"
	"fmt"

	"github.com/certflow/certflow/pkg/events"
)

// Handle is the timer function's handler: it decodes the FC timer payload and runs one
// check. A payload that is not a timer event is an error and nothing is checked.
//
// The invocation fails only with ErrRetry (CAS unreadable, a redeploy failed
// retryably), because FC retries a failed asynchronous invocation and only transient
// failures can pass on a retry; endpoints still failing for lasting reasons are
// reported and alerted, and the next timer run checks them again.
func (s *Service) Handle(ctx context.Context, payload []byte) (Report, error) {
	tm, err := events.DecodeTimer(payload)
	if err != nil {
		return Report{}, fmt.Errorf("certflow checker: %w", err)
	}
	s.logf("certflow checker: timer %s fired at %s", tm.TriggerName, tm.TriggerTime.Format("2006-01-02T15:04:05Z07:00"))
	return s.Run(ctx)
}
