package javadate

import (
	"fmt"
	"strings"
	"time"
)

// ParseZone resolves a zone as users write it:
//   - IANA names ("America/New_York"), from the embedded database if the host has none;
//   - "UTC", "GMT", "UT" and "Z" (UTC, GMT and UT in any case);
//   - common abbreviations, in any case, as fixed offsets: UTC GMT UT WET 0, WEST BST CET MET
//     WAT +1, CEST MEST EET SAST CAT +2, EEST MSK EAT IDT +3, PKT +5, IST +5:30, NPT +5:45,
//     ICT WIB +7, SGT HKT AWST PHT +8, JST KST +9, ACST +9:30, ACDT +10:30, AEST +10,
//     AEDT +11, NZST +12, NZDT +13, HST -10, HDT AKST -9, AKDT PST -8, PDT MST -7,
//     MDT CST -6, CDT EST -5, EDT AST -4, ADT BRT ART -3, NST -3:30, NDT -2:30.
//     So PST is always -08:00, unlike Java's TimeZone.getTimeZone("PST"), which follows Los
//     Angeles daylight saving time: use an IANA name for a zone with daylight saving time;
//   - offsets: "-8:00", "-08:00", "+0530", "+05", "-8", "+05:30:15", optionally after "GMT",
//     "UTC" or "UT": "GMT-8", "GMT+05:30", "UTC+2". Offsets must be within ±18:00.
//
// Surrounding spaces are ignored. "Local" is rejected: a poller must not depend on the host's
// zone. Fixed offsets are returned as zones named like "+05:30" (time.UTC for a zero offset),
// abbreviations as zones with that name.
func ParseZone(s string) (*time.Location, error) {
	s = strings.TrimSpace(s)
	if loc, ok := fastZone(s); ok {
		return loc, nil
	}
	if !validZoneID(s) {
		return nil, fmt.Errorf("unknown time zone %q", s)
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", s, err)
	}
	return loc, nil
}

// fastZone resolves offsets and abbreviations without allocating.
func fastZone(s string) (*time.Location, bool) {
	if s == "" {
		return nil, false
	}
	if off, n, ok := parseOffset(s, 0); ok && n == len(s) {
		return fixedZone(off), true
	}
	if len(s) <= 5 {
		var b [5]byte
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			b[i] = c
		}
		if loc, ok := abbrevZones[string(b[:len(s)])]; ok {
			return loc, true
		}
	}
	return nil, false
}

// validZoneID reports whether s looks like an IANA zone name, so that obviously bad names do
// not reach the time zone database.
func validZoneID(s string) bool {
	if s == "" || len(s) > 64 || s == "Local" || !isLetter(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '/' && c != '_' && c != '+' && c != '-' {
			return false
		}
	}
	return !strings.Contains(s, "//")
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// hasFoldPrefix reports whether s[i:] starts with the upper-case ASCII word w, ignoring case.
func hasFoldPrefix(s string, i int, w string) bool {
	if len(s)-i < len(w) {
		return false
	}
	for k := 0; k < len(w); k++ {
		c := s[i+k]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != w[k] {
			return false
		}
	}
	return true
}

// parseOffset parses a UTC offset at s[i:]: "Z", or an optional "GMT", "UTC" or "UT" prefix
// (alone meaning zero) followed by a sign and h, hh, hhmm, hhmmss, h:mm, hh:mm or hh:mm:ss.
// It returns the offset in seconds east of UTC and the index after it.
func parseOffset(s string, i int) (off, next int, ok bool) {
	if i >= len(s) {
		return 0, i, false
	}
	if s[i] == 'Z' {
		return 0, i + 1, true
	}
	j := i
	switch {
	case hasFoldPrefix(s, j, "GMT"), hasFoldPrefix(s, j, "UTC"):
		j += 3
	case hasFoldPrefix(s, j, "UT"):
		j += 2
	}
	if j >= len(s) || s[j] != '+' && s[j] != '-' {
		if j > i {
			return 0, j, true // GMT, UTC or UT alone
		}
		return 0, i, false
	}
	neg := s[j] == '-'
	j++
	var h, m, sec int
	switch n := digitsAt(s, j); {
	case n == 0:
		return 0, i, false
	case n <= 3:
		h = atoi(s, j, min(n, 2))
		j += min(n, 2)
		if j+2 < len(s) && s[j] == ':' && digitsAt(s, j+1) >= 2 {
			m = atoi(s, j+1, 2)
			j += 3
			if j+2 < len(s) && s[j] == ':' && digitsAt(s, j+1) >= 2 {
				sec = atoi(s, j+1, 2)
				j += 3
			}
		}
	default: // hhmm or hhmmss
		h, m = atoi(s, j, 2), atoi(s, j+2, 2)
		j += 4
		if n >= 6 {
			sec = atoi(s, j, 2)
			j += 2
		}
	}
	if h > 18 || m > 59 || sec > 59 || h == 18 && (m > 0 || sec > 0) {
		return 0, i, false
	}
	off = h*3600 + m*60 + sec
	if neg {
		off = -off
	}
	return off, j, true
}

// digitsAt counts the ASCII digits at s[i:].
func digitsAt(s string, i int) int {
	n := 0
	for i+n < len(s) && isDigit(s[i+n]) {
		n++
	}
	return n
}

// atoi converts the n digits at s[i:].
func atoi(s string, i, n int) int {
	v := 0
	for k := i; k < i+n; k++ {
		v = v*10 + int(s[k]-'0')
	}
	return v
}

// fixedZone returns a zone for an offset: time.UTC for zero, a shared zone for multiples of
// 15 minutes, a new one otherwise.
func fixedZone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if off%900 == 0 && off >= -quarterHourMax && off <= quarterHourMax {
		return quarterHourZones[(off+quarterHourMax)/900]
	}
	return time.FixedZone(offsetName(off), off)
}

// offsetName is the name of a fixed zone: "+05:30", or "+05:30:15" with seconds.
func offsetName(off int) string {
	return string(appendOffset(nil, off, true, minAlways, secIfNonZero))
}

const quarterHourMax = 18 * 3600

// quarterHourZones holds a zone for every offset in 15 minute steps from -18:00 to +18:00,
// so that parsing an offset does not allocate. It is built once and never changed.
var quarterHourZones = func() []*time.Location {
	zs := make([]*time.Location, 2*quarterHourMax/900+1)
	for k := range zs {
		off := k*900 - quarterHourMax
		if off == 0 {
			zs[k] = time.UTC
			continue
		}
		zs[k] = time.FixedZone(offsetName(off), off)
	}
	return zs
}()

// abbrevZones maps upper-case zone abbreviations to fixed zones. It is built once and never
// changed.
var abbrevZones = func() map[string]*time.Location {
	const h = 3600
	offs := map[string]int{
		"UTC": 0, "GMT": 0, "UT": 0, "Z": 0, "WET": 0,
		"WEST": 1 * h, "BST": 1 * h, "CET": 1 * h, "MET": 1 * h, "WAT": 1 * h,
		"CEST": 2 * h, "MEST": 2 * h, "EET": 2 * h, "SAST": 2 * h, "CAT": 2 * h,
		"EEST": 3 * h, "MSK": 3 * h, "EAT": 3 * h, "IDT": 3 * h,
		"PKT": 5 * h, "IST": 5*h + 30*60, "NPT": 5*h + 45*60,
		"ICT": 7 * h, "WIB": 7 * h,
		"SGT": 8 * h, "HKT": 8 * h, "AWST": 8 * h, "PHT": 8 * h,
		"JST": 9 * h, "KST": 9 * h,
		"ACST": 9*h + 30*60, "ACDT": 10*h + 30*60,
		"AEST": 10 * h, "AEDT": 11 * h,
		"NZST": 12 * h, "NZDT": 13 * h,
		"HST": -10 * h, "HDT": -9 * h,
		"AKST": -9 * h, "AKDT": -8 * h,
		"PST": -8 * h, "PDT": -7 * h,
		"MST": -7 * h, "MDT": -6 * h,
		"CST": -6 * h, "CDT": -5 * h,
		"EST": -5 * h, "EDT": -4 * h,
		"AST": -4 * h, "ADT": -3 * h,
		"NST": -3*h - 30*60, "NDT": -2*h - 30*60,
		"BRT": -3 * h, "ART": -3 * h,
	}
	m := make(map[string]*time.Location, len(offs))
	for name, off := range offs {
		if off == 0 {
			m[name] = time.UTC
			continue
		}
		m[name] = time.FixedZone(name, off)
	}
	return m
}()

// lookupZone resolves a zone name found in a parsed value, caching IANA lookups.
func (l *Layout) lookupZone(name string) (*time.Location, bool) {
	if loc, ok := fastZone(name); ok {
		return loc, true
	}
	if !validZoneID(name) {
		return nil, false
	}
	c := l.zones
	if c != nil {
		if v, ok := c.m.Load(name); ok {
			loc := v.(*time.Location)
			return loc, loc != nil
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	if c != nil && c.n.Add(1) <= zoneCacheMax {
		c.m.Store(name, loc)
	}
	return loc, loc != nil
}
