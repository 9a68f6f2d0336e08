package prefetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"lazymirror/cache"
)

// CacheGetter fetches through a Cache in this process: what `serve` would
// do for a client, with no server running.
type CacheGetter struct {
	Cache *cache.Cache
	Repo  string
}

// Get opens path through the cache and returns its bytes once the download
// (with its failover from mirror to mirror) has ended.
func (g CacheGetter) Get(ctx context.Context, path string) (io.ReadCloser, bool, error) {
	o, err := g.open(ctx, path)
	if err != nil {
		return nil, false, err
	}
	return objectReader{o.Content(), o}, o.Hit, nil
}

// Fetch has the cache hold path and returns its size.
func (g CacheGetter) Fetch(ctx context.Context, path string) (int64, bool, error) {
	o, err := g.open(ctx, path)
	if err != nil {
		return 0, false, err
	}
	defer o.Close()
	return o.Size, o.Hit, nil
}

// open opens path through the cache and waits for its download to end.
func (g CacheGetter) open(ctx context.Context, path string) (*cache.Object, error) {
	clean, err := cache.CleanPath(path)
	if err != nil {
		return nil, err
	}
	o, err := g.Cache.Open(ctx, cache.Request{Repo: g.Repo, Path: clean})
	if errors.Is(err, cache.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if err := o.Wait(ctx); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// objectReader reads an object's file and closes the object.
type objectReader struct {
	io.Reader
	o *cache.Object
}

func (r objectReader) Close() error { return r.o.Close() }

// HTTPGetter fetches through a running lazymirror server.
type HTTPGetter struct {
	Base   string // "http://127.0.0.1:8080"
	Repo   string
	Client *http.Client
}

// Get requests base/<repo>/<path>; hit comes from the X-Cache header.
func (g HTTPGetter) Get(ctx context.Context, path string) (io.ReadCloser, bool, error) {
	resp, err := g.do(ctx, path, nil)
	if err != nil {
		return nil, false, err
	}
	return resp.Body, resp.Header.Get("X-Cache") == "HIT", nil
}

// Fetch asks for the first byte of path only. lazymirror answers a range
// of a blob it does not hold yet once the whole blob is downloaded and
// verified, so the response says the mirror holds it, and Content-Range
// says its size, without the bytes crossing the connection a second time.
func (g HTTPGetter) Fetch(ctx context.Context, path string) (int64, bool, error) {
	resp, err := g.do(ctx, path, http.Header{"Range": {"bytes=0-0"}})
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	hit := resp.Header.Get("X-Cache") == "HIT"
	if resp.StatusCode == http.StatusOK { // a server that ignores Range: read it all
		n, err := io.Copy(io.Discard, resp.Body)
		return n, hit, err
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, hit, err
	}
	var first, last, size int64
	if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &first, &last, &size); err != nil {
		return 0, hit, fmt.Errorf("%s: Content-Range %q: %w", path, resp.Header.Get("Content-Range"), err)
	}
	return size, hit, nil
}

// do requests base/<repo>/<path> with extra headers; any answer but 200
// or 206 is an error.
func (g HTTPGetter) do(ctx context.Context, path string, hdr http.Header) (*http.Response, error) {
	u := strings.TrimSuffix(g.Base, "/") + "/" + g.Repo + "/" + (&url.URL{Path: path}).EscapedPath()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	maps.Copy(req.Header, hdr)
	c := g.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusPartialContent:
		return resp, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	resp.Body.Close()
	return nil, fmt.Errorf("%s: %s", u, resp.Status)
}
