// Package ctxio binds long reads to a context.
//
// Copying a large file or parsing a large index is a loop of Read calls; a
// reader from Reader checks the context before each one, so a cancelled or
// timed-out copy stops at the next Read instead of running to the end.
package ctxio

import (
	"context"
	"io"
)

// Reader returns a reader of r whose reads fail with ctx.Err() once ctx is
// done. It cannot interrupt a Read already blocked in r: a reader from the
// network should be bound to ctx itself (an http.Request's context, say).
func Reader(ctx context.Context, r io.Reader) io.Reader { return reader{ctx, r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
