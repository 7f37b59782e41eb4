package javadate

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzRef is the time FuzzCompile formats: a zone with a half-hour offset and an unambiguous
// abbreviation (IST), a PM hour, and all nine fraction digits.
func fuzzRef(t testing.TB) time.Time {
	return time.Date(2018, 8, 20, 15, 29, 6, 123456789, mustLoad(t, "Asia/Kolkata"))
}

func FuzzCompile(f *testing.F) {
	for _, p := range []string{
		"yyyy-MM-dd'T'HH:mm:ssXXX",
		"yyyy-MM-dd'T'HH:mm:ss.SSSZ",
		"yyyy-MM-dd'T'HH:mm:ss'Z'",
		"EEE, dd MMM yyyy HH:mm:ss z",
		"MM/dd/yyyy hh:mm a",
		"MM/dd/yyyy hh:mm:ss a VV",
		"yyyyMMddHHmmssSSSX",
		"yyyy-MM-dd'T'HH:mm:ss[.SSS]XXX",
		"G yy-M-d K:m:s a O",
		"u-DDD k:mm:ss.n OOOO",
		"EEEE, MMMM d, y h:mm:ss.SSSSSS a zzzz",
		"yyyy-MM-dd HH:mm:ss ZZZZ",
		"'at' HH 'o''clock' '' dd.MM.yyyy ss:mm xxxxx",
		"[yyyy]MM",
		"yyyy[-MM[-dd]]",
		"yyyy-QQ",
		"'unterminated",
		"]",
		"milliseconds",
		"timestamp",
		"",
	} {
		f.Add(p)
	}
	ref := fuzzRef(f)
	f.Fuzz(func(t *testing.T, pattern string) {
		l, err := Compile(pattern)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Col < 1 || pe.Col > utf8.RuneCountInString(pattern)+1 {
				t.Fatalf("Compile(%q): bad error %v", pattern, err)
			}
			return
		}
		s := l.Format(ref)
		got, err := l.Parse(s, nil)
		prec, ok := roundTripPrecision(l, ref)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("pattern %q: Parse(Format(ref) = %q): %v", pattern, s, err)
		}
		if want := ref.Truncate(prec); !got.Equal(want) {
			t.Fatalf("pattern %q: Parse(%q) = %v; want %v", pattern, s, got, want)
		}
	})
}

// roundTripPrecision reports whether Parse(Format(ref)) must give back ref and, if so, to
// which precision: the pattern has a year, month, day of month, hour (with AM/PM for a 12-hour
// clock), minute, second and zone, and no two fields whose texts could run into each other.
func roundTripPrecision(l *Layout, ref time.Time) (time.Duration, bool) {
	if l.epoch != epochNone {
		return precision(l), true
	}
	var flat []*token
	var text []string
	crossesOpt := make(map[int]bool) // index in flat -> an optional boundary precedes it
	boundary := false
	seen := map[kind]bool{}
	var lastHour kind
	for k := range l.toks {
		tok := &l.toks[k]
		if tok.kind == kOptStart || tok.kind == kOptEnd {
			boundary = true
			continue
		}
		crossesOpt[len(flat)] = boundary
		boundary = false
		flat = append(flat, tok)
		text = append(text, string((&Layout{toks: []token{*tok}}).AppendFormat(nil, ref)))
		seen[tok.kind] = true
		switch tok.kind {
		case kHour, kHour1To24, kHour0To11, kHour1To12:
			lastHour = tok.kind
		}
	}
	hasZone := seen[kOffsetX] || seen[kOffsetx] || seen[kOffsetZ] || seen[kOffsetO] || seen[kZoneName] || seen[kZoneID]
	hourOK := lastHour == kHour || lastHour == kHour1To24 || lastHour != 0 && seen[kAmPm]
	if !(seen[kYearOfEra] || seen[kYear]) || !seen[kMonth] || !seen[kDay] || !hourOK ||
		!seen[kMinute] || !seen[kSecond] || !hasZone {
		return 0, false
	}
	for k := 0; k+1 < len(flat); k++ {
		a, b, next := flat[k], flat[k+1], text[k+1][0]
		isOffset := a.kind == kOffsetX || a.kind == kOffsetx || a.kind == kOffsetZ || a.kind == kOffsetO
		switch {
		case (a.numeric() || isOffset) && isDigit(next):
			// Only a run of numeric fields, where the later ones print exactly their width.
			if !a.numeric() || !b.numeric() || crossesOpt[k+1] || len(text[k+1]) != int(b.count) {
				return 0, false
			}
		case isOffset && next == ':':
			return 0, false
		case (a.kind == kZoneName || a.kind == kZoneID) &&
			(isLetter(next) || isDigit(next) || next == '/' || next == '_' || next == '+' || next == '-'):
			return 0, false
		}
	}
	return precision(l), true
}

// precision is the precision Format keeps: that of the last fraction field, as Parse lets the
// last field win.
func precision(l *Layout) time.Duration {
	switch l.epoch {
	case epochMillis:
		return time.Millisecond
	case epochSeconds:
		return time.Nanosecond
	}
	prec := time.Second
	for _, tok := range l.toks {
		switch tok.kind {
		case kFraction:
			prec = time.Duration(pow10[9-tok.count])
		case kNano:
			prec = time.Nanosecond
		}
	}
	return prec
}

func FuzzParse(f *testing.F) {
	patterns := []string{
		"yyyy-MM-dd'T'HH:mm:ssXXX",
		"yyyy-MM-dd'T'HH:mm:ss.SSSZ",
		"EEE, dd MMM yyyy HH:mm:ss z",
		"MM/dd/yyyy hh:mm a",
		"yyyyMMddHHmmss[.SSS][VV]",
		"G y-D k:m:s.n O",
		"milliseconds",
		"timestamp",
	}
	for _, s := range []string{
		"2015-08-18T11:47:41Z",
		"2015-08-18T11:47:41+05:30",
		"2015-08-18T11:47:41.123-0700",
		"Tue, 18 Aug 2015 11:47:41 PDT",
		"Tue, 18 Aug 2015 11:47:41 America/New_York",
		"08/18/2015 11:47 PM",
		"20150818114741.123Europe/Paris",
		"AD 2015-230 24:1:2.5 GMT+5:30",
		"1534778974827",
		"1534778974.5",
		"-1e-9",
		"",
		"\xff",
	} {
		for i := range patterns {
			f.Add(i, s)
		}
	}
	layouts := make([]*Layout, len(patterns))
	for i, p := range patterns {
		layouts[i] = MustCompile(p)
	}
	la := mustLoad(f, "America/Los_Angeles")
	f.Fuzz(func(t *testing.T, i int, s string) {
		l := layouts[uint(i)%uint(len(layouts))]
		got, err := l.Parse(s, la)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Col < 1 || pe.Col > utf8.RuneCountInString(s)+1 {
				t.Fatalf("%q: Parse(%q): bad error %v", l, s, err)
			}
			return
		}
		if _, off := got.Zone(); off%60 != 0 {
			return // like Java's, most offset fields cannot print offset seconds
		}
		// What Parse accepts, it must read back from its own formatting.
		again, err := l.Parse(l.Format(got), la)
		if err != nil || !again.Equal(got.Truncate(precision(l))) {
			t.Fatalf("%q: Parse(%q) = %v; Parse(Format) = %v, %v", l, s, got, again, err)
		}
	})
}

func TestUnixSeconds(t *testing.T) {
	for y := -1000; y <= 3000; y += 7 {
		for m := 1; m <= 12; m++ {
			for _, d := range []int{1, 15, daysIn(m, y)} {
				want := time.Date(y, time.Month(m), d, 13, 14, 15, 0, time.UTC).Unix()
				if got := unixSeconds(y, m, d, 13, 14, 15); got != want {
					t.Fatalf("unixSeconds(%d-%d-%d) = %d; want %d", y, m, d, got, want)
				}
			}
		}
	}
}
