package bench

import (
	"bytes"
	"fmt"
	"time"

	"github.com/certflow/certflow/pkg/airec"
	"github.com/certflow/certflow/pkg/certs"
	"github.com/certflow/certflow/pkg/localca"
)

// Mapping is building and validating certificate_info.xlsx for many domains.
type Mapping struct {
	Domains int     `json:"domains"`
	Bytes   int     `json:"bytes"`
	BuildMs float64 `json:"buildMs"` // airec.BuildMapping (streaming writer), median of Runs
	ReadMs  float64 `json:"readMs"`  // airec.ReadMapping with coverage checks, median of Runs
	TotalMs float64 `json:"totalMs"` // median of build+read
	Runs    int     `json:"runs"`
	Valid   bool    `json:"valid"`
}

// RunMapping builds a mapping of n domains under BenchDomain and reads it back, validating
// every row and checking each domain against a real wildcard certificate; runs times.
func RunMapping(n, runs int) (Mapping, error) {
	ca, err := localca.New("certflow bench")
	if err != nil {
		return Mapping{}, err
	}
	leaf, err := ca.Issue(localca.Template{DNSNames: []string{"*." + BenchDomain}, KeyType: localca.ECDSAP256})
	if err != nil {
		return Mapping{}, err
	}
	bundle, _ := certs.Parse(ca.ChainPEM(leaf), leaf.KeyPEM(), certs.Options{Roots: ca.Pool(), RequireKey: true})
	if bundle == nil {
		return Mapping{}, fmt.Errorf("mapping: the bench certificate did not parse")
	}
	domains := make([]string, n)
	for i := range domains {
		domains[i] = fmt.Sprintf("d%05d.%s", i, BenchDomain)
	}
	m := Mapping{Domains: n, Runs: runs}
	var builds, reads, totals []float64
	for range runs {
		var buf bytes.Buffer
		t0 := time.Now()
		if err := airec.BuildMapping(&buf, "12345678901234567", airec.CertTypeECC, domains); err != nil {
			return m, fmt.Errorf("mapping: build: %w", err)
		}
		t1 := time.Now()
		got, err := airec.ReadMapping(bytes.NewReader(buf.Bytes()), bundle)
		t2 := time.Now()
		if err != nil {
			return m, fmt.Errorf("mapping: read: %w", err)
		}
		if !got.Valid() || len(got.Rows) != n {
			return m, fmt.Errorf("mapping: read back %d rows, valid=%v, findings %v", len(got.Rows), got.Valid(), got.Errors())
		}
		m.Bytes, m.Valid = buf.Len(), true
		builds = append(builds, ms(t1.Sub(t0)))
		reads = append(reads, ms(t2.Sub(t1)))
		totals = append(totals, ms(t2.Sub(t0)))
	}
	m.BuildMs, m.ReadMs, m.TotalMs = median(builds), median(reads), median(totals)
	return m, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
