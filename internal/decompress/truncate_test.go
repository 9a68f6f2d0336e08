package decompress

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// multiblock.txt.xz is `seq 1 3000 | xz --block-size=4096 --lzma2=preset=6,dict=64KiB`: four blocks,
// as multi-threaded xz (the default of xz 5.6) writes any large file. A
// stream cut between two blocks must not read as a complete one.
func TestXZTruncatedAtBlockBoundary(t *testing.T) {
	full, err := os.ReadFile("testdata/multiblock.txt.xz")
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := 1; i <= 3000; i++ {
		want.WriteString(strconv.Itoa(i) + "\n")
	}
	read := func(data []byte) ([]byte, error) {
		r, err := Open(bytes.NewReader(data), "multiblock.txt.xz", 0)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(r)
	}
	twice := append(append([]byte{}, full...), full...)
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"whole", full, want.String()},
		{"stream padding", append(append([]byte{}, full...), 0, 0, 0, 0), want.String()},
		{"two streams", twice, want.String() + want.String()},
	} {
		got, err := read(tt.data)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: %d bytes, err %v; want %d bytes", tt.name, len(got), err, len(tt.want))
		}
	}
	// Every proper prefix (that still has the magic) must fail, including
	// the block boundaries 568, 916, 1320 and the start of the second stream.
	cuts := []int{}
	for n := len(magics[1].magic); n < len(full); n++ {
		cuts = append(cuts, n)
	}
	for n := len(full) + 1; n < len(full)+64; n++ {
		cuts = append(cuts, n) // into the second stream's header and first block
	}
	for _, n := range cuts {
		if got, err := read(twice[:n]); err == nil {
			t.Errorf("cut at %d of %d: %d bytes and no error", n, len(twice), len(got))
		}
	}
}

// An .xz block header declares its LZMA2 dictionary, which the decoder
// allocates whole before decoding a byte. dict64m is `echo hello | xz -9`;
// dict384m is `echo hello | xz --lzma2=dict=1536MiB -M 4GiB` (xz lowered
// it to 384 MiB); dict4g is dict384m with the dictionary byte set to 40
// (4 GiB - 1, the format's largest) and the header CRC32 fixed. Each is 64
// bytes; before the bound, six reads of dict4g peaked at 8.4 GB RSS.
func TestXZDictionaryBound(t *testing.T) {
	for _, tt := range []struct {
		file string
		err  error
	}{
		{"dict64m.txt.xz", nil},
		{"dict384m.txt.xz", ErrTooLarge},
		{"dict4g.txt.xz", ErrTooLarge},
	} {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := Open(f, tt.file, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if !errors.Is(err, tt.err) || (err == nil && string(got) != "hello\n") {
				t.Fatalf("read %q, err %v; want %v", got, err, tt.err)
			}
		})
	}
}
