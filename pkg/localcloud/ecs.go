package localcloud

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/certflow/certflow/pkg/localcloud/ecshost"
)

var ecsActions = map[string]actionFunc{
	"RunCommand":                ecsRunCommand,
	"DescribeInvocations":       ecsDescribeInvocations,
	"DescribeInvocationResults": ecsDescribeResults,
}

// maxOutput is what Cloud Assistant keeps of a script's output; the rest is Dropped.
const maxOutput = 24 * 1024

// pendingFor is how long an invocation stays Pending before it starts, like the agent's pickup delay.
const pendingFor = 50 * time.Millisecond

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.:/-]+)\s*\}\}`)

func ecsRunCommand(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	typ, e := q.req("Type")
	if e != nil {
		return nil, e
	}
	switch typ {
	case "RunShellScript":
	case "RunBatScript", "RunPowerShellScript":
		return nil, badRequest("InvalidInstance.OsTypeMismatch", "The instances run Linux; %s is not supported.", typ)
	default:
		return nil, invalid("Type", typ)
	}
	content, e := q.req("CommandContent")
	if e != nil {
		return nil, e
	}
	keep, e := q.bool("KeepCommand")
	if e != nil {
		return nil, e
	}
	limit := 24 * 1024
	if keep {
		limit = 18 * 1024
	}
	if len(content) > limit*4/3+4 {
		return nil, badRequest("InvalidCommandContent.LengthLimitExceeded", "The command content exceeds %d bytes.", limit)
	}
	text := content
	if q.get("ContentEncoding") == "Base64" {
		b, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, badRequest("InvalidCommandContent.Malformed", "CommandContent is not valid Base64.")
		}
		text = string(b)
	}
	if len(text) > limit {
		return nil, badRequest("InvalidCommandContent.LengthLimitExceeded", "The command content exceeds %d bytes.", limit)
	}
	ids := q.list("InstanceId")
	if len(ids) == 0 {
		return nil, missing("InstanceId")
	}
	if len(ids) > 100 {
		return nil, badRequest("InvalidParam.InstanceId", "At most 100 instances per call.")
	}
	timeout, ok, e := q.int("Timeout")
	if e != nil {
		return nil, e
	}
	if !ok {
		timeout = 60
	}
	if timeout < 10 || timeout > 86400 {
		return nil, invalid("Timeout", q.get("Timeout"))
	}
	if m := q.get("RepeatMode"); m != "" && m != "Once" {
		return nil, badRequest("InvalidParam.RepeatMode", "The local cloud supports RepeatMode Once only, got %q.", m)
	}
	enable, e := q.bool("EnableParameter")
	if e != nil {
		return nil, e
	}
	params := map[string]string{}
	if raw := q.get("Parameters"); raw != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, badRequest("InvalidParameter.Parameters", "Parameters is not a JSON object.")
		}
		for k, v := range m {
			params[k] = fmt.Sprint(v)
		}
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, id := range ids {
		h, ok := st.ecs[id]
		if !ok || h.Region != region {
			return nil, badRequest("InvalidInstance.NotFound", "The instance %s does not exist in region %s.", id, region)
		}
	}
	// Resolve placeholders now (fail fast on unknown names); the resolved script is only
	// handed to the hosts, the stored invocation keeps the text as submitted.
	script := text
	if enable {
		var missingName string
		script = placeholder.ReplaceAllStringFunc(text, func(m string) string {
			name := placeholder.FindStringSubmatch(m)[1]
			if secret, ok := strings.CutPrefix(name, "oos-secret:"); ok {
				if p, ok := st.secrets[region+"/"+secret]; ok {
					return p.Value
				}
			} else if v, ok := params[name]; ok {
				return v
			} else if strings.HasPrefix(name, "ACS::") {
				return m
			}
			if missingName == "" {
				missingName = name
			}
			return m
		})
		if missingName != "" {
			if strings.HasPrefix(missingName, "oos-secret:") {
				return nil, badRequest("InvalidParameter.OosSecretParameter", "The OOS secret parameter %s does not exist in region %s.", strings.TrimPrefix(missingName, "oos-secret:"), region)
			}
			return nil, badRequest("MissingParameter.Parameters", "No value for parameter %s.", missingName)
		}
	} else if q.get("Parameters") != "" {
		return nil, badRequest("ParameterDisabled", "Parameters require EnableParameter=true.")
	}
	now := time.Now()
	inv := &invocation{
		InvokeID: "t-" + randHex(10), CommandID: "c-" + randHex(10), Region: region, Name: q.get("Name"), Type: typ,
		Content: text, Parameters: q.get("Parameters"), Timeout: int(timeout), WorkingDir: q.get("WorkingDir"),
		Username: q.get("Username"), Created: now,
	}
	if inv.WorkingDir == "" {
		inv.WorkingDir = "/root"
	}
	if inv.Username == "" {
		inv.Username = "root"
	}
	for _, id := range ids {
		r := &invocationResult{InstanceID: id, Status: "Pending"}
		inv.Results = append(inv.Results, r)
		q.c.wg.Add(1)
		go func(h *ecsInstance) {
			defer q.c.wg.Done()
			q.c.runOn(inv, r, h, script, time.Duration(timeout)*time.Second)
		}(st.ecs[id])
	}
	st.invocations = append(st.invocations, inv)
	return map[string]any{"CommandId": inv.CommandID, "InvokeId": inv.InvokeID}, nil
}

// runOn runs script on one host: Pending → Running → Success/Failed/Timeout/Error.
func (c *Cloud) runOn(inv *invocation, r *invocationResult, h *ecsInstance, script string, timeout time.Duration) {
	select {
	case <-time.After(pendingFor):
	case <-c.ctx.Done():
		return
	}
	c.st.mu.Lock()
	r.Status, r.Started = "Running", time.Now()
	c.st.mu.Unlock()
	out, code, err := c.runScript(c.ctx, h, script, timeout)
	c.st.mu.Lock()
	defer c.st.mu.Unlock()
	r.Finished, r.ExitCode, r.Output = time.Now(), code, out
	switch {
	case errors.Is(err, ecshost.ErrTimeout):
		r.Status, r.ErrorInfo = "Timeout", "the command timed out"
	case err != nil:
		r.Status, r.ErrorInfo = "Error", err.Error()
	case code == 0:
		r.Status = "Success"
	default:
		r.Status = "Failed"
		r.ErrorInfo = fmt.Sprintf("the command exited with code %d", code)
	}
}

// overall folds per-instance statuses into the invocation's status.
func overall(rs []*invocationResult) string {
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.Status]++
	}
	switch {
	case counts["Running"] > 0:
		return "Running"
	case counts["Pending"] == len(rs):
		return "Pending"
	case counts["Pending"] > 0:
		return "Running"
	case counts["Success"] == len(rs):
		return "Success"
	case counts["Success"] > 0:
		return "PartialFailed"
	}
	return "Failed"
}

func recordStatus(s string) string {
	switch s {
	case "Pending", "Running":
		return "Running"
	case "Success", "Failed", "Timeout":
		return "Finished"
	}
	return "Failed"
}

func encodeOutput(b []byte, enc string) (string, int) {
	dropped := 0
	if len(b) > maxOutput {
		dropped = len(b) - maxOutput
		b = b[:maxOutput]
	}
	if enc == "PlainText" {
		return string(b), dropped
	}
	return base64.StdEncoding.EncodeToString(b), dropped
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return isoTime(t)
}

func (q *rpcCall) page() (int, int, *APIError) {
	page, _, e := q.int("PageNumber")
	if e != nil {
		return 0, 0, e
	}
	size, _, e := q.int("PageSize")
	if e != nil {
		return 0, 0, e
	}
	if page <= 0 {
		page = 1
	}
	if size <= 0 {
		size = 10
	}
	return int(page), int(size), nil
}

func ecsDescribeInvocations(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	page, size, e := q.page()
	if e != nil {
		return nil, e
	}
	enc := q.get("ContentEncoding")
	withOut, _ := q.bool("IncludeOutput")
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	var list []map[string]any
	for i := len(st.invocations) - 1; i >= 0; i-- {
		in := st.invocations[i]
		if in.Region != region || q.get("InvokeId") != "" && q.get("InvokeId") != in.InvokeID ||
			q.get("CommandId") != "" && q.get("CommandId") != in.CommandID {
			continue
		}
		var insts []map[string]any
		match := q.get("InstanceId") == ""
		for _, r := range in.Results {
			match = match || r.InstanceID == q.get("InstanceId")
			item := map[string]any{"InstanceId": r.InstanceID, "InvocationStatus": r.Status, "InstanceInvokeStatus": r.Status,
				"ExitCode": r.ExitCode, "StartTime": ts(r.Started), "FinishTime": ts(r.Finished), "ErrorInfo": r.ErrorInfo,
				"CreationTime": ts(in.Created), "UpdateTime": ts(r.Finished), "Repeats": 1}
			if withOut {
				item["Output"], item["Dropped"] = encodeOutput(r.Output, enc)
			}
			insts = append(insts, item)
		}
		if !match {
			continue
		}
		content := in.Content // stored unresolved: secrets are references, never values
		if enc != "PlainText" {
			content = base64.StdEncoding.EncodeToString([]byte(content))
		}
		status := overall(in.Results)
		list = append(list, map[string]any{
			"InvokeId": in.InvokeID, "CommandId": in.CommandID, "CommandName": in.Name, "CommandType": in.Type,
			"CommandContent": content, "Parameters": in.Parameters, "InvocationStatus": status, "InvokeStatus": legacyStatus(status),
			"Timeout": in.Timeout, "WorkingDir": in.WorkingDir, "Username": in.Username, "CreationTime": ts(in.Created),
			"RepeatMode": "Once", "Timed": false, "VmCount": len(in.Results),
			"InvokeInstances": map[string]any{"InvokeInstance": insts},
		})
	}
	total := len(list)
	lo := min((page-1)*size, total)
	hi := min(lo+size, total)
	return map[string]any{"PageNumber": page, "PageSize": size, "TotalCount": total,
		"Invocations": map[string]any{"Invocation": append([]map[string]any{}, list[lo:hi]...)}}, nil
}

func legacyStatus(s string) string {
	switch s {
	case "Success", "Failed", "PartialFailed":
		return "Finished"
	}
	return s
}

func ecsDescribeResults(q *rpcCall) (map[string]any, *APIError) {
	region, e := q.region()
	if e != nil {
		return nil, e
	}
	page, size, e := q.page()
	if e != nil {
		return nil, e
	}
	enc := q.get("ContentEncoding")
	if enc == "" {
		enc = "Base64"
	}
	st := q.c.st
	st.mu.Lock()
	defer st.mu.Unlock()
	var list []map[string]any
	for i := len(st.invocations) - 1; i >= 0; i-- {
		in := st.invocations[i]
		if in.Region != region || q.get("InvokeId") != "" && q.get("InvokeId") != in.InvokeID ||
			q.get("CommandId") != "" && q.get("CommandId") != in.CommandID {
			continue
		}
		for _, r := range in.Results {
			if q.get("InstanceId") != "" && q.get("InstanceId") != r.InstanceID {
				continue
			}
			if rs := q.get("InvokeRecordStatus"); rs != "" && rs != recordStatus(r.Status) {
				continue
			}
			out, dropped := encodeOutput(r.Output, enc)
			list = append(list, map[string]any{
				"InstanceId": r.InstanceID, "InvokeId": in.InvokeID, "CommandId": in.CommandID,
				"InvocationStatus": r.Status, "InvokeRecordStatus": recordStatus(r.Status), "ExitCode": r.ExitCode,
				"Output": out, "Dropped": dropped, "ErrorInfo": r.ErrorInfo, "ErrorCode": errorCode(r.Status),
				"StartTime": ts(r.Started), "FinishedTime": ts(r.Finished), "Repeats": 1, "Username": in.Username,
			})
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return false })
	total := len(list)
	lo := min((page-1)*size, total)
	hi := min(lo+size, total)
	return map[string]any{"Invocation": map[string]any{"PageNumber": page, "PageSize": size, "TotalCount": total,
		"InvocationResults": map[string]any{"InvocationResult": append([]map[string]any{}, list[lo:hi]...)}}}, nil
}

func errorCode(status string) string {
	switch status {
	case "Failed":
		return "NonZeroExitCode"
	case "Timeout":
		return "ExecutionTimeout"
	case "Error":
		return "ExecutionException"
	}
	return ""
}
