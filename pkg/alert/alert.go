// Package alert sends the checker's findings to a webhook: a generic JSON POST, or a
// DingTalk custom robot message (markdown), signed when the robot has a secret.
package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Formats.
const (
	FormatGeneric  = "generic"
	FormatDingTalk = "dingtalk"
)

// Message is one alert: a title and a markdown text for people, and Data (any JSON
// value, e.g. the checker's report) for machines. DingTalk receives only title and text.
type Message struct {
	Title string
	Text  string
	Data  any
}

// Sender posts messages to one webhook. The zero Format is generic. Safe for concurrent use.
type Sender struct {
	URL    string
	Format string
	// Secret signs DingTalk requests (timestamp + sign query parameters); empty = unsigned.
	Secret string
	// HTTPClient sends the request [a client with a 10 s timeout].
	HTTPClient *http.Client
	// Now is the clock for the DingTalk timestamp [time.Now].
	Now func() time.Time
}

// DingTalkSign is the DingTalk robot signature for timestamp ms and secret:
// base64(HMAC-SHA256(key=secret, timestamp+"\n"+secret)), not yet URL-encoded.
func DingTalkSign(secret string, timestampMs int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestampMs, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Send posts msg and returns an error unless the webhook answers 2xx (and, for DingTalk,
// errcode 0). The error never contains the secret or the signed URL's query.
func (s *Sender) Send(ctx context.Context, msg Message) error {
	u, err := url.Parse(s.URL)
	if err != nil {
		return fmt.Errorf("alert: webhook url: %w", err)
	}
	var body any
	switch s.Format {
	case FormatDingTalk:
		body = map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": msg.Title, "text": msg.Text}}
		if s.Secret != "" {
			now := time.Now
			if s.Now != nil {
				now = s.Now
			}
			ts := now().UnixMilli()
			q := u.Query()
			q.Set("timestamp", strconv.FormatInt(ts, 10))
			q.Set("sign", DingTalkSign(s.Secret, ts))
			u.RawQuery = q.Encode()
		}
	case "", FormatGeneric:
		body = map[string]any{"title": msg.Title, "text": msg.Text, "data": msg.Data}
	default:
		return fmt.Errorf("alert: unknown format %q", s.Format)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("alert: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	hc := s.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	where := u.Scheme + "://" + u.Host + u.Path
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("alert: post to %s: %w", where, stripURL(err))
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("alert: %s answered %s: %.200s", where, resp.Status, rb)
	}
	if s.Format == FormatDingTalk {
		var r struct {
			ErrCode int    `json:"errcode"`
			ErrMsg  string `json:"errmsg"`
		}
		if json.Unmarshal(rb, &r) == nil && r.ErrCode != 0 {
			return fmt.Errorf("alert: dingtalk refused the message: errcode %d: %s", r.ErrCode, r.ErrMsg)
		}
	}
	return nil
}

// stripURL drops the request URL (it carries the access token and signature) from a
// transport error.
func stripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
