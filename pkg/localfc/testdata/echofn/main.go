// Command echofn is the test function for pkg/localfc: a go1 function built with fc.Start that
// reports what the runtime handed it, so tests can assert on the runtime API from the outside.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/fc"
	"github.com/aliyun/fc-runtime-go-sdk/fccontext"
)

// request is the test's instruction to the function.
type request struct {
	Op      string          `json:"op"` // echo | error | panic | sleep | exit | env
	Message string          `json:"message,omitempty"`
	Sleep   string          `json:"sleep,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Env     []string        `json:"env,omitempty"`
}

// reply is what the function saw.
type reply struct {
	PID           int               `json:"pid"`
	Data          json.RawMessage   `json:"data,omitempty"`
	RequestID     string            `json:"requestId"`
	DeadlineMS    int64             `json:"deadlineMs"`
	Timeout       int               `json:"timeout"`
	FunctionName  string            `json:"functionName"`
	Handler       string            `json:"handler"`
	Memory        string            `json:"memory"`
	Region        string            `json:"region"`
	AccountID     string            `json:"accountId"`
	AccessKeyID   string            `json:"accessKeyId"`
	AccessSecret  string            `json:"accessKeySecret"`
	SecurityToken string            `json:"securityToken"`
	Qualifier     string            `json:"qualifier"`
	RetryCount    int               `json:"retryCount"`
	Initialized   int64             `json:"initialized"`
	Env           map[string]string `json:"env,omitempty"`
	Event         json.RawMessage   `json:"event"`
	Bodies        []string          `json:"bodies,omitempty"`
}

// initRuns counts initializer runs in this process.
var initRuns atomic.Int64

// handle answers an instruction object; an array (event-streaming batch) is read as MNS
// CloudEvents whose bodies are echoed, and a body containing "poison" fails the batch.
func handle(ctx context.Context, raw json.RawMessage) (reply, error) {
	var req request
	var batch []struct {
		Data struct {
			MessageBody string `json:"messageBody"`
		} `json:"data"`
	}
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &batch); err != nil {
			return reply{}, err
		}
	} else if err := json.Unmarshal(raw, &req); err != nil {
		return reply{}, err
	}
	if strings.Contains(string(raw), "fail-me") {
		return reply{}, errors.New("asked to fail")
	}
	fctx, ok := fccontext.FromContext(ctx)
	if !ok {
		return reply{}, errors.New("no fc context")
	}
	r := reply{
		PID: os.Getpid(), Data: req.Data, RequestID: fctx.RequestID,
		Timeout: fctx.Function.Timeout, FunctionName: fctx.Function.Name,
		Handler: fctx.Function.Handler, Memory: fctx.Function.Memory,
		Region: fctx.Region, AccountID: fctx.AccountId,
		AccessKeyID: fctx.Credentials.AccessKeyId, AccessSecret: fctx.Credentials.AccessKeySecret,
		SecurityToken: fctx.Credentials.SecurityToken, Qualifier: fctx.Service.Qualifier,
		RetryCount: fctx.RetryCount, Initialized: initRuns.Load(), Event: raw,
	}
	for _, e := range batch {
		r.Bodies = append(r.Bodies, e.Data.MessageBody)
		if strings.Contains(e.Data.MessageBody, "poison") {
			return reply{}, fmt.Errorf("poisoned message %q", e.Data.MessageBody)
		}
		if strings.Contains(e.Data.MessageBody, "crash") {
			if _, err := os.Stat(e.Data.MessageBody); err != nil { // crash once: the marker file records it
				_ = os.WriteFile(e.Data.MessageBody, nil, 0o600)
				os.Exit(4)
			}
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		r.DeadlineMS = dl.UnixMilli()
	}
	fmt.Printf("echofn op=%s pid=%d\n", req.Op, r.PID)
	fmt.Fprintf(os.Stderr, "echofn stderr op=%s\n", req.Op)
	switch req.Op {
	case "error":
		return reply{}, errors.New(req.Message)
	case "panic":
		panic(req.Message)
	case "sleep":
		d, err := time.ParseDuration(req.Sleep)
		if err != nil {
			return reply{}, err
		}
		time.Sleep(d) // ignores ctx on purpose: the runtime must enforce the timeout
	case "exit":
		os.Exit(3)
	case "env":
		r.Env = map[string]string{}
		for _, k := range req.Env {
			if v, ok := os.LookupEnv(k); ok {
				r.Env[k] = v
			}
		}
	}
	return r, nil
}

func main() {
	if os.Getenv("ECHOFN_INITIALIZER") != "" {
		fc.RegisterInitializerFunction(func(ctx context.Context) {
			initRuns.Add(1)
			fmt.Println("echofn initializer ran")
			if os.Getenv("ECHOFN_INITIALIZER") == "panic" {
				panic("initializer failed")
			}
		})
	}
	fc.RegisterPreStopFunction(func(ctx context.Context) {
		fmt.Println("echofn prestop ran")
		if f := os.Getenv("ECHOFN_PRESTOP_FILE"); f != "" {
			_ = os.WriteFile(f, []byte("stopped"), 0o600)
		}
	})
	fc.Start(handle)
}
