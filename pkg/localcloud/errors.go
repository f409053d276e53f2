package localcloud

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// APIError is a POP error as the gateway and the services return it: an HTTP status and a
// string code and message. Codes and statuses follow facts/wire-pop.md §4.2.
type APIError struct {
	Status  int
	Code    string
	Message string
}

// Error implements error.
func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func apiErr(status int, code, format string, a ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

func badRequest(code, format string, a ...any) *APIError {
	return apiErr(http.StatusBadRequest, code, format, a...)
}

func notFound(code, format string, a ...any) *APIError {
	return apiErr(http.StatusNotFound, code, format, a...)
}

// missing is the MissingParameter error naming the parameter, the shape most POP products use.
func missing(name string) *APIError {
	return badRequest("MissingParameter", "The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

func invalid(name, value string) *APIError {
	return badRequest("InvalidParameter", "The specified parameter %q is not valid: %q.", name, value)
}

// errorBody is the common POP error shape; every field is a string because the SDK
// type-asserts them to string (a number would panic the caller).
type errorBody struct {
	RequestId string `json:"RequestId"`
	HostId    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

func writeAPIError(w http.ResponseWriter, requestID, host, product string, e *APIError) {
	q := url.Values{"q": {e.Code}, "product": {product}, "requestId": {requestID}}
	writeJSON(w, e.Status, errorBody{
		RequestId: requestID, HostId: host, Code: e.Code, Message: e.Message,
		Recommend: "https://api.aliyun.com/troubleshoot?" + q.Encode(),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"Code":"InternalError","Message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newRequestID returns an upper-case UUID-shaped request ID.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := fmt.Sprintf("%X", b)
	return strings.Join([]string{s[0:8], s[8:12], s[12:16], s[16:20], s[20:32]}, "-")
}
