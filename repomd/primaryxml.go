package repomd

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

// xmlPackage is the encoding/xml decode target for one <package>.
type xmlPackage struct {
	Name    string `xml:"name"`
	Arch    string `xml:"arch"`
	Version struct {
		Epoch string `xml:"epoch,attr"`
		Ver   string `xml:"ver,attr"`
		Rel   string `xml:"rel,attr"`
	} `xml:"version"`
	Checksum xmlChecksum `xml:"checksum"`
	Size     struct {
		Package string `xml:"package,attr"`
	} `xml:"size"`
	Location xmlLocation `xml:"location"`
}

// ParsePrimaryXML is the reference implementation of ParsePrimary on
// encoding/xml (Token, and DecodeElement for each <package>): same
// signature, same results and error classes for every document
// encoding/xml accepts, but 18 times slower, with an allocation per value,
// and without ParsePrimary's caps on value sizes. It is kept for differential tests and fuzzing;
// use ParsePrimary. Unlike ParsePrimary, fn may keep p.
func ParsePrimaryXML(r io.Reader, fn func(p *Package) error) (int, error) {
	d := xml.NewDecoder(r)
	var root xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return 0, fmt.Errorf("primary: no root element: %w", ErrMalformed)
			}
			return 0, fmt.Errorf("primary: %w: %w", ErrMalformed, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			root = se
			break
		}
	}
	if root.Name.Local != "metadata" {
		return 0, fmt.Errorf("primary: root element is <%.40s>, not <metadata>: %w", root.Name.Local, ErrMalformed)
	}
	var want string
	for _, a := range root.Attr {
		if a.Name.Local == "packages" {
			want = a.Value
		}
	}
	n := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return n, fmt.Errorf("primary: after %d packages: %w: %w", n, ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.EndElement: // the root's end: its children were consumed whole
			if err := countCheck(n, want); err != nil {
				return n, fmt.Errorf("primary: %w", err)
			}
			return n, nil
		case xml.StartElement:
			if t.Name.Local != "package" {
				if err := d.Skip(); err != nil {
					return n, fmt.Errorf("primary: after %d packages: %w: %w", n, ErrMalformed, err)
				}
				continue
			}
			var x xmlPackage // declared in the loop: nothing leaks from one package to the next
			if err := d.DecodeElement(&x, &t); err != nil {
				return n, fmt.Errorf("primary: package %d: %w: %w", n+1, ErrMalformed, err)
			}
			raw := rawPackage{
				name: x.Name, arch: x.Arch, epoch: x.Version.Epoch, ver: x.Version.Ver, rel: x.Version.Rel,
				sumType: x.Checksum.Type, sum: x.Checksum.Value, size: x.Size.Package,
				href: x.Location.Href, base: x.Location.Base,
			}
			p, err := raw.pkg()
			if err != nil {
				return n, fmt.Errorf("primary: package %d: %w", n+1, err)
			}
			if err := fn(&p); err != nil {
				return n, err
			}
			n++
		}
	}
}
