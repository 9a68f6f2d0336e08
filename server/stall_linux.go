//go:build linux

package server

import (
	"errors"
	"fmt"
	"math"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setStallTimeout sets TCP_USER_TIMEOUT on a client connection: the kernel
// aborts it once data sent on it stays unacknowledged for d, zero-window
// probes included, so a peer that keeps its receive window shut (a client
// that stopped reading) is dropped as surely as one that vanished. Any
// acknowledged byte starts the count again: a slow download that moves
// is never cut. A write blocked on the connection then fails (ETIMEDOUT).
func setStallTimeout(c net.Conn, d time.Duration) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return fmt.Errorf("%T: %w", c, errors.ErrUnsupported)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	ms := int(min(max(d.Milliseconds(), 1), math.MaxInt32))
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setsockopt TCP_USER_TIMEOUT: %w", serr)
	}
	return nil
}
