package index

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"lazymirror/checksum"
	"lazymirror/internal/decompress"
)

// Real metadata from the corpus, read with tiny in-test scanners so these
// tests depend on no other package in progress.
const (
	corpusInRelease = "../testdata/corpus/debian/debian/dists/bookworm/InRelease"
	corpusPackages  = "../testdata/corpus/debian/debian/dists/bookworm/main/binary-amd64/Packages.xz"
	corpusPrimary   = "../testdata/corpus/rpm/centos-stream9-appstream/repodata/c03bb2ebc33bbee3046da091b45d90717273a43d3641a9d84e6eede05637bc8a-primary.xml.gz"
)

// inReleaseRecords returns the SHA256 section of a Release file as records
// under dists/bookworm/ and the number of lines in that section.
func inReleaseRecords(t testing.TB, name string) ([]Record, int) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		recs    []Record
		lines   int
		inSHA   bool
		scanner = bufio.NewScanner(f)
	)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, " ") {
			inSHA = line == "SHA256:"
			continue
		}
		if !inSHA {
			continue
		}
		lines++
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("SHA256 line %q", line)
		}
		d, err := checksum.ParseDigest(fields[0])
		if err != nil {
			t.Fatal(err)
		}
		size, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, Record{Path: "dists/bookworm/" + fields[2], Entry: Entry{Digest: d, Size: size, Kind: Metadata, Snapshot: 1}})
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return recs, lines
}

// debianPackages holds bookworm's Packages as records (Filename, Size,
// SHA256) and the number of stanzas, read once per test binary.
var debianPackages = sync.OnceValues(func() ([]Record, error) {
	var (
		recs []Record
		cur  Record
	)
	err := scanLines(corpusPackages, func(b []byte) error {
		var err error
		line := string(b)
		name, value, _ := strings.Cut(line, ": ")
		switch name {
		case "Filename":
			cur.Path = value
		case "Size":
			cur.Entry.Size, err = strconv.ParseInt(value, 10, 64)
		case "SHA256":
			cur.Entry.Digest, err = checksum.ParseDigest(value)
		case "":
			if line == "" && cur.Path != "" {
				cur.Entry.Kind, cur.Entry.Snapshot = Package, 1
				recs = append(recs, cur)
				cur = Record{}
			}
		}
		return err
	})
	if cur.Path != "" {
		cur.Entry.Kind, cur.Entry.Snapshot = Package, 1
		recs = append(recs, cur)
	}
	return recs, err
})

var (
	primaryChecksum = regexp.MustCompile(`<checksum type="sha256" pkgid="YES">([0-9a-f]{64})</checksum>`)
	primarySize     = regexp.MustCompile(`<size package="(\d+)"`)
	primaryLocation = regexp.MustCompile(`<location href="([^"]+)"`)
)

// appstreamPackages holds CentOS Stream 9 AppStream's primary.xml as
// records (location href, package size, sha256), read once per test binary.
var appstreamPackages = sync.OnceValues(func() ([]Record, error) {
	var (
		recs []Record
		cur  Record
	)
	err := scanLines(corpusPrimary, func(line []byte) error {
		var err error
		if m := primaryChecksum.FindSubmatch(line); m != nil {
			cur.Entry.Digest, err = checksum.ParseDigest(string(m[1]))
		} else if m := primarySize.FindSubmatch(line); m != nil {
			cur.Entry.Size, err = strconv.ParseInt(string(m[1]), 10, 64)
		} else if m := primaryLocation.FindSubmatch(line); m != nil {
			cur.Path = string(m[1])
			if cur.Entry.Digest.IsZero() || cur.Entry.Size == 0 {
				return fmt.Errorf("location %s before its checksum or size", cur.Path)
			}
			cur.Entry.Kind, cur.Entry.Snapshot = Package, 2
			recs = append(recs, cur)
			cur = Record{}
		}
		return err
	})
	return recs, err
})

// scanLines calls fn with each line of a corpus file, decompressed.
func scanLines(path string, fn func(line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := decompress.Open(f, path, decompress.DefaultLimit)
	if err != nil {
		return err
	}
	defer r.Close()
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for scanner.Scan() {
		if err := fn(scanner.Bytes()); err != nil {
			return err
		}
	}
	return scanner.Err()
}

// mustRecords unwraps a OnceValues corpus loader.
func mustRecords(t testing.TB, load func() ([]Record, error)) []Record {
	t.Helper()
	recs, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
