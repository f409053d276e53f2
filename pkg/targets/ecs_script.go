package targets

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// The scripts Cloud Assistant runs on an ECS host. They use only bash and coreutils.
// The key never sits in the script text or the invocation history: the deploy script
// refers to an OOS secret parameter, which Cloud Assistant resolves on the host.
//
// Placeholders are @NAME@, filled in one pass by a strings.Replacer (so filled-in text is
// never scanned again). text/template would do too, but linking it keeps every method of
// the SDK's service clients alive and triples the function binaries' size.

// readScript prints the SHA-256 of the certificate file, or nothing when it is absent.
const readScript = `#!/bin/bash
# certflow: read the certificate file's hash (nothing is written)
f=@CERT@
if [ -f "$f" ]; then sha256sum "$f" | cut -c1-64; fi
`

// deployScript writes the chain and key atomically (temp file + rename in the same
// folder; key 0600), runs the test command, reloads, and puts the previous files back
// when the test or the reload fails, reloading again so the old certificate stays served.
const deployScript = `#!/bin/bash
# certflow: install certificate @SHA256@ and reload
set -u
umask 077
cert=@CERT@
key=@KEY@
mkdir -p "$(dirname "$cert")" "$(dirname "$key")" || exit 10
tc=$(mktemp "$cert.certflow.XXXXXX") || exit 10
tk=$(mktemp "$key.certflow.XXXXXX") || { rm -f "$tc"; exit 10; }
cat > "$tc" <<'CERTFLOW_CHAIN_EOF'
@CHAIN@CERTFLOW_CHAIN_EOF
cat > "$tk" <<'CERTFLOW_KEY_EOF'
@KEYREF@
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
    @RELOAD@ >/dev/null 2>&1
    echo "certflow: previous certificate restored"
  else
    rm -f "$cert" "$key"
    echo "certflow: new files removed (there were none before)"
  fi
}
if ! out=$(@TEST@ 2>&1); then
  echo "$out"; echo "certflow: test command failed: @TESTTEXT@"; restore; exit 3
fi
if ! out=$(@RELOAD@ 2>&1); then
  echo "$out"; echo "certflow: reload failed: @RELOADTEXT@"; restore; exit 4
fi
rm -f "$cert.certflow-prev" "$key.certflow-prev"
echo "certflow: deployed @SHA256@"
`

// shellQuote quotes s for bash as one word.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

var echoUnsafe = regexp.MustCompile(`[^A-Za-z0-9 ._/:=+-]`)

func renderRead(certPath string) string {
	return strings.NewReplacer("@CERT@", shellQuote(certPath)).Replace(readScript)
}

func renderDeploy(certPath, keyPath string, chain []byte, secretName, test, reload, sha string) (string, error) {
	if bytes.Contains(chain, []byte("CERTFLOW_CHAIN_EOF")) {
		return "", fmt.Errorf("certificate chain contains the here-document delimiter")
	}
	if len(chain) == 0 || chain[len(chain)-1] != '\n' {
		chain = append(append([]byte(nil), chain...), '\n')
	}
	return strings.NewReplacer(
		"@CERT@", shellQuote(certPath),
		"@KEY@", shellQuote(keyPath),
		"@CHAIN@", string(chain),
		"@KEYREF@", "{{oos-secret:"+secretName+"}}",
		"@TESTTEXT@", echoUnsafe.ReplaceAllString(test, "_"),
		"@RELOADTEXT@", echoUnsafe.ReplaceAllString(reload, "_"),
		"@TEST@", test,
		"@RELOAD@", reload,
		"@SHA256@", sha,
	).Replace(deployScript), nil
}
