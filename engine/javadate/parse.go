package javadate

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// fields collects what a parse has read so far.
type fields struct {
	v                      [nSlots]int // numeric fields; month, day and day of year are 0 when absent
	offset                 int
	zone                   string // zone name or ID; "" when absent
	hasYear, yearOfEra, bc bool
	h12, pm, hasOffset     bool
	dayPos, zonePos        int // where the day and zone were read, for errors
}

// Slots of fields.v.
const (
	slotYear = iota
	slotMonth
	slotDay
	slotYday
	slotHour
	slotMin
	slotSec
	slotNsec
	nSlots
)

// failure says where and why a parse failed; code 0 means no failure. Building the message is
// left to the error path, so that parsing does not allocate.
type failure struct {
	code failCode
	pos  int // byte index in the value
	tok  int // index of the token that failed
}

type failCode uint8

const (
	failNone     failCode = iota
	failExpected          // the token's field or literal was not found
	failRange             // the field's value is out of range
	failTrailing          // text after the end of the pattern
	failDate              // the day does not exist in the month or year
	failZone              // unknown zone name
)

// Parse parses s with the pattern. loc is the zone used when the pattern has no zone field
// (nil means UTC); when s has an offset that loc has at the parsed instant, or a zone name
// that loc uses at the parsed time, the result is in loc. Epoch values are returned in UTC.
// Errors are *ParseError.
func (l *Layout) Parse(s string, loc *time.Location) (time.Time, error) {
	switch l.epoch {
	case epochMillis, epochSeconds:
		scale := 3
		if l.epoch == epochSeconds {
			scale = 0
		}
		sec, ns, ok := parseDecimal(s, scale)
		if !ok {
			return time.Time{}, l.epochError(s)
		}
		return time.Unix(sec, ns).UTC(), nil
	}
	var st fields
	i, f := l.parseRange(s, 0, 0, len(l.toks), &st)
	if f.code == failNone && i < len(s) {
		f = failure{code: failTrailing, pos: i, tok: len(l.toks)}
	}
	if f.code != failNone {
		return time.Time{}, l.parseError(s, f)
	}
	t, f := l.resolve(&st, loc)
	if f.code != failNone {
		return time.Time{}, l.parseError(s, f)
	}
	return t, nil
}

// parseRange matches tokens [from, to) against s[i:], returning the index after the match.
func (l *Layout) parseRange(s string, i, from, to int, st *fields) (int, failure) {
	for k := from; k < to; k++ {
		tok := &l.toks[k]
		switch tok.kind {
		case kLiteral:
			if len(tok.lit) == 1 {
				if i >= len(s) || s[i] != tok.lit[0] {
					return i, failure{failExpected, i, k}
				}
				i++
				break
			}
			if len(s)-i < len(tok.lit) || s[i:i+len(tok.lit)] != tok.lit {
				return i, failure{failExpected, i, k}
			}
			i += len(tok.lit)
		case kOptStart:
			save := *st
			j, f := l.parseRange(s, i, k+1, int(tok.end), st)
			if f.code != failNone {
				*st = save
			} else {
				i = j
			}
			k = int(tok.end)
		case kOptEnd:
		case kEra:
			switch {
			case matchFold(s, i, "AD"):
				st.bc = false
				i += 2
			case matchFold(s, i, "BC"):
				st.bc = true
				i += 2
			case matchFold(s, i, "Anno Domini"):
				st.bc = false
				i += len("Anno Domini")
			case matchFold(s, i, "Before Christ"):
				st.bc = true
				i += len("Before Christ")
			default:
				return i, failure{failExpected, i, k}
			}
		case kMonth:
			if tok.count >= 3 {
				m, n := -1, 0
				if tok.count >= 4 {
					m, n = matchName(s, i, longMonths[:])
				}
				if m < 0 {
					m, n = matchName(s, i, shortMonths[:])
				}
				if m < 0 {
					return i, failure{failExpected, i, k}
				}
				st.v[slotMonth] = m + 1
				i += n
				break
			}
			fallthrough
		case kYearOfEra, kYear, kDay, kDayOfYear, kHour, kHour1To24, kHour0To11, kHour1To12,
			kMinute, kSecond, kNano:
			var v, take int
			neg := false
			if tok.fixed || tok.reserve > 0 || tok.kind == kYear {
				if tok.kind == kYear && !tok.fixed && i+1 < len(s) && (s[i] == '-' || s[i] == '+') && isDigit(s[i+1]) {
					neg = s[i] == '-'
					i++
				}
				nd := digitsAt(s, i)
				take = int(tok.count)
				if !tok.fixed {
					least := 1
					if tok.reserve > 0 {
						least = take // first of a run
					}
					take = max(min(nd-int(tok.reserve), int(tok.max)), least)
				}
				if nd < take {
					return i, failure{failExpected, i, k}
				}
				v = atoi(s, i, take)
			} else {
				for m := int(tok.max); take < m && i+take < len(s) && isDigit(s[i+take]); take++ {
					v = v*10 + int(s[i+take]-'0')
				}
				if take == 0 {
					return i, failure{failExpected, i, k}
				}
			}
			if v < int(tok.lo) || v > int(tok.hi) {
				return i, failure{failRange, i, k}
			}
			switch tok.kind {
			case kYearOfEra, kYear:
				if tok.count == 2 && take == 2 {
					v += 2000
				}
				if neg {
					v = -v
				}
				if v == 0 && tok.kind == kYearOfEra {
					return i, failure{failRange, i, k} // year of era starts at 1
				}
				st.hasYear, st.yearOfEra = true, tok.kind == kYearOfEra
			case kHour, kHour1To24:
				st.h12 = false
				v %= 24
			case kHour0To11, kHour1To12:
				st.h12 = true
				v %= 12
			case kDay, kDayOfYear:
				st.dayPos = i
			}
			st.v[tok.slot] = v
			i += take
		case kFraction:
			nd := digitsAt(s, i)
			take := int(tok.count)
			if !tok.fixed {
				take = max(nd-int(tok.reserve), take)
			}
			if nd < take {
				return i, failure{failExpected, i, k}
			}
			ns := atoi(s, i, min(take, 9))
			for p := take; p < 9; p++ {
				ns *= 10
			}
			st.v[slotNsec] = ns
			i += take
		case kWeekday:
			d, n := -1, 0
			if tok.count >= 4 {
				d, n = matchName(s, i, longDays[:])
			}
			if d < 0 {
				d, n = matchName(s, i, shortDays[:])
			}
			if d < 0 {
				return i, failure{failExpected, i, k}
			}
			i += n
		case kAmPm:
			switch {
			case matchFold(s, i, "AM"):
				st.pm = false
			case matchFold(s, i, "PM"):
				st.pm = true
			default:
				return i, failure{failExpected, i, k}
			}
			i += 2
		case kOffsetX, kOffsetx, kOffsetZ, kOffsetO:
			off, j, ok := parseOffset(s, i)
			if !ok {
				return i, failure{failExpected, i, k}
			}
			st.offset, st.hasOffset = off, true
			i = j
		case kZoneName, kZoneID:
			j, ok := st.zoneText(s, i)
			if !ok {
				return i, failure{failExpected, i, k}
			}
			i = j
		}
	}
	return i, failure{}
}

// zoneText reads a zone at s[i:]: an offset ("+05:30", "GMT+8"), an abbreviation or an IANA
// name. Offsets are stored as offsets; names are resolved later by resolve.
func (st *fields) zoneText(s string, i int) (int, bool) {
	if i >= len(s) {
		return i, false
	}
	if c := s[i]; c == '+' || c == '-' {
		off, j, ok := parseOffset(s, i)
		st.offset, st.hasOffset = off, ok
		return j, ok
	}
	j := i
	for j < len(s) && isLetter(s[j]) {
		j++
	}
	if j == i {
		return i, false
	}
	if j < len(s) && (s[j] == '+' || s[j] == '-') && j-i <= 3 &&
		(hasFoldPrefix(s, i, "GMT") || hasFoldPrefix(s, i, "UTC") || hasFoldPrefix(s, i, "UT")) {
		if off, k, ok := parseOffset(s, i); ok && k > j {
			st.offset, st.hasOffset = off, true
			return k, true
		}
	}
	if j < len(s) && (s[j] == '/' || s[j] == '_') {
		for j < len(s) && (isLetter(s[j]) || isDigit(s[j]) || s[j] == '/' || s[j] == '_' || s[j] == '+' || s[j] == '-') {
			j++
		}
	}
	st.zone, st.zonePos = s[i:j], i
	return j, true
}

// resolve turns the fields into a time.
func (l *Layout) resolve(st *fields, loc *time.Location) (time.Time, failure) {
	year := 1970
	if st.hasYear {
		year = st.v[slotYear]
		if st.yearOfEra && st.bc {
			year = 1 - year
		}
	}
	month, day, yday := st.v[slotMonth], st.v[slotDay], st.v[slotYday]
	if yday != 0 && month == 0 && day == 0 {
		if yday > 365 && !isLeap(year) {
			return time.Time{}, failure{code: failDate, pos: st.dayPos, tok: -1}
		}
		month, day = 1, yday
	} else {
		month, day = max(month, 1), max(day, 1)
		if day > daysIn(month, year) {
			return time.Time{}, failure{code: failDate, pos: st.dayPos, tok: -1}
		}
	}
	hour, minute, sec, nsec := st.v[slotHour], st.v[slotMin], st.v[slotSec], st.v[slotNsec]
	if st.h12 && st.pm {
		hour += 12
	}
	if loc == nil {
		loc = time.UTC
	}
	if st.zone != "" {
		if loc != time.UTC {
			t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
			if name, off := t.Zone(); (name == st.zone || loc.String() == st.zone) && (!st.hasOffset || off == st.offset) {
				return t, failure{}
			}
		}
		zl, ok := l.lookupZone(st.zone)
		if !ok {
			return time.Time{}, failure{code: failZone, pos: st.zonePos, tok: -1}
		}
		if !st.hasOffset {
			return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, zl), failure{}
		}
		// The offset fixes the instant; the zone is how it is shown.
		return time.Unix(unixSeconds(year, month, day, hour, minute, sec)-int64(st.offset), int64(nsec)).In(zl), failure{}
	}
	if !st.hasOffset {
		if loc == time.UTC {
			return time.Unix(unixSeconds(year, month, day, hour, minute, sec), int64(nsec)).UTC(), failure{}
		}
		return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), failure{}
	}
	t := time.Unix(unixSeconds(year, month, day, hour, minute, sec)-int64(st.offset), int64(nsec))
	if loc != time.UTC {
		if _, off := t.In(loc).Zone(); off == st.offset {
			return t.In(loc), failure{}
		}
	}
	return t.In(fixedZone(st.offset)), failure{}
}

// unixSeconds returns the Unix time of a valid proleptic Gregorian date and time in UTC.
func unixSeconds(year, month, day, hour, minute, sec int) int64 {
	// Days from civil, after Howard Hinnant's algorithm.
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := int64(month+9) % 12
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return days*86400 + int64(hour*3600+minute*60+sec)
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if isLeap(year) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// matchFold reports whether s[i:] starts with w, ignoring ASCII case.
func matchFold(s string, i int, w string) bool {
	if len(s)-i < len(w) {
		return false
	}
	for k := 0; k < len(w); k++ {
		a, b := s[i+k], w[k]
		if a != b && !(isLetter(a) && a|0x20 == b|0x20) {
			return false
		}
	}
	return true
}

// matchName returns the index of the name s[i:] starts with, ignoring case, and its length,
// or -1.
func matchName(s string, i int, names []string) (int, int) {
	for k, w := range names {
		if matchFold(s, i, w) {
			return k, len(w)
		}
	}
	return -1, 0
}

// parseDecimal parses an optionally signed decimal number with an optional fraction and
// exponent ("1534778974827", "1534778974.5", "1.534778974827E12") that counts units of
// 10^-scale seconds, returning whole seconds and nanoseconds. Digits past nanoseconds are
// truncated.
func parseDecimal(s string, scale int) (sec int64, nsec int64, ok bool) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	mantStart := i
	intDigits, digits := 0, 0
	for i < len(s) && isDigit(s[i]) {
		i++
		intDigits++
	}
	digits = intDigits
	mantEnd := i
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
			digits++
		}
		mantEnd = i
	}
	if digits == 0 {
		return 0, 0, false
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			eneg = s[i] == '-'
			i++
		}
		if digitsAt(s, i) == 0 {
			return 0, 0, false
		}
		for i < len(s) && isDigit(s[i]) {
			if exp < 1000 {
				exp = exp*10 + int(s[i]-'0')
			}
			i++
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return 0, 0, false
	}
	// point is the number of mantissa digits that form whole seconds.
	point := intDigits + exp - scale
	const maxSec = 1 << 50
	k := 0
	for j := mantStart; j < mantEnd; j++ {
		if s[j] == '.' {
			continue
		}
		d := int64(s[j] - '0')
		switch p := k - point; {
		case p < 0:
			sec = sec*10 + d
			if sec > maxSec {
				return 0, 0, false
			}
		case p < 9:
			nsec += d * pow10[8-p]
		}
		k++
	}
	for ; k < point; k++ {
		sec *= 10
		if sec > maxSec {
			return 0, 0, false
		}
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return sec, nsec, true
}

var pow10 = [9]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

func (l *Layout) epochError(s string) error {
	what := "epoch milliseconds"
	if l.epoch == epochSeconds {
		what = "epoch seconds"
	}
	return &ParseError{Value: s, Pattern: l.pattern, Col: 1, Msg: "expected a number of " + what}
}

// parseError builds the error for a failure.
func (l *Layout) parseError(s string, f failure) error {
	e := &ParseError{Value: s, Pattern: l.pattern, Col: utf8.RuneCountInString(s[:f.pos]) + 1}
	found := "end of text"
	if f.pos < len(s) {
		r, _ := utf8.DecodeRuneInString(s[f.pos:])
		found = fmt.Sprintf("%q", r)
	}
	switch f.code {
	case failTrailing:
		e.Msg = fmt.Sprintf("unexpected text %q after the end of the pattern", s[f.pos:])
	case failDate:
		e.Msg = "day does not exist in that month or year"
	case failZone:
		e.Msg = fmt.Sprintf("unknown time zone %q", zoneTextAt(s, f.pos))
	case failRange:
		e.Msg = describe(&l.toks[f.tok]) + " out of range"
	default:
		e.Msg = "expected " + describe(&l.toks[f.tok]) + ", found " + found
	}
	return e
}

func zoneTextAt(s string, i int) string {
	var st fields
	j, _ := st.zoneText(s, i)
	return s[i:j]
}

// describe names what a token expects, for errors.
func describe(t *token) string {
	digits := func(what string) string {
		if t.fixed {
			return fmt.Sprintf("%s (%d digits)", what, t.count)
		}
		return what
	}
	switch t.kind {
	case kLiteral:
		return fmt.Sprintf("%q", t.lit)
	case kEra:
		return "era (AD or BC)"
	case kYearOfEra, kYear:
		return digits("year")
	case kMonth:
		if t.count >= 3 {
			return "month name"
		}
		return digits("month")
	case kDay:
		return digits("day of month")
	case kDayOfYear:
		return digits("day of year")
	case kWeekday:
		return "day of week"
	case kAmPm:
		return "AM or PM"
	case kHour, kHour1To24, kHour0To11, kHour1To12:
		return digits("hour")
	case kMinute:
		return digits("minute")
	case kSecond:
		return digits("second")
	case kFraction:
		return fmt.Sprintf("fraction of second (at least %d digits)", t.count)
	case kNano:
		return digits("nano of second")
	case kOffsetX, kOffsetx, kOffsetZ, kOffsetO:
		return "UTC offset such as Z, +05:30 or -0800"
	}
	return "time zone"
}
