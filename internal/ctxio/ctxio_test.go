package ctxio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// release is a real file of the corpus.
const release = "../../testdata/corpus/debian/debian/dists/bookworm-updates/InRelease"

func TestReader(t *testing.T) {
	data, err := os.ReadFile(release)
	if err != nil {
		t.Fatal(err)
	}
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	tests := []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc)
		cancel int // bytes read before cancelling; -1: never
		want   error
	}{
		{"live", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, -1, nil},
		{"cancelled first", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, 0, context.Canceled},
		{"cancelled midway", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }, 100, context.Canceled},
		{"deadline passed", func() (context.Context, context.CancelFunc) { return expired, func() {} }, -1, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			r := Reader(ctx, bytes.NewReader(data))
			var got []byte
			if tt.cancel >= 0 {
				head := make([]byte, tt.cancel)
				if _, err := io.ReadFull(r, head); err != nil {
					t.Fatal(err)
				}
				got = head
				cancel()
			}
			rest, err := io.ReadAll(r)
			got = append(got, rest...)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && !bytes.Equal(got, data) {
				t.Errorf("read %d bytes, want the file's %d", len(got), len(data))
			}
			if tt.want != nil && len(got) != max(tt.cancel, 0) {
				t.Errorf("read %d bytes after the context was done", len(got)-max(tt.cancel, 0))
			}
		})
	}
}
