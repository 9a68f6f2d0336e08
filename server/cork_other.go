//go:build !linux

package server

import (
	"errors"
	"syscall"
)

// setCork has no portable equivalent outside Linux; responses there take
// one more send.
func setCork(syscall.RawConn, bool) error { return errors.ErrUnsupported }
