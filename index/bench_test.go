//go:build unix

package index

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lookupCorpus is 70,000 real package entries: all of Debian bookworm's
// Packages (repo "debian"), then CentOS Stream 9 AppStream's primary
// (repo "centos") up to the total.
func lookupCorpus(b *testing.B) map[string][]Record {
	const total = 70_000
	deb := mustRecords(b, debianPackages)
	rpm := mustRecords(b, appstreamPackages)
	if len(deb)+len(rpm) < total {
		b.Fatalf("corpus has %d+%d packages, want %d", len(deb), len(rpm), total)
	}
	return map[string][]Record{"debian": deb, "centos": rpm[:total-len(deb)]}
}

func BenchmarkLookup(b *testing.B) {
	repos := lookupCorpus(b)
	db, path := openTest(b, Options{})
	type key struct{ repo, path string }
	var keys []key
	for repo, recs := range repos {
		if err := db.PutEntries(repo, recs); err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			keys = append(keys, key{repo, r.Path})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	if fi, err := os.Stat(path); err == nil {
		b.Logf("%d entries, index file %d bytes", len(keys), fi.Size())
	}
	b.ReportAllocs()
	cpu := cpuTime(b)
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		if _, err := db.Lookup(k.repo, k.path); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// cpuTime returns the process's user+system CPU time. On a shared machine
// ns/op counts time spent waiting for a core; cpu-ns/op does not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start (GC included).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkLookupParallel(b *testing.B) {
	recs := mustRecords(b, debianPackages)
	db, _ := openTest(b, Options{})
	if err := db.PutEntries("debian", recs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			if _, err := db.Lookup("debian", recs[rng.IntN(len(recs))].Path); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCPU(b, cpu)
}

// shuffled returns bookworm's packages in a random (seeded) order. Packages'
// own order is by package name, which nearly sorts the pool paths too.
func shuffled(b *testing.B) []Record {
	recs := slices.Clone(mustRecords(b, debianPackages))
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	return recs
}

// BenchmarkPutEntries ingests bookworm's packages (63,440) into a fresh
// index per op, given shuffled ("unsorted": PutEntries sorts a copy) and
// pre-sorted, with fsync on and off.
func BenchmarkPutEntries(b *testing.B) {
	recs := shuffled(b)
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(x, y Record) int { return strings.Compare(x.Path, y.Path) })
	for _, sync := range []bool{false, true} {
		name := "fsync"
		if !sync {
			name = "nosync"
		}
		for _, in := range []struct {
			name string
			recs []Record
		}{{"unsorted", recs}, {"sorted", sorted}} {
			b.Run(name+"/"+in.name, func(b *testing.B) {
				benchIngest(b, in.recs, !sync, func(db *DB) error { return db.PutEntries("debian", in.recs) })
			})
		}
	}
}

// BenchmarkPutEntriesUnsortedInsert shows why PutEntries sorts: the same
// shuffled records written without sorting, in chunks of DefaultChunk.
func BenchmarkPutEntriesUnsortedInsert(b *testing.B) {
	recs := shuffled(b)
	benchIngest(b, recs, true, func(db *DB) error {
		for chunk := range slices.Chunk(recs, DefaultChunk) {
			if err := db.writeSorted("debian", chunk); err != nil {
				return err
			}
		}
		return nil
	})
}

func benchIngest(b *testing.B, recs []Record, noSync bool, ingest func(*DB) error) {
	b.ReportAllocs()
	var total, cpu time.Duration
	for range b.N {
		b.StopTimer()
		db, err := Open(filepath.Join(b.TempDir(), "index.db"), Options{UnsafeNoSync: noSync})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, startCPU := time.Now(), cpuTime(b)
		if err := ingest(db); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		cpu += cpuTime(b) - startCPU
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/float64(len(recs)), "ns/entry")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(len(recs)), "cpu-ns/entry")
}
