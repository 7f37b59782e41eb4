package ceql

import (
	"errors"
	"reflect"
	"testing"

	"github.com/expr-lang/expr"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"updated_since='2018-01-01T00:00:00Z' AND status = 2",
		"status IN (1, 2, 3) AND priority >= 2.5",
		"subject LIKE '%urgent%' OR subject NOT LIKE 'RE:\\_%'",
		"assignee IS NULL AND NOT (status = 'closed' OR status = 'solved')",
		"name = 'O''Brien' and contact.address.city <> 'Paris'",
		"`custom field` = true OR \"other field\" IS NOT NULL",
		"updated > '\x000\x00' AND created < '\x001\x00'",
		"(a = 1 AND b = 2) AND (c = 3 OR d = -4e-2)",
		"tags NOT IN ('spam', 'junk') AND score < -1",
		"$meta.x-y = false AND id != null",
		"a = 1 OR b = 2 AND c = 3",
		"NOT NOT x = 'multi\nline'",
		"a IN ()",
		"status = 'open",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("Parse(%q): bad error %#v", s, err)
			}
			return
		}
		printed := n.String()
		n2, err := Parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q) printed %q, which does not parse: %v", s, printed, err)
		}
		if again := n2.String(); again != printed {
			t.Fatalf("round trip of %q: printed %q, then %q", s, printed, again)
		}
		if !reflect.DeepEqual(stripPos(n), stripPos(n2)) {
			t.Fatalf("round trip of %q via %q changes the tree", s, printed)
		}
		if len(Fields(n)) < len(Conjuncts(n)) {
			t.Fatalf("%q: fewer fields than conjuncts", s)
		}
		src := ToExpr(n, recordField, LiteralExpr)
		env := map[string]any{"record": map[string]any{}}
		if _, err := expr.Compile(src, expr.Env(env), expr.AsBool()); err != nil {
			t.Fatalf("ToExpr(%q) = %q does not compile: %v", s, src, err)
		}
	})
}
