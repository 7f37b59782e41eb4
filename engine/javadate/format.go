package javadate

import (
	"strconv"
	"time"
)

var (
	shortMonths = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longMonths  = [12]string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
	shortDays = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays  = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

// Format returns t formatted with the pattern, in t.Location().
func (l *Layout) Format(t time.Time) string {
	var buf [64]byte
	return string(l.AppendFormat(buf[:0], t))
}

// AppendFormat appends t formatted with the pattern, in t.Location(), to dst and returns the
// extended buffer. Fields with more letters than digits are padded with zeros; a fraction is
// truncated to its number of letters. "milliseconds" formats t.UnixMilli(); "timestamp"
// formats the Unix seconds with the fraction, if any, without trailing zeros.
func (l *Layout) AppendFormat(dst []byte, t time.Time) []byte {
	switch l.epoch {
	case epochMillis:
		return strconv.AppendInt(dst, t.UnixMilli(), 10)
	case epochSeconds:
		return appendTimestamp(dst, t)
	}
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	for k := range l.toks {
		tok := &l.toks[k]
		n := int(tok.count)
		switch tok.kind {
		case kLiteral:
			dst = append(dst, tok.lit...)
		case kEra:
			dst = append(dst, eraName(year > 0, n)...)
		case kYearOfEra:
			y := year
			if y <= 0 {
				y = 1 - y
			}
			dst = appendYear(dst, y, n)
		case kYear:
			dst = appendYear(dst, year, n)
		case kMonth:
			switch {
			case n == 3:
				dst = append(dst, shortMonths[month-1]...)
			case n >= 4:
				dst = append(dst, longMonths[month-1]...)
			default:
				dst = appendInt(dst, int(month), n)
			}
		case kDay:
			dst = appendInt(dst, day, n)
		case kDayOfYear:
			dst = appendInt(dst, t.YearDay(), n)
		case kWeekday:
			if n >= 4 {
				dst = append(dst, longDays[t.Weekday()]...)
			} else {
				dst = append(dst, shortDays[t.Weekday()]...)
			}
		case kAmPm:
			if hour < 12 {
				dst = append(dst, "AM"...)
			} else {
				dst = append(dst, "PM"...)
			}
		case kHour:
			dst = appendInt(dst, hour, n)
		case kHour1To24:
			h := hour
			if h == 0 {
				h = 24
			}
			dst = appendInt(dst, h, n)
		case kHour0To11:
			dst = appendInt(dst, hour%12, n)
		case kHour1To12:
			h := hour % 12
			if h == 0 {
				h = 12
			}
			dst = appendInt(dst, h, n)
		case kMinute:
			dst = appendInt(dst, minute, n)
		case kSecond:
			dst = appendInt(dst, sec, n)
		case kFraction:
			var b [9]byte
			ns := t.Nanosecond()
			for i := 8; i >= 0; i-- {
				b[i] = byte('0' + ns%10)
				ns /= 10
			}
			dst = append(dst, b[:n]...)
		case kNano:
			dst = appendInt(dst, t.Nanosecond(), n)
		case kOffsetX, kOffsetx, kOffsetZ, kOffsetO:
			_, off := t.Zone()
			dst = appendOffsetField(dst, tok.kind, n, off)
		case kZoneName:
			if n >= 4 {
				dst = appendZoneID(dst, t)
				break
			}
			name, off := t.Zone()
			if name == "" {
				dst = appendOffset(dst, off, true, minAlways, secIfNonZero)
				break
			}
			dst = append(dst, name...)
		case kZoneID:
			dst = appendZoneID(dst, t)
		}
	}
	return dst
}

func eraName(ad bool, n int) string {
	switch {
	case n >= 4 && ad:
		return "Anno Domini"
	case n >= 4:
		return "Before Christ"
	case ad:
		return "AD"
	}
	return "BC"
}

// appendYear appends a year for n letters: two digits for n == 2, else padded to n.
func appendYear(dst []byte, y, n int) []byte {
	if n == 2 {
		return appendInt(dst, (y%100+100)%100, 2)
	}
	return appendInt(dst, y, n)
}

// appendInt appends v in decimal, padded with zeros to width digits.
func appendInt(dst []byte, v, width int) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = -u
	}
	var b [20]byte
	i := len(b)
	for u >= 10 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	i--
	b[i] = byte('0' + u)
	for w := len(b) - i; w < width; w++ {
		dst = append(dst, '0')
	}
	return append(dst, b[i:]...)
}

// How appendOffset prints minutes and seconds.
const (
	minNever = iota
	minIfNonZero
	minAlways
)

const (
	secNever = iota
	secIfNonZero
)

// appendOffset appends off as a sign, two-digit hours, and minutes and seconds as asked,
// separated by colons if colon is set.
func appendOffset(dst []byte, off int, colon bool, mins, secs int) []byte {
	if off < 0 {
		dst = append(dst, '-')
		off = -off
	} else {
		dst = append(dst, '+')
	}
	h, m, s := off/3600, off/60%60, off%60
	dst = appendInt(dst, h, 2)
	if mins == minAlways || mins == minIfNonZero && (m != 0 || s != 0 && secs != secNever) {
		if colon {
			dst = append(dst, ':')
		}
		dst = appendInt(dst, m, 2)
	}
	if secs == secIfNonZero && s != 0 {
		if colon {
			dst = append(dst, ':')
		}
		dst = appendInt(dst, s, 2)
	}
	return dst
}

// appendOffsetField formats an offset for the X, x, Z and O letters.
func appendOffsetField(dst []byte, k kind, n, off int) []byte {
	switch k {
	case kOffsetZ:
		switch n {
		case 4:
			return appendGMT(dst, off, true)
		case 5:
			if off == 0 {
				return append(dst, 'Z')
			}
			return appendOffset(dst, off, true, minAlways, secIfNonZero)
		}
		return appendOffset(dst, off, false, minAlways, secNever)
	case kOffsetO:
		return appendGMT(dst, off, n == 4)
	}
	if k == kOffsetX && off == 0 {
		return append(dst, 'Z')
	}
	switch n {
	case 1:
		return appendOffset(dst, off, false, minIfNonZero, secNever)
	case 2:
		return appendOffset(dst, off, false, minAlways, secNever)
	case 3:
		return appendOffset(dst, off, true, minAlways, secNever)
	case 4:
		return appendOffset(dst, off, false, minAlways, secIfNonZero)
	}
	return appendOffset(dst, off, true, minAlways, secIfNonZero)
}

// appendGMT appends the localized offset "GMT", "GMT+8", "GMT+5:30" or, if long,
// "GMT+08:00".
func appendGMT(dst []byte, off int, long bool) []byte {
	dst = append(dst, "GMT"...)
	if off == 0 {
		return dst
	}
	if long {
		return appendOffset(dst, off, true, minAlways, secIfNonZero)
	}
	if off < 0 {
		dst = append(dst, '-')
		off = -off
	} else {
		dst = append(dst, '+')
	}
	dst = strconv.AppendInt(dst, int64(off/3600), 10)
	if m, s := off/60%60, off%60; m != 0 || s != 0 {
		dst = append(dst, ':')
		dst = appendInt(dst, m, 2)
		if s != 0 {
			dst = append(dst, ':')
			dst = appendInt(dst, s, 2)
		}
	}
	return dst
}

// appendZoneID appends the name of t's location, or its offset when the location has no
// usable name (time.Local, unnamed fixed zones).
func appendZoneID(dst []byte, t time.Time) []byte {
	name := t.Location().String()
	if name == "" || name == "Local" {
		_, off := t.Zone()
		if off == 0 {
			return append(dst, "UTC"...)
		}
		return appendOffset(dst, off, true, minAlways, secIfNonZero)
	}
	return append(dst, name...)
}

// appendTimestamp appends Unix seconds with the fraction, if any, trimmed of trailing zeros.
func appendTimestamp(dst []byte, t time.Time) []byte {
	sec, ns := t.Unix(), t.Nanosecond()
	if ns == 0 {
		return strconv.AppendInt(dst, sec, 10)
	}
	if sec < 0 {
		dst = append(dst, '-')
		sec, ns = -sec-1, 1e9-ns
	}
	dst = strconv.AppendInt(dst, sec, 10)
	dst = append(dst, '.')
	var b [9]byte
	for i := 8; i >= 0; i-- {
		b[i] = byte('0' + ns%10)
		ns /= 10
	}
	e := 9
	for b[e-1] == '0' {
		e--
	}
	return append(dst, b[:e]...)
}
