package server

import (
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
)

// TestCork checks that cork sets TCP_CORK on the request's own socket and
// that the returned function clears it, and that a request without a
// connection in its context is served uncorked.
func TestCork(t *testing.T) {
	corked := func(c net.Conn) int {
		t.Helper()
		rc, err := c.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var v int
		var gerr error
		if err := rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK) }); err != nil {
			t.Fatal(err)
		}
		if gerr != nil {
			t.Fatal(gerr)
		}
		return v
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(ConnContext(r.Context(), conn))
	uncork := cork(r)
	if got := corked(conn); got == 0 {
		t.Fatalf("TCP_CORK = %d after cork, want set", got)
	}
	uncork()
	if got := corked(conn); got != 0 {
		t.Fatalf("TCP_CORK = %d after uncork, want 0", got)
	}
	cork(httptest.NewRequest(http.MethodGet, "/", nil))() // no connection: a no-op, no panic
}
