package macro

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pollen-hq/pollen/engine/javadate"
)

const seedURL = "/hubs/helpdesk/incidents?where=updated_since='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'"

var (
	summer = time.Date(2018, 8, 20, 15, 29, 6, 827e6, time.UTC) // 1534778946.827
	winter = time.Date(2018, 1, 20, 15, 29, 6, 827e6, time.UTC)
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestExpand(t *testing.T) {
	la := mustLoad(t, "America/Los_Angeles")
	tests := []struct {
		name     string
		template string
		server   *time.Location
		at       time.Time
		want     string
	}{
		{"seed url", seedURL, nil, summer, "/hubs/helpdesk/incidents?where=updated_since='2018-08-20T15:29:06Z'"},
		{"gmtDate ignores the server zone", seedURL, la, summer, "/hubs/helpdesk/incidents?where=updated_since='2018-08-20T15:29:06Z'"},
		{"gmtDate of a non-UTC time", "${gmtDate:yyyy-MM-dd'T'HH:mm:ss.SSSXXX}", nil, summer.In(la), "2018-08-20T15:29:06.827Z"},
		{"gmtDate brace in quotes", "${gmtDate:'}'yyyy'{'}x", nil, summer, "}2018{x"},
		{"gmtDate milliseconds", "${gmtDate:milliseconds}", nil, summer, "1534778946827"},
		{"date default UTC", "${date:yyyy-MM-dd HH:mm:ss z}", nil, summer, "2018-08-20 15:29:06 UTC"},
		{"date server zone summer", "${date:yyyy-MM-dd HH:mm:ss z}", la, summer, "2018-08-20 08:29:06 PDT"},
		{"date server zone winter", "${date:yyyy-MM-dd HH:mm:ss z}", la, winter, "2018-01-20 07:29:06 PST"},
		{"dateTimeZone PST", "${dateTimeZone:PST:yyyy-MM-dd'T'HH:mm:ssXXX}", nil, summer, "2018-08-20T07:29:06-08:00"},
		{"dateTimeZone -8:00", "${dateTimeZone:-8:00:yyyy-MM-dd'T'HH:mm:ssXXX}", nil, summer, "2018-08-20T07:29:06-08:00"},
		{"dateTimeZone GMT+05:30", "${dateTimeZone:GMT+05:30:HH:mm}", nil, summer, "20:59"},
		{"dateTimeZone UTC with colons in format", "${dateTimeZone:UTC:HH:mm:ss}", nil, summer, "15:29:06"},
		{"dateTimeZone New York summer", "${dateTimeZone:America/New_York:yyyy-MM-dd'T'HH:mm:ssXXX}", nil, summer, "2018-08-20T11:29:06-04:00"},
		{"dateTimeZone New York winter", "${dateTimeZone:America/New_York:yyyy-MM-dd'T'HH:mm:ssXXX}", nil, winter, "2018-01-20T10:29:06-05:00"},
		{"epoch", "${epoch}", nil, summer, "1534778946827"},
		{"epoch ms", "${epoch:ms}", nil, summer, "1534778946827"},
		{"epoch s", "${epoch:s}", nil, summer, "1534778946"},
		{"epoch us", "${epoch:us}", nil, summer, "1534778946827000"},
		{"several macros", "a=${epoch:s}&b=${gmtDate:yyyy}${epoch:s}$x{y}$", nil, summer, "a=1534778946&b=20181534778946$x{y}$"},
		{"no macros", "/hubs/x/y?where=a='b'", nil, summer, "/hubs/x/y?where=a='b'"},
		{"empty", "", nil, summer, ""},
		{"long", strings.Repeat("x", 300) + "${epoch}", nil, summer, strings.Repeat("x", 300) + "1534778946827"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := Compile(tt.template, tt.server)
			if err != nil {
				t.Fatal(err)
			}
			if got := tpl.Expand(tt.at); got != tt.want {
				t.Errorf("Expand = %q; want %q", got, tt.want)
			}
			if got := string(tpl.AppendExpand([]byte("pre:"), tt.at)); got != "pre:"+tt.want {
				t.Errorf("AppendExpand = %q; want %q", got, "pre:"+tt.want)
			}
			if tpl.String() != tt.template {
				t.Errorf("String() = %q; want %q", tpl.String(), tt.template)
			}
			if got, want := tpl.HasMacros(), strings.Contains(tt.template, "${"); got != want {
				t.Errorf("HasMacros() = %v; want %v", got, want)
			}
		})
	}
}

func TestMacros(t *testing.T) {
	tpl, err := Compile("a${epoch:s}b${dateTimeZone:-8:00:HH:mm}c", nil)
	if err != nil {
		t.Fatal(err)
	}
	ms := tpl.Macros()
	want := []string{"${epoch:s}", "${dateTimeZone:-8:00:HH:mm}"}
	if len(ms) != len(want) {
		t.Fatalf("Macros() = %v; want %d", ms, len(want))
	}
	for i, m := range ms {
		if m.String() != want[i] {
			t.Errorf("Macros()[%d] = %q; want %q", i, m.String(), want[i])
		}
	}
	if got := string(ms[1].AppendValue([]byte("x"), summer)); got != "x07:29" {
		t.Errorf("AppendValue = %q; want %q", got, "x07:29")
	}
	ms[0] = nil // the caller's copy
	if tpl.Macros()[0] == nil {
		t.Error("Macros() returned the template's own slice")
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		template string
		col      int
		msg      string
		cause    bool // wraps an underlying error
	}{
		{"/x?a=${gmtDate:yyyy", 6, "unterminated macro: no closing '}'", false},
		{"/x?a=${gmtDate:'yyyy}", 6, "unbalanced quote", false},
		{"/x?a=${foo:bar}", 6, `unknown macro "foo"`, false},
		{"${gmtDate:yyyy-QQ}", 16, "bad date format", true},
		{"é${gmtDate:yyyy ]}", 17, "bad date format", true},
		{"${gmtDate}", 1, "needs a date format", false},
		{"${gmtDate:}", 1, "needs a date format", false},
		{"${date:}", 1, "needs a date format", false},
		{"${epoch:ns}", 9, `unknown epoch unit "ns"`, false},
		{"${dateTimeZone:Mars/Base:yyyy}", 16, "bad zone", true},
		{"${dateTimeZone:PST}", 16, "needs a zone and a date format", false},
		{"${dateTimeZone}", 1, "needs a zone and a date format", false},
		{"${dateTimeZone:PST:}", 1, "needs a date format", false},
		{"${dateTimeZone:PST:yyyy-QQ}", 25, "bad date format", true},
		{"${gmtDate-x}", 10, `expected ':' or '}' after macro name "gmtDate"`, false},
		{"${}", 3, "expected a macro name", false},
		{"é${nope}", 2, `unknown macro "nope"`, false},
		{"a\x00b", 2, "NUL character", false},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			tpl, err := Compile(tt.template, nil)
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("Compile(%q) = %v, %v; want *Error", tt.template, tpl, err)
			}
			if me.Col != tt.col || !strings.Contains(me.Msg, tt.msg) || me.Template != tt.template {
				t.Errorf("error = %v (col %d); want column %d containing %q", err, me.Col, tt.col, tt.msg)
			}
			if (me.Err != nil) != tt.cause || (errors.Unwrap(err) != nil) != tt.cause {
				t.Errorf("error = %v; underlying error %v, want one: %v", err, me.Err, tt.cause)
			}
		})
	}
	_, err := Compile("${gmtDate:yyyy-QQ}", nil)
	var je *javadate.Error
	if !errors.As(err, &je) || je.Col != 6 {
		t.Errorf("Compile error %v does not wrap the *javadate.Error at column 6", err)
	}
}

func TestMaskedUnmask(t *testing.T) {
	const src = "/hubs/x/y?where=a='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' and b = '${epoch:s} ago' or c='${epoch}'&pageSize=5"
	tpl, err := Compile(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantMasked := "/hubs/x/y?where=a='\x000\x00' and b = '\x001\x00 ago' or c='\x002\x00'&pageSize=5"
	if got := tpl.Masked(); got != wantMasked {
		t.Fatalf("Masked() = %q; want %q", got, wantMasked)
	}
	tests := []struct {
		name, masked string
		wantText     string
		wantExpand   string
		wantMasked   string
		wantMacros   []int // indexes into tpl.Macros()
	}{
		{"whole", wantMasked, src, "/hubs/x/y?where=a='2018-08-20T15:29:06Z' and b = '1534778946 ago' or c='1534778946827'&pageSize=5", wantMasked, []int{0, 1, 2}},
		{"one macro", "\x001\x00", "${epoch:s}", "1534778946", "\x000\x00", []int{1}},
		{"text around", "since \x001\x00 until \x000\x00!", "since ${epoch:s} until ${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}!", "since 1534778946 until 2018-08-20T15:29:06Z!", "since \x000\x00 until \x001\x00!", []int{1, 0}},
		{"repeated", "\x002\x00\x002\x00", "${epoch}${epoch}", "15347789468271534778946827", "\x000\x00\x001\x00", []int{2, 2}},
		{"no macros", "plain", "plain", "plain", "plain", nil},
		{"empty", "", "", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := Unmask(tt.masked, tpl.Macros())
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != tt.wantText {
				t.Errorf("String() = %q; want %q", u.String(), tt.wantText)
			}
			if got := u.Expand(summer); got != tt.wantExpand {
				t.Errorf("Expand = %q; want %q", got, tt.wantExpand)
			}
			if u.Masked() != tt.wantMasked {
				t.Errorf("Masked() = %q; want %q", u.Masked(), tt.wantMasked)
			}
			ms := u.Macros()
			if len(ms) != len(tt.wantMacros) || u.HasMacros() != (len(tt.wantMacros) > 0) {
				t.Fatalf("Macros() = %v; want %d macros", ms, len(tt.wantMacros))
			}
			for i, k := range tt.wantMacros {
				if ms[i] != tpl.Macros()[k] {
					t.Errorf("Macros()[%d] = %v; want the template's macro %d", i, ms[i], k)
				}
			}
			// Compiling the unmasked text gives the same expansion.
			again, err := Compile(u.String(), nil)
			if err != nil || again.Expand(summer) != tt.wantExpand {
				t.Errorf("Compile(%q) = %v, %v", u.String(), again, err)
			}
		})
	}
}

func TestUnmaskErrors(t *testing.T) {
	tpl, err := Compile("${epoch}${epoch:s}", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		masked string
		col    int
		msg    string
	}{
		{"x\x002\x00", 2, "macro placeholder 2 out of range: 2 macros"},
		{"\x0099999999999\x00", 1, "malformed macro placeholder"},
		{"é\x00x\x00", 2, "malformed macro placeholder"},
		{"\x00", 1, "malformed macro placeholder"},
		{"\x001", 1, "malformed macro placeholder"},
		{"\x000\x00\x00", 4, "malformed macro placeholder"},
	}
	for _, tt := range tests {
		u, err := Unmask(tt.masked, tpl.Macros())
		var me *Error
		if !errors.As(err, &me) {
			t.Errorf("Unmask(%q) = %v, %v; want *Error", tt.masked, u, err)
			continue
		}
		if me.Col != tt.col || !strings.Contains(me.Msg, tt.msg) {
			t.Errorf("Unmask(%q) error = %v; want column %d containing %q", tt.masked, err, tt.col, tt.msg)
		}
	}
}

func TestPlaceholder(t *testing.T) {
	tpl, err := Compile("${epoch}", nil)
	if err != nil {
		t.Fatal(err)
	}
	macros := make([]*Macro, 1000)
	for i := range macros {
		macros[i] = tpl.Macros()[0]
	}
	for i := range macros {
		p := Placeholder(i)
		if strings.ContainsAny(p, "'\" &=%+#}?/") {
			t.Fatalf("Placeholder(%d) = %q contains a forbidden character", i, p)
		}
		u, err := Unmask(p, macros)
		if err != nil || len(u.macros) != 1 {
			t.Fatalf("Unmask(Placeholder(%d)) = %v, %v", i, u, err)
		}
	}
}

func TestExpandAllocs(t *testing.T) {
	tests := []struct {
		template string
		want     float64
	}{
		{seedURL, 1},
		{"/hubs/x/y", 0},
		{"${dateTimeZone:America/New_York:yyyy-MM-dd'T'HH:mm:ssXXX} ${epoch:us}", 1},
	}
	for _, tt := range tests {
		tpl, err := Compile(tt.template, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = tpl.Expand(summer) }); n != tt.want {
			t.Errorf("Expand(%q): %v allocations; want %v", tt.template, n, tt.want)
		}
		buf := make([]byte, 0, 256)
		if n := testing.AllocsPerRun(100, func() { buf = tpl.AppendExpand(buf[:0], summer) }); n != 0 {
			t.Errorf("AppendExpand(%q): %v allocations; want 0", tt.template, n)
		}
	}
}

func BenchmarkExpand(b *testing.B) {
	tpl, err := Compile(seedURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = tpl.Expand(summer)
	}
}
