package javadate

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		pattern string
		col     int
		msg     string
	}{
		{"", 1, "empty pattern"},
		{"yyyy-MM-dd'T", 11, "unterminated quoted literal"},
		{"yyyy-QQ", 6, "unsupported pattern letter 'Q'"},
		{"YYYY-MM-dd", 1, "week-based year"},
		{"yyyy-MM-dd ]", 12, "']' without a matching '['"},
		{"MMMMM", 1, "too many pattern letters 'M': 5 (at most 4)"},
		{"HH:mm OO", 7, "'O' must appear 1 or 4 times"},
		{"yyyy-MM-dd bb", 12, "unknown pattern letter 'b'"},
		{"VVV", 1, "too many pattern letters 'V'"},
		{"SSSSSSSSSS", 1, "too many pattern letters 'S'"},
		{"ZZZZZZ", 1, "too many pattern letters 'Z'"},
		{"日付 yyyy w", 9, "unsupported pattern letter 'w'"},
		{"'it''s' T", 9, "unknown pattern letter 'T'"},
		{"yyyy-MM-dd#HH", 11, "'#' is reserved by Java's DateTimeFormatter"},
		{"{yyyy}", 1, "'{' is reserved"},
		{"yyyy}", 5, "'}' is reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			l, err := Compile(tt.pattern)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Compile(%q) = %v, %v; want *Error", tt.pattern, l, err)
			}
			if pe.Col != tt.col || !strings.Contains(pe.Msg, tt.msg) || pe.Pattern != tt.pattern {
				t.Errorf("Compile(%q) error = col %d %q; want col %d containing %q", tt.pattern, pe.Col, pe.Msg, tt.col, tt.msg)
			}
			if want := "date pattern " + `"` + tt.pattern + `"`; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q; want prefix %q", err.Error(), want)
			}
		})
	}
}

func TestMustCompilePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustCompile of a bad pattern did not panic")
		}
	}()
	MustCompile("yyyy-QQ")
}

func TestFormat(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	kolkata := mustLoad(t, "Asia/Kolkata")
	summer := time.Date(2015, 8, 18, 11, 47, 41, 123456789, la)
	winter := time.Date(2015, 1, 5, 23, 7, 3, 0, la)
	utc := time.Date(2018, 8, 20, 15, 29, 6, 827000000, time.UTC)
	india := time.Date(2018, 8, 20, 0, 5, 9, 0, kolkata)
	odd := time.Date(2018, 8, 20, 0, 5, 9, 0, time.FixedZone("", -(3*3600+25*60+7)))
	tests := []struct {
		pattern string
		t       time.Time
		want    string
	}{
		{"yyyy-MM-dd'T'HH:mm:ssXXX", summer, "2015-08-18T11:47:41-07:00"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", utc, "2018-08-20T15:29:06Z"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", india, "2018-08-20T00:05:09+05:30"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", summer, "2015-08-18T11:47:41.123-0700"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", utc, "2018-08-20T15:29:06.827+0000"},
		{"yyyy-MM-dd'T'HH:mm:ss'Z'", utc, "2018-08-20T15:29:06Z"},
		{"EEE, dd MMM yyyy HH:mm:ss z", summer, "Tue, 18 Aug 2015 11:47:41 PDT"},
		{"EEE, dd MMM yyyy HH:mm:ss z", winter, "Mon, 05 Jan 2015 23:07:03 PST"},
		{"EEEE, MMMM d, y", winter, "Monday, January 5, 2015"},
		{"MM/dd/yyyy hh:mm a", summer, "08/18/2015 11:47 AM"},
		{"MM/dd/yyyy hh:mm a", winter, "01/05/2015 11:07 PM"},
		{"M/d/yy h:m:s a", winter, "1/5/15 11:7:3 PM"},
		{"h a|K a|k|H", time.Date(2015, 1, 1, 0, 30, 0, 0, time.UTC), "12 AM|0 AM|24|0"},
		{"h a|K a|k|H", time.Date(2015, 1, 1, 12, 30, 0, 0, time.UTC), "12 PM|0 PM|12|12"},
		{"S|SS|SSSSSS|SSSSSSSSS|n|nnnnnnnnn", time.Date(2015, 8, 18, 11, 47, 41, 12345678, la), "0|01|012345|012345678|12345678|012345678"},
		{"SSS", winter, "000"},
		{"X|XX|XXX|XXXX|XXXXX", india, "+0530|+0530|+05:30|+0530|+05:30"},
		{"X|XX|XXX|XXXX|XXXXX", summer, "-07|-0700|-07:00|-0700|-07:00"},
		{"X|XX|XXX|XXXX|XXXXX", utc, "Z|Z|Z|Z|Z"},
		{"XXXX|XXXXX|Z", odd, "-032507|-03:25:07|-0325"},
		{"x|xx|xxx|xxxx|xxxxx", utc, "+00|+0000|+00:00|+0000|+00:00"},
		{"Z|ZZ|ZZZ|ZZZZ|ZZZZZ", summer, "-0700|-0700|-0700|GMT-07:00|-07:00"},
		{"Z|ZZZZ|ZZZZZ", utc, "+0000|GMT|Z"},
		{"O|OOOO", india, "GMT+5:30|GMT+05:30"},
		{"O|OOOO", utc, "GMT|GMT"},
		{"z|zzzz|VV|V", india, "IST|Asia/Kolkata|Asia/Kolkata|Asia/Kolkata"},
		{"z|VV", utc, "UTC|UTC"},
		{"z|VV", odd, "-03:25:07|-03:25:07"},
		{"D|DDD|E|G|GGGG|u|uu|y", time.Date(2016, 2, 3, 0, 0, 0, 0, time.UTC), "34|034|Wed|AD|Anno Domini|2016|16|2016"},
		{"y G u", time.Date(-43, 3, 15, 0, 0, 0, 0, time.UTC), "44 BC -43"},
		{"yyyyy|yyy|yy|y", time.Date(7, 1, 1, 0, 0, 0, 0, time.UTC), "00007|007|07|7"},
		{"'T''s'''|''|'o''clock'", utc, "T's'|'|o'clock"},
		{"'#{}'~ é [yyyy]", utc, "#{}~ é 2018"},
		{"yyyyMMddHHmmssSSS", utc, "20180820152906827"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			l := MustCompile(tt.pattern)
			if got := l.Format(tt.t); got != tt.want {
				t.Errorf("Format(%v) = %q; want %q", tt.t, got, tt.want)
			}
			if got := string(l.AppendFormat([]byte("x:"), tt.t)); got != "x:"+tt.want {
				t.Errorf("AppendFormat = %q; want %q", got, "x:"+tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	ny := mustLoad(t, "America/New_York")
	utc := time.UTC
	tests := []struct {
		pattern string
		in      string
		loc     *time.Location
		want    time.Time
		wantOff int // expected offset of the result, in seconds
	}{
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41Z", nil, time.Date(2015, 8, 18, 11, 47, 41, 0, utc), 0},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41+05:30", nil, time.Date(2015, 8, 18, 6, 17, 41, 0, utc), 19800},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41+0530", nil, time.Date(2015, 8, 18, 6, 17, 41, 0, utc), 19800},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41-07", nil, time.Date(2015, 8, 18, 18, 47, 41, 0, utc), -25200},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41-07:00", la, time.Date(2015, 8, 18, 18, 47, 41, 0, utc), -25200},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41+00:00", la, time.Date(2015, 8, 18, 11, 47, 41, 0, utc), 0},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-8-1T1:7:4Z", nil, time.Date(2015, 8, 1, 1, 7, 4, 0, utc), 0},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2015-08-18T11:47:41.123-0700", nil, time.Date(2015, 8, 18, 18, 47, 41, 123e6, utc), -25200},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2015-08-18T11:47:41.123Z", nil, time.Date(2015, 8, 18, 11, 47, 41, 123e6, utc), 0},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2015-08-18T11:47:41.123456789123-07:00", nil, time.Date(2015, 8, 18, 18, 47, 41, 123456789, utc), -25200},
		{"yyyy-MM-dd'T'HH:mm:ss'Z'", "2018-08-20T15:29:06Z", nil, time.Date(2018, 8, 20, 15, 29, 6, 0, utc), 0},
		{"yyyy-MM-dd'T'HH:mm:ss'Z'", "2018-08-20T15:29:06Z", la, time.Date(2018, 8, 20, 22, 29, 6, 0, utc), -25200},
		{"yyyy-MM-dd HH:mm:ss", "2015-08-18 11:47:41", la, time.Date(2015, 8, 18, 18, 47, 41, 0, utc), -25200},
		{"yyyy-MM-dd HH:mm:ss", "2015-01-18 11:47:41", la, time.Date(2015, 1, 18, 19, 47, 41, 0, utc), -28800},
		{"yyyy-MM-dd HH:mm:ss", "2015-03-08 01:59:59", ny, time.Date(2015, 3, 8, 6, 59, 59, 0, utc), -18000},
		{"yyyy-MM-dd HH:mm:ss", "2015-03-08 03:00:00", ny, time.Date(2015, 3, 8, 7, 0, 0, 0, utc), -14400},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Tue, 18 Aug 2015 11:47:41 PDT", nil, time.Date(2015, 8, 18, 18, 47, 41, 0, utc), -25200},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Mon, 05 Jan 2015 23:07:03 PST", nil, time.Date(2015, 1, 6, 7, 7, 3, 0, utc), -28800},
		{"EEE, dd MMM yyyy HH:mm:ss z", "mon, 05 jan 2015 23:07:03 GMT", nil, time.Date(2015, 1, 5, 23, 7, 3, 0, utc), 0},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Mon, 05 Jan 2015 23:07:03 GMT+05:30", nil, time.Date(2015, 1, 5, 17, 37, 3, 0, utc), 19800},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Mon, 05 Jan 2015 23:07:03 -0800", nil, time.Date(2015, 1, 6, 7, 7, 3, 0, utc), -28800},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Tue, 18 Aug 2015 11:47:41 America/New_York", nil, time.Date(2015, 8, 18, 15, 47, 41, 0, utc), -14400},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Tue, 18 Aug 2015 11:47:41 CST", mustLoad(t, "Asia/Shanghai"), time.Date(2015, 8, 18, 3, 47, 41, 0, utc), 28800},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Tue, 18 Aug 2015 11:47:41 CST", nil, time.Date(2015, 8, 18, 17, 47, 41, 0, utc), -21600},
		{"EEEE, MMMM d, yyyy", "Monday, January 5, 2015", nil, time.Date(2015, 1, 5, 0, 0, 0, 0, utc), 0},
		{"EEEE, MMMM d, yyyy", "Mon, Jan 5, 2015", nil, time.Date(2015, 1, 5, 0, 0, 0, 0, utc), 0},
		{"MM/dd/yyyy hh:mm a", "08/18/2015 11:47 AM", nil, time.Date(2015, 8, 18, 11, 47, 0, 0, utc), 0},
		{"MM/dd/yyyy hh:mm a", "08/18/2015 12:47 AM", nil, time.Date(2015, 8, 18, 0, 47, 0, 0, utc), 0},
		{"MM/dd/yyyy hh:mm a", "08/18/2015 12:47 pm", nil, time.Date(2015, 8, 18, 12, 47, 0, 0, utc), 0},
		{"MM/dd/yyyy hh:mm a", "08/18/2015 01:47 PM", la, time.Date(2015, 8, 18, 20, 47, 0, 0, utc), -25200},
		{"MM/dd/yyyy hh:mm", "08/18/2015 12:47", nil, time.Date(2015, 8, 18, 0, 47, 0, 0, utc), 0},
		{"K:mm a", "0:05 PM", nil, time.Date(1970, 1, 1, 12, 5, 0, 0, utc), 0},
		{"k:mm", "24:05", nil, time.Date(1970, 1, 1, 0, 5, 0, 0, utc), 0},
		{"M/d/yy", "8/18/15", nil, time.Date(2015, 8, 18, 0, 0, 0, 0, utc), 0},
		{"M/d/yy", "8/18/99", nil, time.Date(2099, 8, 18, 0, 0, 0, 0, utc), 0},
		{"M/d/yy", "8/18/1999", nil, time.Date(1999, 8, 18, 0, 0, 0, 0, utc), 0},
		{"yyMMdd", "150818", nil, time.Date(2015, 8, 18, 0, 0, 0, 0, utc), 0},
		{"yyyyMMddHHmmss", "20150818114741", nil, time.Date(2015, 8, 18, 11, 47, 41, 0, utc), 0},
		{"yyyyMMddHHmmssSSS", "20150818114741123", nil, time.Date(2015, 8, 18, 11, 47, 41, 123e6, utc), 0},
		{"yyyyMMddHHmmssSSS", "20150818114741123456", nil, time.Time{}, 0}, // SSS in a run takes 3 digits
		{"yyyyMMddHHmmssSSS", "120150818114741123", nil, time.Date(12015, 8, 18, 11, 47, 41, 123e6, utc), 0},
		{"HH:mm:ss.S", "11:47:41.5", nil, time.Date(1970, 1, 1, 11, 47, 41, 5e8, utc), 0},
		{"HH:mm:ss.SSSSSS", "11:47:41.000123", nil, time.Date(1970, 1, 1, 11, 47, 41, 123e3, utc), 0},
		{"HH:mm:ss.n", "11:47:41.123", nil, time.Date(1970, 1, 1, 11, 47, 41, 123, utc), 0},
		{"yyyy-DDD", "2016-366", nil, time.Date(2016, 12, 31, 0, 0, 0, 0, utc), 0},
		{"G yyyy", "BC 0044", nil, time.Date(-43, 1, 1, 0, 0, 0, 0, utc), 0},
		{"u", "-43", nil, time.Date(-43, 1, 1, 0, 0, 0, 0, utc), 0},
		{"yyyy-MM-dd'T'HH:mm:ss[.SSS]XXX", "2015-08-18T11:47:41Z", nil, time.Date(2015, 8, 18, 11, 47, 41, 0, utc), 0},
		{"yyyy-MM-dd'T'HH:mm:ss[.SSS]XXX", "2015-08-18T11:47:41.25Z", nil, time.Time{}, 0}, // fraction needs 3 digits
		{"yyyy-MM-dd'T'HH:mm:ss[.SSS]XXX", "2015-08-18T11:47:41.250Z", nil, time.Date(2015, 8, 18, 11, 47, 41, 25e7, utc), 0},
		{"yyyy-MM-dd[ HH:mm[:ss]]", "2015-08-18 11:47", nil, time.Date(2015, 8, 18, 11, 47, 0, 0, utc), 0},
		{"yyyy-MM-dd'T'HH:mm:ssXXX'['VV']'", "2015-08-18T11:47:41-04:00[America/New_York]", nil, time.Date(2015, 8, 18, 15, 47, 41, 0, utc), -14400},
		{"yyyy-MM-dd HH:mm VV", "2015-08-18 11:47 Europe/Paris", nil, time.Date(2015, 8, 18, 9, 47, 0, 0, utc), 7200},
		{"yyyy-MM-dd HH:mm VV", "2015-08-18 11:47 America/Port-au-Prince", nil, time.Date(2015, 8, 18, 15, 47, 0, 0, utc), -14400},
		{"yyyy-MM-dd HH:mm O", "2015-08-18 11:47 GMT-8", nil, time.Date(2015, 8, 18, 19, 47, 0, 0, utc), -28800},
		{"yyyy-MM-dd HH:mm ZZZZ", "2015-08-18 11:47 GMT", nil, time.Date(2015, 8, 18, 11, 47, 0, 0, utc), 0},
		{"yyyy-MM-dd HH:mm x", "2015-08-18 11:47 -0330", nil, time.Date(2015, 8, 18, 15, 17, 0, 0, utc), -12600},
		{"yyyy-MM-dd HH:mm X", "2015-08-18 11:47 -03:25:07", nil, time.Date(2015, 8, 18, 15, 12, 7, 0, utc), -12307},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.in, func(t *testing.T) {
			got, err := MustCompile(tt.pattern).Parse(tt.in, tt.loc)
			if tt.want.IsZero() {
				if err == nil {
					t.Fatalf("Parse(%q) = %v; want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("Parse(%q) = %v; want %v", tt.in, got, tt.want.UTC())
			}
			if _, off := got.Zone(); off != tt.wantOff {
				t.Errorf("Parse(%q) = %v: offset %d; want %d", tt.in, got, off, tt.wantOff)
			}
			if tt.loc != nil && !MustCompile(tt.pattern).HasZone() && got.Location() != tt.loc {
				t.Errorf("Parse(%q) location = %v; want %v", tt.in, got.Location(), tt.loc)
			}
		})
	}
}

func TestParseKeepsLocation(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	tests := []struct {
		pattern, in string
		want        *time.Location
	}{
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41-07:00", la},
		{"yyyy-MM-dd'T'HH:mm:ss z", "2015-01-18T11:47:41 PST", la},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41Z", time.UTC},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41-08:00", nil}, // a fixed zone
	}
	for _, tt := range tests {
		got, err := MustCompile(tt.pattern).Parse(tt.in, la)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if tt.want != nil && got.Location() != tt.want || tt.want == nil && got.Location() == la {
			t.Errorf("Parse(%q) location = %v; want %v", tt.in, got.Location(), tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		pattern, in string
		col         int
		msg         string
	}{
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41Zjunk", 21, `unexpected text "junk" after the end of the pattern`},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41", 20, "expected UTC offset such as Z, +05:30 or -0800, found end of text"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18 11:47:41Z", 11, `expected "T", found ' '`},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-13-18T11:47:41Z", 6, "month out of range"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-02-29T11:47:41Z", 9, "day does not exist"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T24:47:41Z", 12, "hour out of range"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:60:41Z", 15, "minute out of range"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41+19:00", 20, "expected UTC offset"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "", 1, "expected year, found end of text"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "é015-08-18T11:47:41Z", 1, "expected year, found 'é'"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2015-08-18T11:47:41.12Z", 21, "fraction of second (at least 3 digits)"},
		{"yyyyMMdd", "2015081", 7, "day of month (2 digits)"},
		{"EEE, dd MMM yyyy", "Tue, 18 Agu 2015", 9, "expected month name"},
		{"EEE, dd MMM yyyy", "Tux, 18 Aug 2015", 1, "expected day of week"},
		{"hh:mm a", "11:47 XM", 7, "expected AM or PM"},
		{"hh:mm a", "13:47 PM", 1, "hour out of range"},
		{"yyyy-MM-dd HH:mm z", "2015-08-18 11:47 Mars/Olympus", 18, `unknown time zone "Mars/Olympus"`},
		{"yyyy-MM-dd HH:mm z", "2015-08-18 11:47 ", 18, "expected time zone"},
		{"yyyy-DDD", "2015-366", 6, "day does not exist"},
		{"G yyyy", "XX 2015", 1, "expected era"},
		{"milliseconds", "12a", 1, "expected a number of epoch milliseconds"},
		{"timestamp", "", 1, "expected a number of epoch seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.in, func(t *testing.T) {
			got, err := MustCompile(tt.pattern).Parse(tt.in, nil)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, %v; want *ParseError", tt.in, got, err)
			}
			if pe.Col != tt.col || !strings.Contains(pe.Msg, tt.msg) || pe.Value != tt.in || pe.Pattern != tt.pattern {
				t.Errorf("Parse(%q) error = %v; want column %d containing %q", tt.in, err, tt.col, tt.msg)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	patterns := []struct {
		pattern string
		prec    time.Duration // precision the pattern keeps
	}{
		{"yyyy-MM-dd'T'HH:mm:ssXXX", time.Second},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", time.Millisecond},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSSXXXXX", time.Nanosecond},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSSSSxx", time.Microsecond},
		{"EEE, dd MMM yyyy HH:mm:ss z", time.Second},
		{"EEEE, MMMM d, yyyy h:mm:ss a VV", time.Second},
		{"MM/dd/yyyy hh:mm:ss a ZZZZ", time.Second},
		{"yyyyMMddHHmmssSSSX", time.Millisecond},
		{"G y-M-d K:m:s a O", time.Second},
		{"u-DDD k:mm:ss.n OOOO", time.Nanosecond},
		{"yy-MM-dd HH:mm:ss zzzz", time.Second},
		{"milliseconds", time.Millisecond},
		{"timestamp", time.Nanosecond},
	}
	var times []time.Time
	for _, name := range []string{"UTC", "America/Los_Angeles", "Asia/Kolkata", "Australia/Adelaide", "America/New_York", "Europe/London"} {
		loc := mustLoad(t, name)
		times = append(times,
			time.Date(2015, 8, 18, 11, 47, 41, 123456789, loc),
			time.Date(2024, 1, 5, 0, 0, 0, 0, loc),
			time.Date(2024, 2, 29, 12, 30, 59, 999999999, loc),
			time.Date(2037, 12, 31, 23, 59, 1, 1000, loc))
	}
	for _, p := range patterns {
		l := MustCompile(p.pattern)
		for _, tm := range times {
			s := l.Format(tm)
			got, err := l.Parse(s, nil)
			if err != nil {
				t.Errorf("%s: Parse(Format(%v) = %q): %v", p.pattern, tm, s, err)
				continue
			}
			if want := tm.Truncate(p.prec); !got.Equal(want) {
				t.Errorf("%s: Parse(%q) = %v; want %v", p.pattern, s, got, want)
			}
		}
	}
}

func TestEpoch(t *testing.T) {
	tests := []struct {
		pattern, in string
		want        time.Time
		format      string // Format(want); "" means in
	}{
		{"milliseconds", "1534778974827", time.UnixMilli(1534778974827), ""},
		{"milliseconds", "1.534778974827E12", time.UnixMilli(1534778974827), "1534778974827"},
		{"milliseconds", "1534778974827.5", time.Unix(1534778974, 827500000), "1534778974827"},
		{"milliseconds", "-1000", time.Unix(-1, 0), ""},
		{"milliseconds", "0", time.Unix(0, 0), ""},
		{"timestamp", "1534778974", time.Unix(1534778974, 0), ""},
		{"timestamp", "1534778974.5", time.Unix(1534778974, 5e8), ""},
		{"timestamp", "1534778974.000000001", time.Unix(1534778974, 1), ""},
		{"timestamp", "1534778974.0000000019", time.Unix(1534778974, 1), "1534778974.000000001"},
		{"timestamp", "-2.5", time.Unix(-3, 5e8), ""},
		{"timestamp", "+15e2", time.Unix(1500, 0), "1500"},
		{"timestamp", ".5", time.Unix(0, 5e8), "0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"/"+tt.in, func(t *testing.T) {
			l := MustCompile(tt.pattern)
			if !l.HasZone() {
				t.Error("HasZone() = false")
			}
			got, err := l.Parse(tt.in, time.Local)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("Parse(%q) = %v; want %v in UTC", tt.in, got, tt.want.UTC())
			}
			want := tt.format
			if want == "" {
				want = tt.in
			}
			if s := l.Format(tt.want); s != want {
				t.Errorf("Format(%v) = %q; want %q", tt.want, s, want)
			}
		})
	}
	for _, bad := range []string{"", "-", "1e", "1.2.3", "0x10", "12 ", "1e99999", "99999999999999999999999"} {
		if got, err := MustCompile("timestamp").Parse(bad, nil); err == nil {
			t.Errorf("Parse(%q) = %v; want an error", bad, got)
		}
	}
}

func TestParseZone(t *testing.T) {
	summer := time.Date(2018, 8, 20, 12, 0, 0, 0, time.UTC)
	winter := time.Date(2018, 1, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in           string
		summer, wint int // offsets in seconds
	}{
		{"UTC", 0, 0},
		{"GMT", 0, 0},
		{"Z", 0, 0},
		{"utc", 0, 0},
		{"America/New_York", -4 * 3600, -5 * 3600},
		{"Europe/London", 3600, 0},
		{"Etc/GMT+8", -8 * 3600, -8 * 3600},
		{"PST", -8 * 3600, -8 * 3600},
		{"PDT", -7 * 3600, -7 * 3600},
		{"EST", -5 * 3600, -5 * 3600},
		{"EDT", -4 * 3600, -4 * 3600},
		{"CST", -6 * 3600, -6 * 3600},
		{"CDT", -5 * 3600, -5 * 3600},
		{"MST", -7 * 3600, -7 * 3600},
		{"MDT", -6 * 3600, -6 * 3600},
		{"CET", 3600, 3600},
		{"CEST", 7200, 7200},
		{"BST", 3600, 3600},
		{"IST", 19800, 19800},
		{"JST", 9 * 3600, 9 * 3600},
		{"AEST", 10 * 3600, 10 * 3600},
		{"-8:00", -8 * 3600, -8 * 3600},
		{"-08:00", -8 * 3600, -8 * 3600},
		{"+0530", 19800, 19800},
		{"+05", 5 * 3600, 5 * 3600},
		{"-8", -8 * 3600, -8 * 3600},
		{"GMT-8", -8 * 3600, -8 * 3600},
		{"GMT+05:30", 19800, 19800},
		{"UTC+2", 7200, 7200},
		{"+05:30:15", 19815, 19815},
		{" America/Chicago ", -5 * 3600, -6 * 3600},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			loc, err := ParseZone(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if _, off := summer.In(loc).Zone(); off != tt.summer {
				t.Errorf("summer offset = %d; want %d", off, tt.summer)
			}
			if _, off := winter.In(loc).Zone(); off != tt.wint {
				t.Errorf("winter offset = %d; want %d", off, tt.wint)
			}
			again, err := ParseZone(loc.String())
			if err != nil {
				t.Errorf("ParseZone(%q) (its own name): %v", loc.String(), err)
			} else if _, off := summer.In(again).Zone(); off != tt.summer {
				t.Errorf("ParseZone(%q) summer offset = %d; want %d", loc.String(), off, tt.summer)
			}
		})
	}
	for _, bad := range []string{"", "Local", "Mars/Olympus", "+19:00", "-8:61", "GMT+", "+", "../etc/passwd", "America//New_York", "PST8PDT!"} {
		if loc, err := ParseZone(bad); err == nil {
			t.Errorf("ParseZone(%q) = %v; want an error", bad, loc)
		}
	}
}

func TestHasZone(t *testing.T) {
	tests := []struct {
		pattern string
		want    bool
	}{
		{"yyyy-MM-dd'T'HH:mm:ssXXX", true},
		{"yyyy-MM-dd'T'HH:mm:ss'Z'", false},
		{"yyyy-MM-dd HH:mm:ss", false},
		{"HH:mm x", true},
		{"HH:mm Z", true},
		{"HH:mm ZZZZZ", true},
		{"HH:mm z", true},
		{"HH:mm VV", true},
		{"HH:mm O", true},
		{"milliseconds", true},
		{"timestamp", true},
	}
	for _, tt := range tests {
		l := MustCompile(tt.pattern)
		if got := l.HasZone(); got != tt.want {
			t.Errorf("%q: HasZone() = %v; want %v", tt.pattern, got, tt.want)
		}
		if l.String() != tt.pattern {
			t.Errorf("String() = %q; want %q", l.String(), tt.pattern)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	tests := []struct{ pattern, in string }{
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41Z"},
		{"yyyy-MM-dd'T'HH:mm:ssXXX", "2015-08-18T11:47:41+05:30"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2015-08-18T11:47:41.123-0700"},
		{"yyyy-MM-dd'T'HH:mm:ss'Z'", "2015-08-18T11:47:41Z"},
		{"EEE, dd MMM yyyy HH:mm:ss z", "Tue, 18 Aug 2015 11:47:41 PDT"},
		{"milliseconds", "1534778974827"},
	}
	for _, tt := range tests {
		l := MustCompile(tt.pattern)
		if n := testing.AllocsPerRun(100, func() { _, _ = l.Parse(tt.in, nil) }); n != 0 {
			t.Errorf("Parse(%q) with %q: %v allocations; want 0", tt.in, tt.pattern, n)
		}
		tm, _ := l.Parse(tt.in, nil)
		buf := make([]byte, 0, 64)
		if n := testing.AllocsPerRun(100, func() { buf = l.AppendFormat(buf[:0], tm) }); n != 0 {
			t.Errorf("AppendFormat with %q: %v allocations; want 0", tt.pattern, n)
		}
	}
}

func BenchmarkParseISO(b *testing.B) {
	l := MustCompile("yyyy-MM-dd'T'HH:mm:ssXXX")
	for _, in := range []string{"2015-08-18T11:47:41Z", "2015-08-18T11:47:41+05:30"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Parse(in, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendFormatISO(b *testing.B) {
	l := MustCompile("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
	t := time.Date(2015, 8, 18, 11, 47, 41, 123456789, time.FixedZone("", 19800))
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = l.AppendFormat(buf[:0], t)
	}
}

func TestCompileShares(t *testing.T) {
	a, err := Compile("yyyy-MM-dd'T'HH:mm:ssXXX")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Compile("yyyy-MM-dd'T'HH:mm:ssXXX")
	if a != b {
		t.Error("the same pattern compiled twice gives two Layouts")
	}
	if _, err := Compile("yyyy-MM-dd'T'HH:mm:ssXXX'"); err == nil {
		t.Error("a bad pattern compiled")
	}
}
