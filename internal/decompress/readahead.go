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
// for a read of r in progress to return. Chunks are allocated as the
// reader gets ahead, so a short source costs one chunk, not depth. The
// returned reader is also an io.WriterTo that hands each chunk to the
// destination as it is, with no copy.
func ReadAhead(r io.Reader, chunkSize, depth int) io.ReadCloser {
	ra := &readAhead{
		full:   make(chan []byte, depth),
		free:   make(chan []byte, depth+1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		size:   chunkSize,
		left:   depth + 1,
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

	size, left int // chunk size; chunks fill may still allocate
}

// chunk returns a free chunk, allocating one while fewer than depth+1
// exist, or nil once Close was called.
func (ra *readAhead) chunk() []byte {
	select {
	case b := <-ra.free:
		return b
	default:
	}
	if ra.left > 0 {
		ra.left--
		return make([]byte, ra.size)
	}
	select {
	case b := <-ra.free:
		return b
	case <-ra.done:
		return nil
	}
}

func (ra *readAhead) fill(r io.Reader) {
	defer close(ra.exited)
	defer close(ra.full)
	for {
		b := ra.chunk()
		if b == nil {
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

// WriteTo writes each chunk to w as it arrives, until the source ends (nil)
// or fails (its error).
func (ra *readAhead) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(ra.cur) == 0 {
			if ra.buf != nil {
				ra.free <- ra.buf[:cap(ra.buf)]
				ra.buf = nil
			}
			b, ok := <-ra.full
			if !ok {
				if ra.err == io.EOF {
					return total, nil
				}
				return total, ra.err
			}
			ra.cur, ra.buf = b, b
		}
		n, err := w.Write(ra.cur)
		total += int64(n)
		ra.cur = ra.cur[n:]
		if err != nil {
			return total, err
		}
	}
}

// Close stops the read-ahead goroutine and waits for it to return. It does
// not close the source reader.
func (ra *readAhead) Close() error {
	ra.once.Do(func() { close(ra.done) })
	<-ra.exited
	return nil
}
