package localcloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/certflow/certflow/pkg/localcloud/airecemu"
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
	hosts    map[string]hostServer
	// endpoints lists every TLS endpoint, in listing order.
	endpoints []Endpoint
}

// hostServer is an ECS host that serves TLS itself.
type hostServer interface{ Addr() string }

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
	if c.ext.mnsSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		errs = append(errs, c.ext.mnsSrv.Shutdown(ctx))
		cancel()
	}
	return errors.Join(errs...)
}

// MNSEndpoint is the base URL of the MNS endpoint.
func (c *Cloud) MNSEndpoint() string { return "http://" + c.ext.mnsLn.Addr().String() }

// MNS is the queue service, for tests that inspect queues.
func (c *Cloud) MNS() *mnsemu.Service { return c.ext.mns }

// runScript runs a Cloud Assistant script on a host: bash inside the host's sandbox.
func (c *Cloud) runScript(ctx context.Context, h *ecsInstance, script string, timeout time.Duration) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	root := filepath.Join(h.Dir, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, -1, err
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = root
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + root, "SANDBOX=" + root}
	out, err := cmd.CombinedOutput()
	if ctx.Err() == context.DeadlineExceeded {
		return out, -1, ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out, ee.ExitCode(), nil
	}
	return out, 0, err
}
