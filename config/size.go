package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrBadSize is returned by ParseSize for a string that is not a size.
var ErrBadSize = errors.New("bad size")

// sizeUnit returns the multiplier of a lower-cased unit: decimal units are
// powers of 1000, binary ("i") units powers of 1024.
func sizeUnit(unit string) (int64, bool) {
	switch unit {
	case "", "b":
		return 1, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	case "kib":
		return 1 << 10, true
	case "mib":
		return 1 << 20, true
	case "gib":
		return 1 << 30, true
	case "tib":
		return 1 << 40, true
	}
	return 0, false
}

// ParseSize parses a byte size such as "50GiB", "10KB", "1.5 TB" or "4096".
// Units are B, KB/MB/GB/TB (powers of 1000) and KiB/MiB/GiB/TiB (powers of
// 1024), case-insensitive; no unit means bytes. A fraction is allowed with a
// unit and rounded down to whole bytes. Errors wrap ErrBadSize.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnit(unit)
	if num == "" || !ok {
		return 0, fmt.Errorf("%w %q: want a number and a unit such as 500MB or 50GiB", ErrBadSize, s)
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("%w %q: too large", ErrBadSize, s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: %q is not a number", ErrBadSize, s, num)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%w %q: too large", ErrBadSize, s)
	}
	return int64(v), nil
}
