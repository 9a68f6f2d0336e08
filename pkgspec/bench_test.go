package pkgspec

import (
	"strings"
	"testing"

	"github.com/cavaliergopher/rpm"
)

// BenchmarkParse parses a real dpkg-query -W list and the CentOS Stream 9
// BaseOS packages as rpm -qa lines.
func BenchmarkParse(b *testing.B) {
	var list strings.Builder
	list.WriteString(strings.Join(readLines(b, "dpkg-query-W-arch.txt"), "\n") + "\n")
	for _, p := range rpmPackages(b, "centos-stream9-baseos") {
		list.WriteString(nevra(p) + "\n")
	}
	text := list.String()
	lines := strings.Count(text, "\n")
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if specs, errs := Parse(strings.NewReader(text)); len(specs) != lines || len(errs) != 0 {
			b.Fatalf("%d specs, %v", len(specs), errs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}

// BenchmarkResolveRPM resolves every name of CentOS Stream 9 AppStream to
// its newest x86_64 or noarch package.
func BenchmarkResolveRPM(b *testing.B) {
	pkgs := rpmPackages(b, "centos-stream9-appstream")
	cands := rpmCandidates(pkgs)
	specs := make([]Spec, 0, len(cands))
	for name := range cands {
		specs = append(specs, Spec{Name: name})
	}
	lookup := func(name string) []Candidate { return cands[name] }
	arches := []string{"x86_64", "noarch"}
	b.ReportAllocs()
	for b.Loop() {
		Resolve(RPM, specs, arches, lookup)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(specs)), "ns/spec")
}

// BenchmarkRPMVerCmp compares rpmvercmp with cavaliergopher's
// CompareVersions on neighbouring real release strings.
func BenchmarkRPMVerCmp(b *testing.B) {
	pkgs := rpmPackages(b, "centos-stream9-appstream")
	for _, impl := range []struct {
		name string
		cmp  func(a, b string) int
	}{{"pkgspec", rpmvercmp}, {"cavaliergopher", rpm.CompareVersions}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i := 1; i < 1000; i++ {
					impl.cmp(pkgs[i-1].Release, pkgs[i].Release)
				}
			}
		})
	}
}
