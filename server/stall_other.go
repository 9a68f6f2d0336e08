//go:build !linux

package server

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"
)

// setStallTimeout is Linux only (TCP_USER_TIMEOUT): elsewhere a client
// that stops reading keeps its connection until it goes away.
func setStallTimeout(net.Conn, time.Duration) error {
	return fmt.Errorf("stall timeout on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
