package chanmap

import (
	"fmt"
	"testing"
)

func TestMap(t *testing.T) {
	var m Map[int]
	if _, ok := m.Get("a", "x"); ok || count(&m) != 0 {
		t.Fatal("zero value not empty")
	}
	m.Set("a", "x", 1)
	m.Set("a", "y", 2)
	m.Set("b", "x", 3)
	m.Set("a", "x", 4) // replaces
	if v, ok := m.Get("a", "x"); !ok || v != 4 || count(&m) != 3 {
		t.Fatalf("get a/x = %d, %v; len %d", v, ok, count(&m))
	}
	// The app and the name are separate: ("a\x00b", "c") is not ("a", "b\x00c").
	m.Set("a\x00b", "c", 5)
	if _, ok := m.Get("a", "b\x00c"); ok {
		t.Fatal("keys run together")
	}
	m.Delete("a", "missing")
	m.Delete("b", "x")
	if _, ok := m.apps["b"]; ok || count(&m) != 3 {
		t.Fatalf("empty app level kept, or len %d", count(&m))
	}
	seen := map[string]int{}
	m.Range(func(app, name string, v int) bool {
		seen[fmt.Sprint(app, "/", name)] = v
		m.Delete(app, name) // allowed during Range
		return true
	})
	if len(seen) != 3 || seen["a/y"] != 2 || count(&m) != 0 || len(m.apps) != 0 {
		t.Fatalf("range saw %v; left %d", seen, count(&m))
	}
	m.Set("a", "x", 1)
	m.Set("a", "y", 1)
	calls := 0
	m.Range(func(string, string, int) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("range went on after false: %d calls", calls)
	}
}

// count is the number of entries, by Range.
func count[V any](m *Map[V]) int {
	n := 0
	m.Range(func(string, string, V) bool { n++; return true })
	return n
}
