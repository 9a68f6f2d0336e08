package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"lazymirror/checksum"
)

// result is what a follower read.
type result struct {
	name string
	data []byte
	err  error
}

// follow reads fl to the end in a goroutine, by Read or by WriteTo.
func follow(name string, fl *Follower, useWriteTo bool, out chan<- result) {
	go func() {
		defer fl.Close()
		var buf bytes.Buffer
		var err error
		if useWriteTo {
			_, err = fl.WriteTo(&buf)
		} else {
			_, err = io.Copy(&buf, struct{ io.Reader }{fl}) // hide WriterTo: exercise Read
		}
		out <- result{name, buf.Bytes(), err}
	}()
}

func TestFollowers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	rpm := readFile(t, corpusRPM)
	w, err := s.Create(checksum.Digest(sha256.Sum256(rpm)), int64(len(rpm)))
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan result)
	n := 0
	start := func(stage string) {
		for _, wt := range []bool{false, true} {
			follow(fmt.Sprintf("%s/writeto=%v", stage, wt), w.NewReader(), wt, out)
			n++
		}
	}
	start("before")
	half := len(rpm) / 2
	if err := writeChunks(w, rpm[:half], 10007); err != nil {
		t.Fatal(err)
	}
	start("during")
	if err := writeChunks(w, rpm[half:], 3001); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	start("after")
	for range n {
		r := <-out
		if r.err != nil || !bytes.Equal(r.data, rpm) {
			t.Errorf("follower %s: %d bytes, %v; want the %d bytes of the blob", r.name, len(r.data), r.err, len(rpm))
		}
	}
	assertTmpEmpty(t, dir)
}

func TestFollowerAbort(t *testing.T) {
	rpm := readFile(t, corpusRPM)
	digest := checksum.Digest(sha256.Sum256(rpm))
	errUpstream := errors.New("upstream reset the connection")
	tests := []struct {
		name    string
		want    checksum.Digest
		finish  func(w *Writer) // fails the write after all bytes went in
		wantErr error
	}{
		{"abort", digest, func(w *Writer) { w.Abort(errUpstream) }, errUpstream},
		{"abort-nil", digest, func(w *Writer) { w.Abort(nil) }, ErrAborted},
		{"wrong-digest", checksum.Digest(flip(digest[:])), func(w *Writer) { w.Commit() }, ErrDigestMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			w, err := s.Create(tt.want, int64(len(rpm)))
			if err != nil {
				t.Fatal(err)
			}
			out := make(chan result)
			follow("before", w.NewReader(), false, out)
			follow("before-writeto", w.NewReader(), true, out)
			if err := writeChunks(w, rpm, 65536); err != nil {
				t.Fatal(err)
			}
			tt.finish(w)
			w.Abort(errors.New("second abort: ignored"))
			follow("after", w.NewReader(), false, out)
			for range 3 {
				if r := <-out; !errors.Is(r.err, tt.wantErr) {
					t.Errorf("follower %s: %d bytes, error %v; want %v", r.name, len(r.data), r.err, tt.wantErr)
				}
			}
			if _, err := w.Write(rpm); !errors.Is(err, ErrClosed) || !errors.Is(err, tt.wantErr) {
				t.Errorf("Write after failure = %v", err)
			}
			assertTmpEmpty(t, dir)
		})
	}
}

func TestFollowerContext(t *testing.T) {
	s := openStore(t, t.TempDir())
	data := readFile(t, corpusRelease)
	w, err := s.CreateUnknown()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(nil)
	if _, err := w.Write(data[:1000]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan result)
	follow("read", w.NewReaderContext(ctx), false, out)
	follow("writeto", w.NewReaderContext(ctx), true, out)
	cancel()
	for range 2 {
		select {
		case r := <-out:
			// The last byte written waits for the check (see TestFollowerHoldsLastByte).
			if !errors.Is(r.err, context.Canceled) || !bytes.Equal(r.data, data[:999]) {
				t.Errorf("follower %s: %d bytes, %v; want 999 of the 1000 written, then context.Canceled", r.name, len(r.data), r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("follower did not return after its context was cancelled")
		}
	}
	// The writer is unaffected.
	if _, err := w.Write(data[1000:]); err != nil {
		t.Fatal(err)
	}
	d, err := w.Commit()
	if err != nil || d != checksum.Digest(sha256.Sum256(data)) {
		t.Errorf("Commit = %s, %v", d, err)
	}
}

// killedWriterEnv names the store directory for the helper process of TestKilledWriter.
const killedWriterEnv = "LAZYMIRROR_STORE_KILLED_WRITER_DIR"

// TestKilledWriter runs a writer in a child process, kills it with SIGKILL in
// the middle of a blob, and checks that the next Open leaves no trace of it.
func TestKilledWriter(t *testing.T) {
	if dir := os.Getenv(killedWriterEnv); dir != "" {
		killedWriterHelper(dir)
		return
	}
	dir := t.TempDir()
	rpm := readFile(t, corpusRPM)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
	cmd.Env = append(os.Environ(), killedWriterEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe() // never written: the helper blocks on it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper said %q, %v", line, err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Errorf("Open while another process holds the store = %v, want ErrLocked", err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	orphans, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil || len(orphans) != 1 {
		t.Fatalf("tmp/ after the kill: %v, %v; want the one orphan", orphans, err)
	}
	s := openStore(t, dir)
	assertTmpEmpty(t, dir)
	if _, err := s.Stat(checksum.Digest(sha256.Sum256(rpm))); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat of the killed writer's blob = %v, want ErrNotFound", err)
	}
	if got := blobs(t, s); len(got) != 0 {
		t.Errorf("blobs after the kill: %v", got)
	}
}

// killedWriterHelper writes half of a blob, says so and waits to be killed.
func killedWriterHelper(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "killed-writer helper:", err)
		os.Exit(2)
	}
	rpm, err := os.ReadFile(corpusRPM)
	if err != nil {
		fail(err)
	}
	s, err := Open(dir)
	if err != nil {
		fail(err)
	}
	w, err := s.Create(checksum.Digest(sha256.Sum256(rpm)), int64(len(rpm)))
	if err != nil {
		fail(err)
	}
	if _, err := w.Write(rpm[:len(rpm)/2]); err != nil {
		fail(err)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // until killed
	os.Exit(3)
}

// TestFollowerHoldsLastByte: until Commit verified the blob, a follower gets
// every byte written but the last, so no client response can complete
// with bytes the check then rejects; a failed check reaches it as the
// error, a passed one as the last byte and io.EOF.
func TestFollowerHoldsLastByte(t *testing.T) {
	rpm := readFile(t, corpusRPM)
	bad := bytes.Clone(rpm)
	bad[len(bad)/2] ^= 0xff
	for _, tt := range []struct {
		name    string
		written []byte
		wantErr error
	}{
		{"verified", rpm, nil},
		{"corrupt", bad, ErrDigestMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, t.TempDir())
			w, err := s.Create(checksum.Digest(sha256.Sum256(rpm)), int64(len(rpm)))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort(nil)
			if _, err := w.Write(tt.written); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			early := w.NewReaderContext(ctx)
			defer early.Close()
			buf := make([]byte, len(rpm))
			got := 0
			for got < len(rpm)-1 {
				n, err := early.Read(buf[got:])
				if err != nil {
					t.Fatalf("read before Commit, at %d: %v", got, err)
				}
				got += n
			}
			cancel() // with nothing held back, the next Read would return the last byte
			if n, err := early.Read(buf[got:]); n != 0 || !errors.Is(err, context.Canceled) {
				t.Fatalf("Read before Commit after %d bytes = %d, %v; want 0, context.Canceled (the last byte waits for the check)", got, n, err)
			}
			late := w.NewReader()
			defer late.Close()
			if _, err := io.ReadFull(late, buf[:len(rpm)-1]); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Commit = %v, want %v", err, tt.wantErr)
			}
			rest, err := io.ReadAll(late)
			switch {
			case tt.wantErr != nil && (len(rest) != 0 || !errors.Is(err, tt.wantErr)):
				t.Errorf("after the failed check: %d more bytes, %v; want none and %v", len(rest), err, tt.wantErr)
			case tt.wantErr == nil && (err != nil || !bytes.Equal(append(buf[:len(rpm)-1], rest...), rpm)):
				t.Errorf("after the check: %d more bytes, %v; want the last byte and EOF", len(rest), err)
			}
		})
	}
}
