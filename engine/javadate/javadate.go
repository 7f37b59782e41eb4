// Package javadate formats and parses times with Java date patterns, the subset of
// java.text.SimpleDateFormat and java.time.format.DateTimeFormatter that helpdesk poller
// configurations use, such as "yyyy-MM-dd'T'HH:mm:ssXXX" or "EEE, dd MMM yyyy HH:mm:ss z".
//
// A pattern is compiled once into a list of tokens ([Compile]); formatting and parsing then walk
// that list with code of this package. Patterns are never translated to Go time layouts, whose
// reference values ("2006", "Jan", "15") would collide with literal text.
//
// # Pattern letters
//
// The count of letters matters, as in Java. Where SimpleDateFormat and DateTimeFormatter
// disagree, DateTimeFormatter's meaning is used.
//
//	G      era: G, GG, GGG "AD"/"BC"; GGGG "Anno Domini"/"Before Christ"
//	y      year of era; yy is two digits (see below); other counts pad to the count
//	u      proleptic year (DateTimeFormatter meaning, not SimpleDateFormat's day of week)
//	M, L   month: M 8, MM 08, MMM Aug, MMMM August
//	d      day of month
//	D      day of year
//	E      day of week: E, EE, EEE Tue; EEEE Tuesday
//	a      AM/PM marker
//	H      hour 0-23    k  hour 1-24    K  hour 0-11    h  hour 1-12
//	m      minute       s  second
//	S      fraction of second, one digit per letter (S..SSSSSSSSS; formatting truncates)
//	n      nano of second as a number
//	X      offset: X +05 or +0530; XX +0530; XXX +05:30; XXXX +0530[ss]; XXXXX +05:30[:ss];
//	       "Z" for a zero offset
//	x      like X, but "+00", "+0000", "+00:00" for a zero offset
//	Z      Z, ZZ, ZZZ +0530; ZZZZ GMT+05:30; ZZZZZ +05:30 or "Z"
//	O      O GMT+5:30; OOOO GMT+05:30
//	z      zone abbreviation as Go knows it (PDT, CET, UTC, or "+0530" style names);
//	       zzzz the zone ID, since Go has no long zone names
//	V, VV  zone ID, such as America/Los_Angeles
//	'...'  quoted literal; '' is a single quote, inside or outside quotes
//	[...]  optional section (DateTimeFormatter): always formatted; skipped when parsing fails
//
// '#', '{' and '}' are reserved, as in DateTimeFormatter, and make [Compile] fail unless quoted.
// Any other character that is not an ASCII letter is a literal. Week-based fields (Y, w, W),
// quarters and the other Java letters are not supported and make [Compile] fail.
//
// # Parsing
//
// Parsing is lenient where it costs no ambiguity:
//   - numeric fields accept one digit up to the field's width ("8" for MM), except in runs of
//     fields with no separator ("yyyyMMdd"), where every field after the first takes exactly
//     as many digits as it has letters and the first at least as many (Java's adjacent value
//     parsing);
//   - yy (and uu) takes exactly two digits as a year in 2000-2099, DateTimeFormatter's base
//     year; any other number of digits is the year as written;
//   - S..S needs at least as many digits as letters and takes all the digits that follow
//     (digits past the ninth are ignored), except in a run as above;
//   - every offset field accepts "Z", +hh, +hhmm, +hh:mm, +h, +h:mm, with optional seconds,
//     optionally after "GMT", "UTC" or "UT";
//   - z and V accept an abbreviation, an IANA name or an offset ("GMT+8", "-08:00"), resolved
//     as by [ParseZone], except that an abbreviation the Parse location uses at the parsed
//     time means that location (so "CST" with Asia/Shanghai is China Standard Time);
//   - MMMM and EEEE also accept the short name; month names, day names, AM/PM and eras match
//     case-insensitively; a day of week must be a day name but is not checked against the
//     date. Literal text must match exactly.
//
// Missing fields default to 1970-01-01T00:00:00 like SimpleDateFormat; h and K without a mean
// AM, and a is ignored with H and k; a field given twice takes the last value. A day of year
// is used when the pattern has neither month nor day of month. Impossible dates such as
// February 30 are errors, as is text left over after the pattern. A time with an offset keeps
// the offset (as a fixed zone), or the Parse location when that location has the offset at
// that instant; a time with only a zone name or ID is in that zone. Errors are [*ParseError],
// with the column of the value where matching failed and what was expected there.
package javadate

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	_ "time/tzdata" // IANA zones must work on hosts without a zoneinfo database.
)

// Error is a pattern error at a 1-based column of the pattern, counted in characters.
type Error struct {
	Pattern string // the pattern as given to Compile
	Col     int    // 1-based column of the offending character
	Msg     string // what is wrong
}

// Error returns the message with the pattern and column.
func (e *Error) Error() string {
	return fmt.Sprintf("date pattern %q: column %d: %s", e.Pattern, e.Col, e.Msg)
}

// ParseError is a value that does not match a pattern, at a 1-based column of the value,
// counted in characters.
type ParseError struct {
	Value   string // the text given to Parse
	Pattern string // the pattern of the Layout
	Col     int    // 1-based column of the value where matching failed
	Msg     string // what was expected
}

// Error returns the message with the value, the pattern and the column.
func (e *ParseError) Error() string {
	return fmt.Sprintf("parsing time %q as %q: column %d: %s", e.Value, e.Pattern, e.Col, e.Msg)
}

// Layout is a compiled Java date pattern. It is safe for concurrent use.
type Layout struct {
	pattern string
	epoch   epochKind
	toks    []token
	hasZone bool
	zones   *zoneCache // non-nil when the pattern has a z or V field
}

type epochKind uint8

const (
	epochNone    epochKind = iota
	epochMillis            // "milliseconds"
	epochSeconds           // "timestamp"
)

type kind uint8

const (
	kLiteral   kind = iota
	kOptStart       // [
	kOptEnd         // ]
	kEra            // G
	kYearOfEra      // y
	kYear           // u
	kMonth          // M, L
	kDay            // d
	kDayOfYear      // D
	kWeekday        // E
	kAmPm           // a
	kHour           // H, 0-23
	kHour1To24      // k
	kHour0To11      // K
	kHour1To12      // h
	kMinute         // m
	kSecond         // s
	kFraction       // S
	kNano           // n
	kOffsetX        // X
	kOffsetx        // x
	kOffsetZ        // Z
	kOffsetO        // O
	kZoneName       // z
	kZoneID         // V
)

// token is one element of a compiled pattern.
type token struct {
	kind    kind
	count   uint8  // number of pattern letters
	fixed   bool   // parse exactly count digits: the field follows another numeric field directly
	slot    uint8  // numeric fields: index in fields.v
	max     int32  // numeric fields: most digits taken when not fixed
	reserve int32  // first field of a run of numeric fields: digits the following fields need
	lo, hi  int32  // numeric fields: range of the value as written
	end     int32  // kOptStart: index of the matching kOptEnd
	col     int32  // 1-based column in the pattern
	lit     string // kLiteral text
}

// numeric reports whether the token is printed as digits only, so that it takes part in
// adjacent value parsing.
func (t *token) numeric() bool {
	switch t.kind {
	case kYearOfEra, kYear, kDay, kDayOfYear, kHour, kHour1To24, kHour0To11, kHour1To12,
		kMinute, kSecond, kFraction, kNano:
		return true
	case kMonth:
		return t.count <= 2
	}
	return false
}

// maxDigits is the most digits a numeric field takes when not fixed.
func maxDigits(k kind, count int) int {
	n := 2
	switch k {
	case kYearOfEra, kYear, kNano:
		n = 9
	case kDayOfYear:
		n = 3
	case kFraction:
		return 1 << 30
	}
	return max(n, count)
}

// Compile compiles a Java date pattern. Two special values are accepted: "milliseconds"
// (epoch milliseconds, a JSON number or numeric string) and "timestamp" (epoch seconds, may
// have a fraction). Epoch values parse as decimal numbers with an optional sign, fraction and
// exponent ("1534778974827", "1.534778974827E12"); digits below a nanosecond are dropped.
// Errors are *Error with a 1-based column.
//
// A Layout is immutable and safe for concurrent use, so Compile hands out one Layout per
// pattern: thousands of instances that use the same few patterns share them.
func Compile(pattern string) (*Layout, error) {
	if l, ok := compiled.m.Load(pattern); ok {
		return l.(*Layout), nil
	}
	l, err := compile(pattern)
	if err == nil && compiled.n.Add(1) <= compiledMax {
		if prev, loaded := compiled.m.LoadOrStore(pattern, l); loaded {
			return prev.(*Layout), nil
		}
	}
	return l, err
}

// compiled shares the Layouts of the first compiledMax patterns compiled; later ones are
// compiled afresh each time, so that a stream of distinct patterns cannot grow it without bound.
var compiled struct {
	m sync.Map // pattern -> *Layout
	n atomic.Int32
}

const compiledMax = 1024

func compile(pattern string) (*Layout, error) {
	switch pattern {
	case "milliseconds":
		return &Layout{pattern: pattern, epoch: epochMillis, hasZone: true}, nil
	case "timestamp":
		return &Layout{pattern: pattern, epoch: epochSeconds, hasZone: true}, nil
	case "":
		return nil, &Error{Pattern: pattern, Col: 1, Msg: "empty pattern"}
	}
	l := &Layout{pattern: pattern}
	var open []int // indexes of unclosed kOptStart tokens
	col := 1
	for i := 0; i < len(pattern); {
		start, startCol := i, col
		c := pattern[i]
		switch {
		case isLetter(c):
			j := i + 1
			for j < len(pattern) && pattern[j] == c {
				j++
			}
			tok, msg := letterToken(c, j-i)
			if msg != "" {
				return nil, &Error{Pattern: pattern, Col: startCol, Msg: msg}
			}
			tok.col = int32(startCol)
			l.toks = append(l.toks, tok)
			l.hasZone = l.hasZone || tok.kind >= kOffsetX
			if (tok.kind == kZoneName || tok.kind == kZoneID) && l.zones == nil {
				l.zones = new(zoneCache)
			}
			i = j
		case c == '\'':
			if i+1 < len(pattern) && pattern[i+1] == '\'' {
				l.addLiteral("'", startCol)
				i += 2
				break
			}
			var lit []byte
			j := i + 1
			for {
				if j >= len(pattern) {
					return nil, &Error{Pattern: pattern, Col: startCol, Msg: "unterminated quoted literal"}
				}
				if pattern[j] == '\'' {
					if j+1 < len(pattern) && pattern[j+1] == '\'' {
						lit = append(lit, '\'')
						j += 2
						continue
					}
					j++
					break
				}
				lit = append(lit, pattern[j])
				j++
			}
			l.addLiteral(string(lit), startCol)
			i = j
		case c == '[':
			open = append(open, len(l.toks))
			l.toks = append(l.toks, token{kind: kOptStart, col: int32(startCol)})
			i++
		case c == ']':
			if len(open) == 0 {
				return nil, &Error{Pattern: pattern, Col: startCol, Msg: "']' without a matching '['"}
			}
			l.closeOpt(open[len(open)-1], startCol)
			open = open[:len(open)-1]
			i++
		case c == '#' || c == '{' || c == '}':
			return nil, &Error{Pattern: pattern, Col: startCol, Msg: fmt.Sprintf("%q is reserved by Java's DateTimeFormatter; quote it ('%c') to mean the character", c, c)}
		default:
			_, w := utf8.DecodeRuneInString(pattern[i:])
			l.addLiteral(pattern[i:i+w], startCol)
			i += w
		}
		col = startCol + utf8.RuneCountInString(pattern[start:i])
	}
	// Like DateTimeFormatter, an optional section left open ends with the pattern.
	for k := len(open) - 1; k >= 0; k-- {
		l.closeOpt(open[k], col)
	}
	l.markRuns()
	return l, nil
}

// MustCompile is like Compile but panics if the pattern cannot be compiled. It is meant for
// patterns known at build time.
func MustCompile(pattern string) *Layout {
	l, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return l
}

// String returns the pattern the Layout was compiled from.
func (l *Layout) String() string { return l.pattern }

// HasZone reports whether the pattern carries a zone or offset field (X, x, Z, O, z, V), or is
// one of the epoch-based special values; Parse then takes the instant from the value alone.
func (l *Layout) HasZone() bool { return l.hasZone }

func (l *Layout) addLiteral(s string, col int) {
	if n := len(l.toks); n > 0 && l.toks[n-1].kind == kLiteral {
		l.toks[n-1].lit += s
		return
	}
	l.toks = append(l.toks, token{kind: kLiteral, lit: s, col: int32(col)})
}

func (l *Layout) closeOpt(start, col int) {
	l.toks[start].end = int32(len(l.toks))
	l.toks = append(l.toks, token{kind: kOptEnd, col: int32(col)})
}

// markRuns finds runs of numeric fields with nothing between them ("yyyyMMdd", "HHmmssSSS").
// As in DateTimeFormatter, the first field of a run takes a variable number of digits (at
// least as many as it has letters) and leaves enough for the others, which take exactly as
// many digits as they have letters.
func (l *Layout) markRuns() {
	toks := l.toks
	for k := 0; k < len(toks); {
		if !toks[k].numeric() {
			k++
			continue
		}
		e := k + 1
		for e < len(toks) && toks[e].numeric() {
			e++
		}
		if e-k > 1 {
			var reserve int32
			for m := k + 1; m < e; m++ {
				toks[m].fixed = true
				reserve += int32(toks[m].count)
			}
			toks[k].reserve = reserve
		}
		k = e
	}
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// letterToken maps a run of n pattern letters c to a token, or says why it cannot.
func letterToken(c byte, n int) (token, string) {
	limit := 9
	var k kind
	switch c {
	case 'G':
		k, limit = kEra, 4
	case 'y':
		k = kYearOfEra
	case 'u':
		k = kYear
	case 'M', 'L':
		k, limit = kMonth, 4
	case 'd':
		k = kDay
	case 'D':
		k = kDayOfYear
	case 'E':
		k, limit = kWeekday, 4
	case 'a':
		k = kAmPm
	case 'H':
		k = kHour
	case 'k':
		k = kHour1To24
	case 'K':
		k = kHour0To11
	case 'h':
		k = kHour1To12
	case 'm':
		k = kMinute
	case 's':
		k = kSecond
	case 'S':
		k = kFraction
	case 'n':
		k = kNano
	case 'X':
		k, limit = kOffsetX, 5
	case 'x':
		k, limit = kOffsetx, 5
	case 'Z':
		k, limit = kOffsetZ, 5
	case 'O':
		if n != 1 && n != 4 {
			return token{}, "pattern letter 'O' must appear 1 or 4 times"
		}
		k, limit = kOffsetO, 4
	case 'z':
		k, limit = kZoneName, 4
	case 'V':
		k, limit = kZoneID, 2
	case 'Y':
		return token{}, "unsupported pattern letter 'Y' (week-based year; use 'y' for the calendar year)"
	case 'Q', 'q', 'w', 'W', 'e', 'c', 'F', 'A', 'N', 'B', 'v', 'p':
		return token{}, fmt.Sprintf("unsupported pattern letter %q", c)
	default:
		return token{}, fmt.Sprintf("unknown pattern letter %q", c)
	}
	if n > limit {
		return token{}, fmt.Sprintf("too many pattern letters %q: %d (at most %d)", c, n, limit)
	}
	t := token{kind: k, count: uint8(n), hi: 999_999_999, max: int32(maxDigits(k, n))}
	switch k {
	case kYearOfEra, kYear:
		t.slot = slotYear
	case kMonth:
		t.slot, t.lo, t.hi = slotMonth, 1, 12
	case kDay:
		t.slot, t.lo, t.hi = slotDay, 1, 31
	case kDayOfYear:
		t.slot, t.lo, t.hi = slotYday, 1, 366
	case kHour:
		t.slot, t.hi = slotHour, 23
	case kHour1To24:
		t.slot, t.lo, t.hi = slotHour, 1, 24
	case kHour0To11:
		t.slot, t.hi = slotHour, 11
	case kHour1To12:
		t.slot, t.lo, t.hi = slotHour, 1, 12
	case kMinute:
		t.slot, t.hi = slotMin, 59
	case kSecond:
		t.slot, t.hi = slotSec, 59
	case kFraction, kNano:
		t.slot = slotNsec
	}
	return t, ""
}

// zoneCache remembers IANA zone lookups of one Layout, so that parsing zone IDs does not read
// the time zone database for every value. Its size is bounded.
type zoneCache struct {
	m sync.Map // name -> *time.Location; nil for unknown names
	n atomic.Int32
}

const zoneCacheMax = 512
