package prefetch

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	clean, err := cache.CleanPath(path)
	if err != nil {
		return nil, false, err
	}
	o, err := g.Cache.Open(ctx, cache.Request{Repo: g.Repo, Path: clean})
	if errors.Is(err, cache.ErrNotFound) {
		return nil, false, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, false, err
	}
	if err := o.Wait(ctx); err != nil {
		o.Close()
		return nil, false, err
	}
	return objectReader{io.NewSectionReader(o.File(), 0, o.Size), o}, o.Hit, nil
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
	u := strings.TrimSuffix(g.Base, "/") + "/" + g.Repo + "/" + (&url.URL{Path: path}).EscapedPath()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	c := g.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, false, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, resp.Header.Get("X-Cache") == "HIT", nil
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, false, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	resp.Body.Close()
	return nil, false, fmt.Errorf("%s: %s", u, resp.Status)
}
