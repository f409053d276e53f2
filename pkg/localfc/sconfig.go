package localfc

import (
	"path/filepath"
	"time"

	"github.com/certflow/certflow/pkg/sconfig"
)

// FromSConfig turns an s.yaml function into a Function: binary <code>/<handler> resolved
// against the s.yaml folder, environment, memory, timeouts, hooks, triggers and async retries.
// Credentials are left for the caller.
func FromSConfig(p *sconfig.Project, fn *sconfig.Function) Function {
	out := Function{
		Name:                  fn.Name,
		Binary:                filepath.Join(p.CodeDir(fn), fn.Handler),
		Env:                   map[string]string{},
		Timeout:               time.Duration(fn.Timeout) * time.Second,
		MemoryMB:              fn.MemorySize,
		Triggers:              fn.Triggers,
		MaxAsyncRetryAttempts: fn.AsyncInvoke.MaxAsyncRetryAttempts,
		ReservedConcurrency:   reservedConcurrency(p, fn),
	}
	for k, v := range fn.Env {
		out.Env[k] = v
	}
	if h := fn.Lifecycle.Initializer; h != nil {
		out.Initializer, out.InitializerTimeout = h.Handler, time.Duration(h.Timeout)*time.Second
	}
	if h := fn.Lifecycle.PreStop; h != nil {
		out.PreStop, out.PreStopTimeout = h.Handler, time.Duration(h.Timeout)*time.Second
	}
	return out
}

// reservedConcurrency reads concurrencyConfig.reservedConcurrency from fn's resource props
// (0 when absent): FC 3.0 caps the function's concurrent instances at it.
func reservedConcurrency(p *sconfig.Project, fn *sconfig.Function) int {
	for _, res := range p.Resources {
		if res.Function.Name != fn.Name {
			continue
		}
		cc, _ := res.Props["concurrencyConfig"].(map[string]any)
		switch v := cc["reservedConcurrency"].(type) {
		case int:
			return v
		case int64:
			return int(v)
		case float64:
			return int(v)
		}
	}
	return 0
}

// AddProject adds every fc3 function of p (see FromSConfig), each with env added to its own
// environment (e.g. PassThrough's local cloud endpoints) and creds as its role credentials.
func (r *Runtime) AddProject(p *sconfig.Project, env map[string]string, creds func() Credentials) error {
	for _, sf := range p.Functions() {
		fn := FromSConfig(p, &sf)
		for k, v := range env {
			fn.Env[k] = v
		}
		fn.Credentials = creds
		if err := r.Add(fn); err != nil {
			return err
		}
	}
	return nil
}
