package localfc

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// LocalCloudEnv lists the caller's variables handed on to functions run locally so they reach
// the local cloud: API endpoints, trust roots, call timeout, the targets file (which `local
// up` writes outside the code folder). Credentials travel separately.
var LocalCloudEnv = []string{"CERTFLOW_ENDPOINT", "CERTFLOW_MNS_ENDPOINT", "CERTFLOW_ROOTS", "CERTFLOW_TIMEOUT", "CERTFLOW_TARGETS"}

// PassThrough returns the LocalCloudEnv variables that lookup finds set.
func PassThrough(lookup func(string) (string, bool)) map[string]string {
	out := map[string]string{}
	for _, k := range LocalCloudEnv {
		if v, ok := lookup(k); ok && v != "" {
			out[k] = v
		}
	}
	return out
}

// CredentialsFrom reads ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET/SECURITY_TOKEN through lookup;
// ok is false when the key pair is incomplete.
func CredentialsFrom(lookup func(string) (string, bool)) (Credentials, bool) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	c := Credentials{
		AccessKeyID:     get("ALIBABA_CLOUD_ACCESS_KEY_ID"),
		AccessKeySecret: get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
		SecurityToken:   get("ALIBABA_CLOUD_SECURITY_TOKEN"),
	}
	return c, c.AccessKeyID != "" && c.AccessKeySecret != ""
}

// WriteResult prints res the way `s invoke` does: the log tail between markers, the request
// and instance IDs, then either the result or the error type and error body.
func WriteResult(w io.Writer, fn Function, res Result) {
	fmt.Fprintln(w, "========= FC invoke Logs begin =========")
	logs := string(res.Logs)
	if logs != "" && !strings.HasSuffix(logs, "\n") {
		logs += "\n"
	}
	fmt.Fprint(w, logs)
	billed := (res.Duration.Milliseconds() + 1)
	fmt.Fprintf(w, "Duration: %.2f ms, Billed Duration: %d ms, Memory Size: %d MB\n",
		float64(res.Duration.Microseconds())/1000, billed, fn.memoryMB())
	fmt.Fprintln(w, "========= FC invoke Logs end =========")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Invoke instanceId: %s\n", res.InstanceID)
	if res.ColdStart > 0 {
		fmt.Fprintf(w, "Cold start: %.2f ms\n", float64(res.ColdStart.Microseconds())/1000)
	}
	fmt.Fprintln(w, "Qualifier: LATEST")
	fmt.Fprintf(w, "RequestId: %s\n", res.RequestID)
	fmt.Fprintln(w)
	if res.Error != nil {
		fmt.Fprintf(w, "Error Type: %s\n", res.Error.Kind)
		body, _ := json.Marshal(res.Error)
		fmt.Fprintf(w, "Invoke Result:\n%s\n", body)
		return
	}
	fmt.Fprintf(w, "Invoke Result:\n%s\n", res.Payload)
}
