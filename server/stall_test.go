//go:build linux

package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"lazymirror/config"
)

// TestStalledClientDropped: a client that asks for a large file and then
// reads nothing (a hung VM, a stopped process) is dropped once it has
// accepted no byte for stall_timeout, whether it follows a download or
// reads a stored blob: its response is broken off, which lets go of the
// blob, and the client finds its connection reset when it reads at last.
// A client that reads slowly but steadily keeps its connection however
// long it takes.
func TestStalledClientDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for stall_timeout")
	}
	const size = 32 << 20 // far more than the socket buffers hold
	const stall = 2 * time.Second
	// A file each, so that a subtest that fails (its client closing at
	// its end) does not confuse the next.
	files := map[string][]byte{"fresh": fileBytes(1, size), "big": fileBytes(2, size), "slow": fileBytes(3, size)}
	m := filesMirror(t, files)
	h, broken := newWatchedHarness(t, fmt.Sprintf("stall_timeout: %s\n", stall)+yamlRepos("b: {type: deb, mirrors: ["+m.URL()+"]}"))

	t.Run("miss", func(t *testing.T) {
		start := time.Now()
		c := stalledGet(t, h, "fresh")
		waitDropped(t, broken, c, "fresh", "MISS", size, stall, start)
	})
	getWant(t, h, "b", "big", files["big"], "MISS")
	getWant(t, h, "b", "slow", files["slow"], "MISS")
	idle(t, h)
	t.Run("hit", func(t *testing.T) {
		start := time.Now()
		c := stalledGet(t, h, "big")
		waitDropped(t, broken, c, "big", "HIT", size, stall, start)
	})
	t.Run("slow reader", func(t *testing.T) {
		c := stalledGet(t, h, "slow")
		// A few KB at a time, several times per stall_timeout, for twice
		// stall_timeout: far too slow for the whole file, never stalled.
		buf := make([]byte, 256<<10)
		tick := time.NewTicker(stall / 8)
		defer tick.Stop()
		var got int
		for i := range 16 {
			for waiting := true; waiting; {
				select {
				case b := <-broken:
					if b.path == "slow" {
						t.Fatalf("a client reading every %v was dropped after %d reads, %d bytes: %v", stall/8, i, got, b.err)
					}
				case <-tick.C:
					waiting = false
				}
			}
			c.SetReadDeadline(time.Now().Add(stall))
			n, err := c.Read(buf)
			got += n
			if err != nil {
				t.Fatalf("read %d, after %d bytes: %v", i, got, err)
			}
		}
		if got >= size {
			t.Fatalf("read the whole file (%d bytes): not a slow reader", got)
		}
		t.Logf("read %d bytes in 16 reads over %v", got, 2*stall)
	})
}

// stalledGet asks for a file of repo b on a new connection with a small
// receive buffer, and reads nothing: once that buffer and the server's
// send buffer are full, the client's window stays shut.
func stalledGet(t *testing.T, h *harness, name string) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(h.base, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.(*net.TCPConn).SetReadBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "GET /b/%s HTTP/1.1\r\nHost: %s\r\n\r\n", name, addr); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitDropped waits (a minute at most) for lazymirror to break off the
// response to a stalled client, then reads what reached the client: a
// 200 with the given X-Cache whose body ends short, reset.
func waitDropped(t *testing.T, broken <-chan brokenOff, c net.Conn, name, xcache string, size int, stall time.Duration, start time.Time) {
	t.Helper()
	watchdog := time.After(time.Minute)
	for waiting := true; waiting; {
		select {
		case b := <-broken:
			if b.path != name {
				continue // another subtest's client
			}
			if !errors.Is(b.err, syscall.ETIMEDOUT) {
				t.Fatalf("broken off: %v; want connection timed out", b.err)
			}
			if d := time.Since(start); d < stall {
				t.Errorf("dropped after %v, before stall_timeout %v", d, stall)
			}
			waiting = false
		case <-watchdog:
			t.Fatalf("a client that reads nothing still holds its response after a minute (stall_timeout %v)", stall)
		}
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != xcache {
		t.Errorf("status %d, X-Cache %q; want 200, %s", resp.StatusCode, resp.Header.Get("X-Cache"), xcache)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if !errors.Is(err, syscall.ECONNRESET) || n >= int64(size) {
		t.Errorf("client read %d of %d bytes, then %v; want connection reset", n, size, err)
	}
}

// brokenOff is a response lazymirror broke off, as its log reports it.
type brokenOff struct {
	path string
	err  error
}

// watchLog passes records on to its Handler, and reports each response
// broken off on c.
type watchLog struct {
	slog.Handler
	c chan<- brokenOff
}

func (w watchLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "response broken off" {
		var b brokenOff
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "path":
				b.path = a.Value.String()
			case "err":
				b.err, _ = a.Value.Any().(error)
			}
			return true
		})
		select {
		case w.c <- b:
		default: // nobody waits for so many
		}
	}
	return w.Handler.Handle(ctx, r)
}

func (w watchLog) WithAttrs(as []slog.Attr) slog.Handler {
	return watchLog{w.Handler.WithAttrs(as), w.c}
}

func (w watchLog) WithGroup(name string) slog.Handler {
	return watchLog{w.Handler.WithGroup(name), w.c}
}

// newWatchedHarness is newHarness with a log that reports each response
// lazymirror breaks off.
func newWatchedHarness(t *testing.T, yaml string) (*harness, <-chan brokenOff) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	broken := make(chan brokenOff, 16)
	h := &harness{t: t, cfg: cfg, dir: t.TempDir(), wrapLog: func(lh slog.Handler) slog.Handler { return watchLog{lh, broken} }}
	h.start()
	return h, broken
}
