package store

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"lazymirror/checksum"
)

const (
	benchSize  = 64 << 20
	benchChunk = 1 << 20
)

// benchData is 64 MiB of deterministic pseudo-random bytes (their content
// does not matter to the hash or the filesystem).
func benchData(b *testing.B) ([]byte, checksum.Digest) {
	b.Helper()
	data := make([]byte, benchSize)
	rand.NewChaCha8([32]byte{}).Read(data)
	return data, checksum.Digest(sha256.Sum256(data))
}

// BenchmarkSHA256: "memory" hashes 64 MiB in 1 MiB chunks from memory;
// "cached" hashes one 128 KiB chunk over and over, from the CPU's cache, as
// a download hashes each chunk it has just received: the fastest a single
// stream can be verified on this machine.
func BenchmarkSHA256(b *testing.B) {
	data, _ := benchData(b)
	for _, tt := range []struct {
		name  string
		chunk int
		next  func(c int) int // offset of chunk c
	}{
		{"memory", benchChunk, func(c int) int { return c * benchChunk }},
		{"cached", 128 << 10, func(int) int { return 0 }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				h := sha256.New()
				for c := range benchSize / tt.chunk {
					o := tt.next(c)
					h.Write(data[o : o+tt.chunk])
				}
				h.Sum(nil)
			}
		})
	}
}

// BenchmarkWrite: Create, Write in 1 MiB chunks, then Commit (fsync, rename)
// or, in "nocommit", Abort: the write-and-hash path without the fsync.
func BenchmarkWrite(b *testing.B) {
	data, d := benchData(b)
	for _, commit := range []bool{false, true} {
		name := map[bool]string{false: "nocommit", true: "commit"}[commit]
		b.Run(name, func(b *testing.B) {
			s := openStore(b, b.TempDir())
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				w, err := s.Create(d, benchSize)
				if err != nil {
					b.Fatal(err)
				}
				if err := writeChunks(w, data, benchChunk); err != nil {
					b.Fatal(err)
				}
				if !commit {
					w.Abort(nil)
					continue
				}
				if _, err := w.Commit(); err != nil {
					b.Fatal(err)
				}
				if err := s.Remove(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFollower: one writer (as BenchmarkWrite/commit) and 4 followers
// reading the blob as it grows; bytes are per blob. "read" copies through
// Read with a 256 KiB buffer; "sendfile" copies with WriteTo into loopback
// TCP connections, as the server will (the kernel moves the bytes).
func BenchmarkFollower(b *testing.B) {
	data, d := benchData(b)
	const followers = 4
	sinks := loopbackSinks(b, followers)
	for _, mode := range []string{"read", "sendfile"} {
		b.Run(mode, func(b *testing.B) {
			s := openStore(b, b.TempDir())
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				w, err := s.Create(d, benchSize)
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan error, followers)
				for i := range followers {
					fl := w.NewReader()
					go func() {
						defer fl.Close()
						var n int64
						var err error
						if mode == "read" {
							n, err = io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{fl}, make([]byte, 256<<10))
						} else {
							n, err = fl.WriteTo(sinks[i])
						}
						if err == nil && n != benchSize {
							err = io.ErrUnexpectedEOF
						}
						done <- err
					}()
				}
				if err := writeChunks(w, data, benchChunk); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Commit(); err != nil {
					b.Fatal(err)
				}
				for range followers {
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Remove(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopbackSinks returns n TCP connections to a local server that discards
// what it reads.
func loopbackSinks(b *testing.B, n int) []net.Conn {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{c}, make([]byte, 1<<20))
			}()
		}
	}()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns
}
