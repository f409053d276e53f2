// Package bench measures certflow on the local cloud: rollout against the quota bound,
// the checker against an openssl loop, binary footprint and cold start, mapping build
// time, and folds in `go test -bench` figures. Every figure comes from one run; nothing
// is hard-coded except the targets it is compared with.
package bench

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// Machine is where the figures were measured.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// ThisMachine describes the current machine (CPU model from /proc/cpuinfo when present).
func ThisMachine() Machine {
	return Machine{CPU: cpuModel(), Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
