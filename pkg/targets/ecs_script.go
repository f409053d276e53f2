package targets

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// The scripts Cloud Assistant runs on an ECS host. They use only bash and coreutils.
// The key never sits in the script text or the invocation history: the deploy script
// refers to an OOS secret parameter, which Cloud Assistant resolves on the host.

// readScript prints the SHA-256 of the certificate file, or nothing when it is absent.
var readScript = template.Must(template.New("read").Parse(`#!/bin/bash
# certflow: read the certificate file's hash (nothing is written)
f={{.Cert}}
if [ -f "$f" ]; then sha256sum "$f" | cut -c1-64; fi
`))

// deployScript writes the chain and key atomically (temp file + rename in the same
// folder; key 0600), runs the test command, reloads, and puts the previous files back
// when the test or the reload fails, reloading again so the old certificate stays served.
var deployScript = template.Must(template.New("deploy").Parse(`#!/bin/bash
# certflow: install certificate {{.SHA256}} and reload
set -u
umask 077
cert={{.Cert}}
key={{.Key}}
mkdir -p "$(dirname "$cert")" "$(dirname "$key")" || exit 10
tc=$(mktemp "$cert.certflow.XXXXXX") || exit 10
tk=$(mktemp "$key.certflow.XXXXXX") || { rm -f "$tc"; exit 10; }
cat > "$tc" <<'CERTFLOW_CHAIN_EOF'
{{.Chain}}CERTFLOW_CHAIN_EOF
cat > "$tk" <<'CERTFLOW_KEY_EOF'
{{.KeyRef}}
CERTFLOW_KEY_EOF
chmod 0644 "$tc" && chmod 0600 "$tk" || { rm -f "$tc" "$tk"; exit 10; }
had=0
if [ -f "$cert" ] && [ -f "$key" ]; then
  cp -p "$cert" "$cert.certflow-prev" && cp -p "$key" "$key.certflow-prev" && had=1
fi
mv -f "$tc" "$cert" && mv -f "$tk" "$key" || { rm -f "$tc" "$tk"; exit 10; }
restore() {
  if [ "$had" = 1 ]; then
    mv -f "$cert.certflow-prev" "$cert"; mv -f "$key.certflow-prev" "$key"
    {{.Reload}} >/dev/null 2>&1
    echo "certflow: previous certificate restored"
  else
    rm -f "$cert" "$key"
    echo "certflow: new files removed (there were none before)"
  fi
}
if ! out=$({{.Test}} 2>&1); then
  echo "$out"; echo "certflow: test command failed: {{.TestText}}"; restore; exit 3
fi
if ! out=$({{.Reload}} 2>&1); then
  echo "$out"; echo "certflow: reload failed: {{.ReloadText}}"; restore; exit 4
fi
rm -f "$cert.certflow-prev" "$key.certflow-prev"
echo "certflow: deployed {{.SHA256}}"
`))

type scriptData struct {
	Cert, Key            string // shell-quoted paths
	Chain                string // PEM, ends with a newline
	KeyRef               string // {{oos-secret:NAME}}
	Test, Reload         string // commands as configured
	TestText, ReloadText string // the same, safe inside an echo
	SHA256               string
}

// shellQuote quotes s for bash as one word.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

var echoUnsafe = regexp.MustCompile(`[^A-Za-z0-9 ._/:=+-]`)

func renderRead(certPath string) (string, error) {
	var b bytes.Buffer
	err := readScript.Execute(&b, scriptData{Cert: shellQuote(certPath)})
	return b.String(), err
}

func renderDeploy(certPath, keyPath string, chain []byte, secretName, test, reload, sha string) (string, error) {
	if bytes.Contains(chain, []byte("CERTFLOW_CHAIN_EOF")) {
		return "", fmt.Errorf("certificate chain contains the here-document delimiter")
	}
	if len(chain) == 0 || chain[len(chain)-1] != '\n' {
		chain = append(append([]byte(nil), chain...), '\n')
	}
	var b bytes.Buffer
	err := deployScript.Execute(&b, scriptData{
		Cert: shellQuote(certPath), Key: shellQuote(keyPath), Chain: string(chain),
		KeyRef: "{{oos-secret:" + secretName + "}}",
		Test:   test, Reload: reload,
		TestText: echoUnsafe.ReplaceAllString(test, "_"), ReloadText: echoUnsafe.ReplaceAllString(reload, "_"),
		SHA256: sha,
	})
	return b.String(), err
}
