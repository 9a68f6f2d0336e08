package server

import (
	"context"
	"net"
	"net/http"
	"syscall"
)

// connKey is the context key under which ConnContext keeps a request's
// connection.
type connKey struct{}

// ConnContext is for http.Server.ConnContext: it keeps each connection in
// its requests' context, so that a response from a stored blob can be
// corked (see cork). Without it the server works the same, only with one
// more TCP send for every small response.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// cork holds back partial TCP segments of the request's connection until
// the returned function runs. net/http writes a response's headers and
// then sendfile's its body: two sends, each a full pass through the
// loopback or NIC path, where nginx (tcp_nopush) makes one. For a small
// package that halves the sends, and it is what makes small hits cheap.
// The uncork must follow the last write of the response, and nothing
// that can wait on a peer may happen in between (a corked partial segment
// otherwise leaves only after the kernel's 200 ms limit).
func cork(r *http.Request) (uncork func()) {
	c, ok := r.Context().Value(connKey{}).(syscall.Conn)
	if !ok {
		return func() {}
	}
	rc, err := c.SyscallConn()
	if err != nil || setCork(rc, true) != nil {
		return func() {}
	}
	return func() { setCork(rc, false) }
}
