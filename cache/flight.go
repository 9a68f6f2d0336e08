package cache

import (
	"context"
	"sync"

	"lazymirror/checksum"
	"lazymirror/store"
)

// A flight is one upstream download of one blob, shared by every client
// that asks for it while it runs (collapse by checksum). The download runs in
// its own goroutine under the cache's own bounded context, never a client's:
// a client that leaves does not cancel what the others wait for.
//
// Each attempt (one mirror) writes through a store.Writer; clients follow the
// attempt's growing temp file. When an attempt fails, its followers get an
// error (their responses are broken off, never completed with wrong bytes)
// and the next attempt starts on the next mirror; clients arriving later
// follow that one.
type flight struct {
	key string

	mu      sync.Mutex
	w       *store.Writer // the running attempt; nil between attempts
	changed chan struct{} // closed and replaced whenever w changes or the flight ends
	done    bool
	joins   int // requests that joined after the leader: hits, recorded when it ends
	objs    int // Objects of this flight not yet closed: each holds the blob against eviction once it is stored
	digest  checksum.Digest
	size    int64
	err     error
}

func newFlight(key string) *flight {
	return &flight{key: key, changed: make(chan struct{})}
}

// setWriter publishes a new attempt's writer (nil: between attempts).
func (f *flight) setWriter(w *store.Writer) {
	f.mu.Lock()
	f.w = w
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
}

// finish ends the flight with its result. On success, hold is called with
// the number of Objects still open on the flight: the blob must not be
// evicted before they are closed.
func (f *flight) finish(d checksum.Digest, size int64, err error, hold func(checksum.Digest, int)) {
	f.mu.Lock()
	f.w, f.done, f.digest, f.size, f.err = nil, true, d, size, err
	if err == nil && f.objs > 0 {
		hold(d, f.objs)
	}
	close(f.changed)
	f.mu.Unlock()
}

// attach counts a new Object of the flight; after a successful end it
// holds the blob at once.
func (f *flight) attach(hold func(checksum.Digest, int)) {
	f.mu.Lock()
	f.objs++
	if f.done && f.err == nil {
		hold(f.digest, 1)
	}
	f.mu.Unlock()
}

// detach is Object.Close: it gives back the Object's hold, if it had one.
func (f *flight) detach(release func(checksum.Digest)) {
	f.mu.Lock()
	f.objs--
	if f.done && f.err == nil {
		release(f.digest)
	}
	f.mu.Unlock()
}

// follow returns a reader of the running attempt's bytes, waiting for an
// attempt to start if none runs. When the flight has already ended it
// returns (nil, nil) and the caller reads the committed blob instead.
func (f *flight) follow(ctx context.Context) (*store.Follower, error) {
	for {
		f.mu.Lock()
		w, done, err, ch := f.w, f.done, f.err, f.changed
		f.mu.Unlock()
		switch {
		case done && err != nil:
			return nil, err
		case done:
			return nil, nil
		case w != nil:
			return w.NewReaderContext(ctx), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// wait blocks until the flight ends and returns its result.
func (f *flight) wait(ctx context.Context) (checksum.Digest, int64, error) {
	for {
		f.mu.Lock()
		done, ch := f.done, f.changed
		d, size, err := f.digest, f.size, f.err
		f.mu.Unlock()
		if done {
			return d, size, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return checksum.Digest{}, 0, ctx.Err()
		}
	}
}

// flights is the set of running flights, by key.
type flights struct {
	mu    sync.Mutex
	m     map[string]*flight
	empty chan struct{} // closed when the last flight ends, for idle
}

// join returns the flight for key and whether the caller created it (and so
// must start it).
func (fs *flights) join(key string) (*flight, bool) {
	return fs.joinAttached(key, nil)
}

// joinAttached is join for a request that reads the flight's blob: the
// request is attached (see flight.attach) while the flight is still in the
// set. The flight lets go of its own hold on the blob only after it left
// the set, so the blob stays held throughout: attached later, a request
// could find the blob evicted in between.
func (fs *flights) joinAttached(key string, hold func(checksum.Digest, int)) (*flight, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.m[key]
	if ok {
		f.mu.Lock()
		f.joins++
		f.mu.Unlock()
	} else {
		if fs.m == nil {
			fs.m = make(map[string]*flight)
		}
		f = newFlight(key)
		fs.m[key] = f
	}
	if hold != nil {
		f.attach(hold)
	}
	return f, !ok
}

// remove drops a finished flight, so later requests read the store.
func (fs *flights) remove(f *flight) {
	fs.mu.Lock()
	if fs.m[f.key] == f {
		delete(fs.m, f.key)
	}
	if len(fs.m) == 0 && fs.empty != nil {
		close(fs.empty)
		fs.empty = nil
	}
	fs.mu.Unlock()
}

// idle waits until no flight runs, or ctx is done.
func (fs *flights) idle(ctx context.Context) error {
	fs.mu.Lock()
	if len(fs.m) == 0 {
		fs.mu.Unlock()
		return nil
	}
	if fs.empty == nil {
		fs.empty = make(chan struct{})
	}
	ch := fs.empty
	fs.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// count returns the number of running flights.
func (fs *flights) count() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.m)
}
