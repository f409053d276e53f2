package ecshost

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// shellQuote quotes s for bash.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// realNginxShim runs the machine's nginx against this sandbox's prefix and
// configuration whatever -c/-p/-g the script passes, so `nginx -t` tests and
// `nginx -s reload` signals this host's server and nothing else.
func realNginxShim(realBin, prefix, conf string) string {
	return fmt.Sprintf(`#!/bin/bash
# certflow local ECS sandbox: nginx bound to this host's sandbox.
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -c|-p|-g|-e) shift; [ $# -gt 0 ] && shift ;;
    -c?*|-p?*|-g?*|-e?*) shift ;;
    *) args+=("$1"); shift ;;
  esac
done
exec %s -p %s -c %s -e %s "${args[@]}"
`, shellQuote(realBin), shellQuote(prefix), shellQuote(conf), shellQuote(filepath.Join(prefix, "logs", "error.log")))
}

// goNginxShim speaks to the host's Go web server over its loopback control
// port using bash's /dev/tcp, so it needs no other program.
func goNginxShim(port int, token string) string {
	return fmt.Sprintf(`#!/bin/bash
# certflow local ECS sandbox: nginx command for the Go TLS server of this host.
op=""
quiet=0
while [ $# -gt 0 ]; do
  case "$1" in
    -t|-T) op=test; shift ;;
    -q) quiet=1; shift ;;
    -s) op="signal-${2:-}"; shift; [ $# -gt 0 ] && shift ;;
    -c|-p|-g|-e) shift; [ $# -gt 0 ] && shift ;;
    -v|-V) echo "nginx version: nginx (certflow sandbox Go server)" >&2; exit 0 ;;
    *) shift ;;
  esac
done
if [ -z "$op" ]; then
  echo "nginx: [emerg] bind() to 127.0.0.1 failed (98: Address already in use)" >&2
  exit 1
fi
if ! exec 3<>/dev/tcp/127.0.0.1/%d; then
  echo "nginx: [error] the sandbox host is not running" >&2
  exit 1
fi
printf '%%s %%s %%s\n' %s "$op" "$quiet" >&3
IFS= read -r code <&3
cat <&3 >&2
exec 3<&-
exit "${code:-1}"
`, port, shellQuote(token))
}

// serviceShims route the usual service-manager spellings of an nginx reload
// to the sandbox's nginx command.
const systemctlShim = `#!/bin/bash
# certflow local ECS sandbox: systemctl knows only nginx.
verb="${1:-}"; unit="${2:-}"
case "$unit" in nginx|nginx.service) ;; *) echo "Unit ${unit:-?} not found." >&2; exit 5 ;; esac
case "$verb" in
  reload|restart|reload-or-restart|try-reload-or-restart|try-restart) exec nginx -s reload ;;
  *) echo "systemctl: '$verb' is not supported in the certflow sandbox" >&2; exit 1 ;;
esac
`

const serviceShim = `#!/bin/bash
# certflow local ECS sandbox: service knows only nginx.
case "${1:-}" in nginx) ;; *) echo "${1:-?}: unrecognized service" >&2; exit 1 ;; esac
case "${2:-}" in
  reload|restart|force-reload) exec nginx -s reload ;;
  configtest) exec nginx -t ;;
  *) echo "service: '${2:-}' is not supported in the certflow sandbox" >&2; exit 1 ;;
esac
`

func writeExec(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		return err
	}
	return os.Chmod(path, 0o755)
}
