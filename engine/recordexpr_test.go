package engine

import (
	"testing"

	"github.com/expr-lang/expr/vm"
)

func TestRecordExpr(t *testing.T) {
	for _, c := range []struct {
		src, rec string
		want     bool
	}{
		{`record.deleted == true`, `{"deleted":true}`, true},
		{`record.deleted == true`, `{"id":1}`, false},
		{`record.status == 2 && record.custom_fields.cf_category == "Primary"`, `{"status":2,"custom_fields":{"cf_category":"Primary"}}`, true},
		{`record.tags[0] == "vip"`, `{"tags":["vip"]}`, true},
		{`record["a.b"] == 1`, `{"a.b":1}`, true},
		{`record?.x?.y == nil`, `{}`, true},
		{`len(record.tags) == 2`, `{"tags":[1,2]}`, true},
		{`record.id == 67042965499`, `{"id":67042965499}`, true},
		{`record.subject contains "help"`, `{"subject":"need help"}`, true},
		{`tpl[0] == "x"`, `{}`, true},
	} {
		p, err := compileRecordExpr(c.src)
		if err != nil {
			t.Fatalf("%s: %v", c.src, exprError(err))
		}
		var m vm.VM
		v := &recordView{}
		v.reset(c.rec)
		got, err := runRecordExpr(&m, p, &recordEnv{Record: v, Tpl: []string{"x"}})
		if err != nil || got != c.want {
			t.Errorf("%s on %s = %v, %v", c.src, c.rec, got, err)
		}
	}
	_, err := compileRecordExpr(`record.deleted ==`)
	if err == nil || exprError(err).Error() != "unexpected token EOF (1:17)" {
		t.Errorf("broken expr: got %v", err)
	}
}
