package engine

import (
	"errors"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/tidwall/gjson"
)

// recordEnv is what record expressions see: `record` is the vendor record, read lazily through
// a recordView, and `tpl` holds the values of this poll's where-clause macros.
type recordEnv struct {
	Record *recordView `expr:"record"`
	Tpl    []string    `expr:"tpl"`
}

// fieldFunc is the hidden function that record.a.b is rewritten into. It is registered under a
// name users cannot type by accident.
const fieldFunc = "__pollen_field"

// compileRecordExpr compiles a boolean expr over a record. Member chains rooted at `record`
// (record.deleted, record.custom_fields.cf_x, record.tags[0]) become one lookup each in the
// record's view, by an index into this program's own table of compiled paths, so an expression
// never decodes the whole record and never parses a path per record.
func compileRecordExpr(src string) (*vm.Program, error) {
	fp := &fieldPatcher{}
	return expr.Compile(src,
		expr.Env(recordEnv{}),
		expr.AsBool(),
		expr.Function(fieldFunc, func(params ...any) (any, error) {
			v, _ := params[0].(*recordView)
			i, _ := params[1].(int)
			if v == nil || i < 0 || i >= len(fp.paths) {
				return nil, nil
			}
			return gjsonValue(v.get(fp.paths[i])), nil
		}, new(func(*recordView, int) any)),
		expr.Patch(fp),
	)
}

// runRecordExpr evaluates a compiled record expression. The VM is reused by one goroutine.
func runRecordExpr(m *vm.VM, p *vm.Program, env *recordEnv) (bool, error) {
	out, err := m.Run(p, env)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// gjsonValue turns a gjson result into the value expr compares: integers as int (ids need 64
// bits), other numbers as float64, strings, booleans, nil for null or missing, and decoded
// objects and arrays.
func gjsonValue(r gjson.Result) any {
	switch r.Type {
	case gjson.Null:
		return nil
	case gjson.False:
		return false
	case gjson.True:
		return true
	case gjson.String:
		return r.Str
	case gjson.Number:
		if i, err := strconv.ParseInt(r.Raw, 10, 64); err == nil {
			return int(i)
		}
		return r.Num
	default:
		return r.Value()
	}
}

// fieldPatcher rewrites static member chains rooted at the identifier `record` into calls of
// fieldFunc with an index into its table of compiled paths. The walk is post-order, so an inner
// chain is already a call when its parent member node is visited; paths of inner chains stay in
// the table unused, which costs nothing per record.
type fieldPatcher struct {
	paths []*recordPath
}

func (fp *fieldPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		// A bare `record` that is not the root of a member chain gets the whole decoded record;
		// a chain root is replaced again by its parent, which extends the call's path.
		if n.Value == "record" {
			ast.Patch(node, fp.call("@this"))
		}
	case *ast.MemberNode:
		call, ok := n.Node.(*ast.CallNode)
		if !ok {
			return
		}
		base, ok := fp.pathOf(call)
		if !ok {
			return
		}
		seg, ok := pathSegment(n.Property)
		if !ok {
			return
		}
		if base == "@this" {
			base = seg
		} else {
			base = base + "." + seg
		}
		ast.Patch(node, fp.call(base))
	}
}

func (fp *fieldPatcher) call(path string) *ast.CallNode {
	fp.paths = append(fp.paths, compileRecordPath(path))
	return &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fieldFunc},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: "record"}, &ast.IntegerNode{Value: len(fp.paths) - 1}},
	}
}

// pathOf returns the path of a field call made by this patcher.
func (fp *fieldPatcher) pathOf(c *ast.CallNode) (string, bool) {
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok || id.Value != fieldFunc || len(c.Arguments) != 2 {
		return "", false
	}
	i, ok := c.Arguments[1].(*ast.IntegerNode)
	if !ok || i.Value < 0 || i.Value >= len(fp.paths) {
		return "", false
	}
	return fp.paths[i.Value].full, true
}

func pathSegment(prop ast.Node) (string, bool) {
	switch p := prop.(type) {
	case *ast.StringNode:
		return escapeGJSON(p.Value), true
	case *ast.IntegerNode:
		if p.Value < 0 {
			return "", false
		}
		return strconv.Itoa(p.Value), true
	}
	return "", false
}

// escapeGJSON escapes the characters gjson gives a meaning in a path component.
func escapeGJSON(s string) string {
	if !strings.ContainsAny(s, ".*?|#@\\!=<>%") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(".*?|#@\\!=<>%", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fieldPath turns a dotted field as users write it (customer.id, custom_fields.cf_x, tags.0)
// into a gjson path. Dots separate components; nothing else is special.
func fieldPath(field string) string {
	parts := strings.Split(field, ".")
	for i, p := range parts {
		parts[i] = escapeGJSON(p)
	}
	return strings.Join(parts, ".")
}

// exprError formats an expr compile error on one line, keeping its line:column.
func exprError(err error) error {
	msg := err.Error()
	// expr appends a source excerpt with a caret on following lines; the first line carries the
	// message and position.
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return errors.New(msg)
}
