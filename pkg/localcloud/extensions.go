package localcloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/certflow/certflow/pkg/localcloud/airecemu"
	"github.com/certflow/certflow/pkg/localcloud/ecshost"
	"github.com/certflow/certflow/pkg/localcloud/mnsemu"
	"github.com/certflow/certflow/pkg/localcloud/tlsfarm"
)

// extensions are the sub-emulators and servers around the POP endpoint.
type extensions struct {
	mns    *mnsemu.Service
	mnsLn  net.Listener
	mnsSrv *http.Server
	airec  http.Handler
	// airecSvc is the AIRec certificate API; airec is it as a handler.
	airecSvc *airecemu.Service
	farm     *tlsfarm.Farm
	hosts    map[string]*ecshost.Host
	// endpoints lists every TLS endpoint, in listing order.
	endpoints []Endpoint
}

func (c *Cloud) startExtensions() error {
	c.ext.mns = mnsemu.New(mnsemu.Options{
		AccountID: c.estate.AccountID, Region: c.estate.Region,
		Secrets: func(ak string) (string, bool) {
			k, ok := c.lookupKey(ak)
			return k.Secret, ok
		},
		CheckToken: func(ak, token string) (string, string) {
			k, ok := c.lookupKey(ak)
			if !ok {
				return "InvalidAccessKeyId", "The access key does not exist."
			}
			if e := checkToken(k, token, time.Now()); e != nil {
				return e.Code, e.Message
			}
			return "", ""
		},
		OnCall: func(mc mnsemu.Call) {
			c.calls.add(Call{Time: mc.Time, Product: "Mns", Action: mc.Op, Params: map[string]string{"Queue": mc.Queue},
				Code: mc.Code, Latency: mc.Latency})
		},
	})
	for _, q := range c.estate.Queues {
		if err := c.ext.mns.CreateQueue(q.Name, mnsemu.QueueAttrs{}); err != nil {
			return fmt.Errorf("localcloud: queue %s: %w", q.Name, err)
		}
	}
	instances := map[string][]string{}
	for _, a := range c.estate.AIRec {
		instances[a.InstanceID] = a.Domains
	}
	c.ext.airecSvc = airecemu.New(airecemu.Options{Instances: instances, ValidateAfter: 200 * time.Millisecond})
	c.ext.airec = c.ext.airecSvc
	for _, a := range c.estate.AIRec {
		if err := c.ext.airecSvc.Seed(a.InstanceID, c.ca.ChainPEM(c.old), c.old.KeyPEM()); err != nil {
			return fmt.Errorf("localcloud: %w", err)
		}
	}
	c.ext.airecSvc.SetSilentFailure(c.faults.airecSilent())
	if err := c.startHosts(); err != nil {
		return err
	}
	if err := c.listenAll(); err != nil {
		return err
	}
	var err error
	if c.ext.mnsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fmt.Errorf("localcloud: mns listen: %w", err)
	}
	c.ext.mnsSrv = &http.Server{Handler: c.ext.mns, ReadHeaderTimeout: 10 * time.Second}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); _ = c.ext.mnsSrv.Serve(c.ext.mnsLn) }()
	return nil
}

func (c *Cloud) closeExtensions() error {
	var errs []error
	if c.ext.farm != nil {
		errs = append(errs, c.ext.farm.Close())
	}
	for _, h := range c.ext.hosts {
		errs = append(errs, h.Close())
	}
	if c.ext.mnsSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		errs = append(errs, c.ext.mnsSrv.Shutdown(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// MNSEndpoint is the base URL of the MNS endpoint.
func (c *Cloud) MNSEndpoint() string { return "http://" + c.ext.mnsLn.Addr().String() }

// AIRec is the AIRec certificate service, e.g. to inject its silent binding failure.
func (c *Cloud) AIRec() *airecemu.Service { return c.ext.airecSvc }

// MNS is the queue service, for tests that inspect queues.
func (c *Cloud) MNS() *mnsemu.Service { return c.ext.mns }

// startHosts creates one sandboxed host per ECS instance (real nginx when installed, else
// a Go server reading the same files) and installs the estate certificate on it.
func (c *Cloud) startHosts() error {
	c.ext.hosts = map[string]*ecshost.Host{}
	chain, key := c.ca.ChainPEM(c.old), c.old.KeyPEM()
	for _, e := range c.estate.ECS {
		c.st.mu.Lock()
		dir := c.st.ecs[e.InstanceID].Dir
		c.st.mu.Unlock()
		paths := []string{filepath.Dir(e.CertPath)}
		if kd := filepath.Dir(e.KeyPath); kd != paths[0] {
			paths = append(paths, kd)
		}
		h, err := ecshost.New(dir, ecshost.Config{InstanceID: e.InstanceID, Names: e.Names, Paths: paths})
		if err != nil {
			return fmt.Errorf("localcloud: %w", err)
		}
		c.ext.hosts[e.InstanceID] = h
		if err := h.Install(e.CertPath, chain, e.KeyPath, key); err != nil {
			return fmt.Errorf("localcloud: %w", err)
		}
	}
	return nil
}

// runScript runs a Cloud Assistant script for real on the instance's sandboxed host.
func (c *Cloud) runScript(ctx context.Context, h *ecsInstance, script string, timeout time.Duration) ([]byte, int, error) {
	host := c.ext.hosts[h.ID]
	if host == nil {
		return nil, -1, fmt.Errorf("instance %s has no host", h.ID)
	}
	return host.Run(ctx, script, timeout)
}
