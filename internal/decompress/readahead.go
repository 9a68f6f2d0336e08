package decompress

import (
	"errors"
	"io"
	"sync"
)

// ErrClosed is returned by a read from a ReadAhead after Close.
var ErrClosed = errors.New("read ahead: closed")

// ReadAhead reads r in its own goroutine, up to depth chunks of chunkSize
// bytes ahead of the consumer, so that decompressing (one core) overlaps
// parsing (the other). Closing the returned reader stops the goroutine and
// waits for it, so the caller may close r afterwards; Close therefore waits
// for a read of r in progress to return.
func ReadAhead(r io.Reader, chunkSize, depth int) io.ReadCloser {
	ra := &readAhead{
		full:   make(chan []byte, depth),
		free:   make(chan []byte, depth+1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	for range depth + 1 {
		ra.free <- make([]byte, chunkSize)
	}
	go ra.fill(r)
	return ra
}

type readAhead struct {
	full   chan []byte
	free   chan []byte
	done   chan struct{} // closed by Close
	exited chan struct{} // closed when fill returns
	once   sync.Once
	err    error // set by fill before it closes full

	cur []byte // chunk being consumed
	buf []byte // its backing buffer, returned to free when consumed
}

func (ra *readAhead) fill(r io.Reader) {
	defer close(ra.exited)
	defer close(ra.full)
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.done:
			return
		}
		// Fill the chunk, keeping r's own error: io.EOF is the end, and
		// anything else (io.ErrUnexpectedEOF from a truncated gzip stream
		// or HTTP body among them) must reach the reader as it is.
		n := 0
		var err error
		for n < len(b) && err == nil {
			var k int
			k, err = r.Read(b[n:])
			n += k
		}
		if n > 0 {
			select {
			case ra.full <- b[:n]:
			case <-ra.done:
				return
			}
		}
		if err != nil {
			ra.err = err
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	select {
	case <-ra.done:
		return 0, ErrClosed
	default:
	}
	for len(ra.cur) == 0 {
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		b, ok := <-ra.full
		if !ok {
			return 0, ra.err
		}
		ra.cur, ra.buf = b, b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the read-ahead goroutine and waits for it to return. It does
// not close the source reader.
func (ra *readAhead) Close() error {
	ra.once.Do(func() { close(ra.done) })
	<-ra.exited
	return nil
}
