package targets

import (
	"context"
	"errors"
	"fmt"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/rollout"
)

// httpListener is the redirect state of one HTTP listener; exists is false when the
// port has no HTTP listener.
type httpListener struct {
	exists      bool
	forward     string
	forwardPort int
	status      string
}

func (h httpListener) String() string {
	if !h.exists {
		return "no listener"
	}
	if h.forward != "on" {
		return fmt.Sprintf("forward off, %s", h.status)
	}
	return fmt.Sprintf("forward to %d, %s", h.forwardPort, h.status)
}

// notFound reports whether err says the listener does not exist (the emulated and the
// documented spellings).
func listenerMissing(err error) bool {
	var ae *cloud.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code {
	case "ListenerNotFound", "ListenerNotExist", "InvalidListener.NotFound":
		return true
	}
	return false
}

func (c *CLB) readHTTP(ctx context.Context, call *rollout.Call, port int) (httpListener, error) {
	cl, err := c.client()
	if err != nil {
		return httpListener{}, err
	}
	req := slb.CreateDescribeLoadBalancerHTTPListenerAttributeRequest()
	req.RegionId = c.t.Region
	req.LoadBalancerId = c.t.LoadBalancerID
	req.ListenerPort = requests.NewInteger(port)
	var resp *slb.DescribeLoadBalancerHTTPListenerAttributeResponse
	err = call.Do(ctx, "DescribeLoadBalancerHTTPListenerAttribute", func() (err error) {
		resp, err = cl.DescribeLoadBalancerHTTPListenerAttribute(req)
		return err
	})
	switch {
	case listenerMissing(err):
		return httpListener{}, nil
	case err != nil:
		return httpListener{}, fmt.Errorf("read http listener %s:%d in %s: %w", c.t.LoadBalancerID, port, c.t.Region, err)
	}
	return httpListener{exists: true, forward: resp.ListenerForward, forwardPort: resp.ForwardPort, status: resp.Status}, nil
}

func (c *CLB) redirects(h httpListener) bool {
	return h.exists && h.forward == "on" && h.forwardPort == c.t.Port && h.status == "running"
}

// EnforceHTTPS makes the load balancer's HTTP listener on p.HTTPPort redirect to this
// HTTPS listener. CLB's SetLoadBalancerHTTPListenerAttribute cannot switch forwarding
// on, so a plain HTTP listener on that port is deleted and created again with
// ListenerForward=on (its backend traffic becomes redirects: that is what forceHttps
// asks for); a new listener is stopped until StartLoadBalancerListener. It reads back.
// HSTS and a TLS floor are not CLB listener settings and are reported as errors, so the
// configuration is fixed instead of silently ignored. Listeners of one load balancer
// port share the HTTP listener: callers enforce it once per load balancer and port.
func (c *CLB) EnforceHTTPS(ctx context.Context, call *rollout.Call, p HTTPSPolicy) ([]Change, error) {
	var changes []Change
	var errs []error
	if p.ForceHTTPS {
		ch, err := c.enforceRedirect(ctx, call, p)
		changes = append(changes, ch...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if p.HSTS {
		errs = append(errs, errors.New("hsts: a CLB listener cannot add Strict-Transport-Security; send it from the backend and remove hsts from this target"))
	}
	if err := errors.Join(errs...); err != nil {
		return changes, fmt.Errorf("%s: %w", c.ID(), err)
	}
	return changes, nil
}

func (c *CLB) enforceRedirect(ctx context.Context, call *rollout.Call, p HTTPSPolicy) ([]Change, error) {
	port := p.HTTPPort
	if port == 0 {
		port = config.DefaultHTTPPort
	}
	before, err := c.readHTTP(ctx, call, port)
	if err != nil {
		return nil, err
	}
	if c.redirects(before) {
		return nil, nil
	}
	from := fmt.Sprintf("port %d: %s", port, before)
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("%s:%d in %s", c.t.LoadBalancerID, port, c.t.Region)
	if before.exists && (before.forward != "on" || before.forwardPort != c.t.Port) {
		req := slb.CreateDeleteLoadBalancerListenerRequest()
		req.RegionId, req.LoadBalancerId, req.ListenerPort = c.t.Region, c.t.LoadBalancerID, requests.NewInteger(port)
		req.ListenerProtocol = "http"
		if err := call.Do(ctx, "DeleteLoadBalancerListener", func() error {
			_, err := cl.DeleteLoadBalancerListener(req)
			return err
		}); err != nil {
			return nil, fmt.Errorf("delete http listener %s: %w", where, err)
		}
		before.exists = false
	}
	if !before.exists {
		https, err := c.readListener(ctx, call)
		if err != nil {
			return nil, err
		}
		req := slb.CreateCreateLoadBalancerHTTPListenerRequest()
		req.RegionId, req.LoadBalancerId, req.ListenerPort = c.t.Region, c.t.LoadBalancerID, requests.NewInteger(port)
		req.ListenerForward, req.ForwardPort = "on", requests.NewInteger(c.t.Port)
		// Required by the model even when forwarding (facts wire-pop.md §5.2).
		req.StickySession, req.HealthCheck = "off", "off"
		req.Bandwidth = requests.NewInteger(https.attr.Bandwidth)
		if err := call.Do(ctx, "CreateLoadBalancerHTTPListener", func() error {
			_, err := cl.CreateLoadBalancerHTTPListener(req)
			return err
		}); err != nil {
			return nil, fmt.Errorf("create redirecting http listener %s: %w", where, err)
		}
	}
	start := slb.CreateStartLoadBalancerListenerRequest()
	start.RegionId, start.LoadBalancerId, start.ListenerPort = c.t.Region, c.t.LoadBalancerID, requests.NewInteger(port)
	start.ListenerProtocol = "http"
	if err := call.Do(ctx, "StartLoadBalancerListener", func() error {
		_, err := cl.StartLoadBalancerListener(start)
		return err
	}); err != nil {
		return nil, fmt.Errorf("start http listener %s: %w", where, err)
	}
	after, err := c.readHTTP(ctx, call, port)
	if err != nil {
		return nil, err
	}
	if !c.redirects(after) {
		return nil, confirmError("http listener %s does not redirect after enforcing: %s", where, after)
	}
	return []Change{{Target: c.ID(), Setting: "http_listener", From: from, To: fmt.Sprintf("port %d: %s", port, after)}}, nil
}
