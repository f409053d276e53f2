package localcloud

import (
	"net"
	"strconv"
	"time"
)

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

var netDialer = net.Dialer{Timeout: 5 * time.Second}
