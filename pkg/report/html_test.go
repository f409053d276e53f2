package report_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certflow/certflow/pkg/probe"
	"github.com/certflow/certflow/pkg/report"
)

func sampleRun() probe.Run {
	checked := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	served := func(cn string, days int) *probe.Served {
		return &probe.Served{SHA256: strings.Repeat("ab", 32), Serial: "01AF", Subject: "CN=" + cn, Issuer: "CN=test intermediate",
			NotAfter: checked.AddDate(0, 0, days), DaysLeft: days, TLSVersion: "TLS 1.3", HandshakeMs: 3}
	}
	return probe.NewRun([]probe.Result{
		{Name: "www.example.com", Address: "127.0.0.1:8443", OK: true, Findings: []probe.Finding{}, Served: served("www.example.com", 80)},
		{Name: "soon.example.com", Address: "127.0.0.1:8444", OK: true, Served: served("soon.example.com", 9),
			Findings: []probe.Finding{{Severity: probe.SeverityWarning, Code: probe.CodeExpiringSoon, Message: "expires in 9 days"}}},
		{Name: "old.example.com", Address: "127.0.0.1:8445", OK: false, Served: served("old.example.com", -3),
			Findings: []probe.Finding{{Severity: probe.SeverityError, Code: probe.CodeExpired, Message: "leaf expired"}}},
		{Name: "<script>alert(1)</script>.example.com", Address: "127.0.0.1:1", OK: false,
			Findings: []probe.Finding{{Severity: probe.SeverityError, Code: probe.CodeUnreachable, Message: `dial "<img src=x onerror=alert(2)>"`}}},
	}, checked, 30)
}

func TestHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := report.HTML(&buf, sampleRun(), report.Options{Title: "estate & friends"}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()

	t.Run("table has a row per endpoint with its findings", func(t *testing.T) {
		if n := strings.Count(page, `<tr class="endpoint">`); n != 4 {
			t.Errorf("%d endpoint rows, want 4", n)
		}
		for _, want := range []string{"www.example.com", "127.0.0.1:8445", "expiring_soon", "leaf expired", `<span class="badge fail">fail</span>`, "estate &amp; friends", "2026-05-01T08:00:00Z"} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
	t.Run("chart has a bar per served certificate and the threshold line", func(t *testing.T) {
		if !strings.Contains(page, "<svg") {
			t.Fatal("no inline svg")
		}
		svg := page[strings.Index(page, "<svg"):strings.Index(page, "</svg>")]
		for _, class := range []string{`<rect class="fine"`, `<rect class="soon"`, `<rect class="expired"`} {
			if strings.Count(svg, class) != 1 {
				t.Errorf("chart has %d %s bars, want 1", strings.Count(svg, class), class)
			}
		}
		if !strings.Contains(svg, `class="threshold"`) || !strings.Contains(svg, "30 days") {
			t.Error("no threshold line")
		}
		if !strings.Contains(svg, "no certificate served") {
			t.Error("endpoint without a certificate is not shown in the chart")
		}
		// Soonest first: the expired endpoint is drawn above the fine one.
		if strings.Index(svg, "old.example.com") > strings.Index(svg, "www.example.com") {
			t.Error("bars are not ordered by days left")
		}
	})
	t.Run("everything is escaped", func(t *testing.T) {
		if strings.Contains(page, "<script") || strings.Contains(page, "<img") {
			t.Error("markup from the run reached the page unescaped")
		}
		if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;.example.com") {
			t.Error("escaped endpoint name missing")
		}
	})
	t.Run("self-contained", func(t *testing.T) {
		if m := regexp.MustCompile(`(?i)<[^>]*\s(src|href)\s*=|<link|@import|url\(`).FindString(page); m != "" {
			t.Errorf("page loads something: %q", m)
		}
	})
}

func TestHTMLEmptyRun(t *testing.T) {
	var buf bytes.Buffer
	if err := report.HTML(&buf, probe.NewRun(nil, time.Time{}, 0), report.Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "<svg") || !strings.Contains(buf.String(), "<strong>0</strong> endpoints") {
		t.Errorf("empty run page: %s", buf.String())
	}
}
