package targets

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/oos"

	"github.com/certflow/certflow/pkg/cloud"
	"github.com/certflow/certflow/pkg/config"
	"github.com/certflow/certflow/pkg/rollout"
)

// ECS is an nginx host reached through Cloud Assistant. The chain goes in the script;
// the key reaches the host through an OOS secret parameter created just before the run
// and deleted right after, so it is never in the command text or invocation history.
type ECS struct {
	clients *cloud.Clients
	t       config.Target
	// PollInterval is the longest gap between DescribeInvocationResults calls [1s]; polling
	// starts at a quarter of it.
	PollInterval time.Duration
}

// ID implements Target.
func (e *ECS) ID() string { return e.t.ID() }

func (e *ECS) testCommand() string {
	if e.t.TestCommand != "" {
		return e.t.TestCommand
	}
	return "nginx -t"
}

func (e *ECS) reloadCommand() string {
	if e.t.ReloadCommand != "" {
		return e.t.ReloadCommand
	}
	return "nginx -s reload"
}

// chainSHA256 is the hash of the certificate file as the deploy script writes it.
func chainSHA256(chain []byte) string {
	if len(chain) > 0 && chain[len(chain)-1] != '\n' {
		chain = append(append([]byte(nil), chain...), '\n')
	}
	sum := sha256.Sum256(chain)
	return hex.EncodeToString(sum[:])
}

// Serves implements Target: it compares the host's certificate file with the chain.
func (e *ECS) Serves(ctx context.Context, call *rollout.Call, cert *Cert) (bool, error) {
	res, err := e.run(ctx, call, renderRead(e.t.CertPath), "certflow-read", false)
	if err != nil {
		return false, err
	}
	if res.status != "Success" {
		return false, fmt.Errorf("ecs %s: reading %s ended %s (exit %d): %s", e.t.InstanceID, e.t.CertPath, res.status, res.exitCode, res.tail)
	}
	return strings.TrimSpace(res.output) == chainSHA256(cert.ChainPEM), nil
}

// Deploy implements Target.
func (e *ECS) Deploy(ctx context.Context, call *rollout.Call, cert *Cert) (rollout.Status, error) {
	same, err := e.Serves(ctx, call, cert)
	if err != nil {
		return "", err
	}
	secret := e.secretName(cert)
	if same {
		// A run that wrote the host but could not delete its secret (say, its STS token
		// expired) left the key in OOS: remove it now. A read when there is none.
		if err := e.removeLeftoverSecret(ctx, call, secret); err != nil {
			return "", err
		}
		return rollout.StatusUnchanged, nil
	}
	if err := e.createSecret(ctx, call, secret, cert); err != nil {
		return "", err
	}
	// Delete the secret whatever happens, even when ctx is already done.
	defer e.deleteSecret(context.WithoutCancel(ctx), call, secret)

	script, err := renderDeploy(e.t.CertPath, e.t.KeyPath, cert.ChainPEM, secret, e.testCommand(), e.reloadCommand(), cert.SHA256)
	if err != nil {
		return "", fmt.Errorf("ecs %s: %w", e.t.InstanceID, err)
	}
	res, err := e.run(ctx, call, script, "certflow-deploy-"+cert.SHA256[:12], true)
	if err != nil {
		return "", err
	}
	if res.status != "Success" {
		// The script restored the previous files: permanent until someone fixes the host.
		return "", fmt.Errorf("ecs %s: deploy script ended %s (exit %d): %s", e.t.InstanceID, res.status, res.exitCode, res.tail)
	}
	same, err = e.Serves(ctx, call, cert)
	if err != nil {
		return "", err
	}
	if !same {
		return "", confirmError("ecs %s: %s does not hold the deployed chain after the run", e.t.InstanceID, e.t.CertPath)
	}
	return rollout.StatusDeployed, nil
}

// secretName is the OOS secret parameter that carries cert's key to this host: one name
// per host and certificate, so a later run can find and remove a secret a failed run left.
func (e *ECS) secretName(cert *Cert) string {
	return fmt.Sprintf("certflow-%s-%s", e.t.InstanceID, cert.SHA256[:16])
}

func (e *ECS) createSecret(ctx context.Context, call *rollout.Call, name string, cert *Cert) error {
	cl, err := e.clients.OOS(e.t.Region)
	if err != nil {
		return err
	}
	req := oos.CreateCreateSecretParameterRequest()
	req.RegionId = e.t.Region
	req.Name = name
	req.Value = string(cert.KeyPEM)
	req.Description = "certflow: private key for one deployment; deleted after the run"
	create := func() error {
		return call.Do(ctx, "CreateSecretParameter", func() error {
			_, err := cl.CreateSecretParameter(req)
			return err
		})
	}
	err = create()
	if apiCode(err) == "EntityAlreadyExists.Parameter" {
		// Left by an earlier run that could not clean up: replace it.
		e.deleteSecret(ctx, call, name)
		err = create()
	}
	if err != nil {
		return fmt.Errorf("ecs %s: create OOS secret parameter in %s: %w", e.t.InstanceID, e.t.Region, err)
	}
	return nil
}

// removeLeftoverSecret deletes this host's secret for cert if an earlier run left it.
func (e *ECS) removeLeftoverSecret(ctx context.Context, call *rollout.Call, name string) error {
	cl, err := e.clients.OOS(e.t.Region)
	if err != nil {
		return err
	}
	req := oos.CreateGetSecretParameterRequest()
	req.RegionId = e.t.Region
	req.Name = name
	req.WithDecryption = requests.NewBoolean(false) // metadata only: never read the key back
	err = call.Do(ctx, "GetSecretParameter", func() error {
		_, err := cl.GetSecretParameter(req)
		return err
	})
	switch {
	case err == nil:
		e.deleteSecret(ctx, call, name)
		return nil
	case apiCode(err) == "EntityNotExists.Parameter":
		return nil
	}
	return fmt.Errorf("ecs %s: look for a leftover OOS secret parameter in %s: %w", e.t.InstanceID, e.t.Region, err)
}

// apiCode is the service error code of err ("" for nil).
func apiCode(err error) string {
	var ae *cloud.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

func (e *ECS) deleteSecret(ctx context.Context, call *rollout.Call, name string) {
	cl, err := e.clients.OOS(e.t.Region)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req := oos.CreateDeleteSecretParameterRequest()
	req.RegionId = e.t.Region
	req.Name = name
	_ = call.Do(ctx, "DeleteSecretParameter", func() error {
		_, err := cl.DeleteSecretParameter(req)
		return err
	})
}

type runResult struct {
	status   string // final InvocationStatus
	exitCode int64
	output   string
	tail     string // last lines of output, for reports
}

// finalStatus reports whether an invocation status is final (facts §5.4).
func finalStatus(s string) bool {
	switch s {
	case "Pending", "Running", "Stopping", "Scheduled", "":
		return false
	}
	return true
}

// run sends script with RunCommand and polls DescribeInvocationResults to a final status.
func (e *ECS) run(ctx context.Context, call *rollout.Call, script, name string, withParams bool) (runResult, error) {
	cl, err := e.clients.ECS(e.t.Region)
	if err != nil {
		return runResult{}, err
	}
	req := ecs.CreateRunCommandRequest()
	req.RegionId = e.t.Region
	req.Type = "RunShellScript"
	req.ContentEncoding = "Base64"
	req.CommandContent = base64.StdEncoding.EncodeToString([]byte(script))
	req.InstanceId = &[]string{e.t.InstanceID}
	req.Timeout = requests.NewInteger(120)
	req.Name = name
	if withParams {
		req.EnableParameter = requests.NewBoolean(true)
	}
	var resp *ecs.RunCommandResponse
	if err := call.Do(ctx, "RunCommand", func() (err error) {
		resp, err = cl.RunCommand(req)
		return err
	}); err != nil {
		return runResult{}, fmt.Errorf("ecs %s: run command in %s: %w", e.t.InstanceID, e.t.Region, err)
	}
	// Short scripts finish in well under a second: poll soon, then back off to the
	// interval (vendor guidance: every 1–2 s).
	limit := e.PollInterval
	if limit <= 0 {
		limit = time.Second
	}
	interval := limit / 4
	for {
		res, done, err := e.poll(ctx, call, resp.InvokeId)
		if err != nil || done {
			return res, err
		}
		select {
		case <-ctx.Done():
			return runResult{}, rollout.Retryable(fmt.Errorf("ecs %s: invocation %s still running at the deadline: %w", e.t.InstanceID, resp.InvokeId, ctx.Err()))
		case <-time.After(interval):
		}
		interval = min(2*interval, limit)
	}
}

func (e *ECS) poll(ctx context.Context, call *rollout.Call, invokeID string) (runResult, bool, error) {
	cl, err := e.clients.ECS(e.t.Region)
	if err != nil {
		return runResult{}, false, err
	}
	req := ecs.CreateDescribeInvocationResultsRequest()
	req.RegionId = e.t.Region
	req.InvokeId = invokeID
	req.InstanceId = e.t.InstanceID
	var resp *ecs.DescribeInvocationResultsResponse
	if err := call.Do(ctx, "DescribeInvocationResults", func() (err error) {
		resp, err = cl.DescribeInvocationResults(req)
		return err
	}); err != nil {
		return runResult{}, false, fmt.Errorf("ecs %s: read invocation %s: %w", e.t.InstanceID, invokeID, err)
	}
	for _, r := range resp.Invocation.InvocationResults.InvocationResult {
		if r.InstanceId != e.t.InstanceID || !finalStatus(r.InvocationStatus) {
			continue
		}
		out, err := base64.StdEncoding.DecodeString(r.Output)
		if err != nil {
			return runResult{}, false, errors.New("ecs " + e.t.InstanceID + ": invocation output is not base64")
		}
		text := scrubPEM(string(out))
		if r.ErrorInfo != "" {
			text += "\n" + r.ErrorInfo
		}
		return runResult{status: r.InvocationStatus, exitCode: r.ExitCode, output: text, tail: tail(text, 8, 600)}, true, nil
	}
	return runResult{}, false, nil
}

// scrubPEM drops any PEM block from command output, so a host that echoes a key file by
// mistake cannot leak it into a report.
func scrubPEM(s string) string {
	for {
		i := strings.Index(s, "-----BEGIN ")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i:], "-----END ")
		if j < 0 {
			return s[:i] + "[PEM removed]"
		}
		k := strings.Index(s[i+j+9:], "-----")
		end := len(s)
		if k >= 0 {
			end = i + j + 9 + k + 5
		}
		s = s[:i] + "[PEM removed]" + s[end:]
	}
}

// tail keeps the last n lines of s, at most max bytes, on one line for reports.
func tail(s string, n, max int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, " | ")
	if len(out) > max {
		out = "…" + out[len(out)-max:]
	}
	return out
}
