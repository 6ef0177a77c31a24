package chanmap

import (
	"fmt"
	"testing"
)

func TestMap(t *testing.T) {
	var m Map[int]
	if _, ok := m.Get("a", "x"); ok || m.Len() != 0 {
		t.Fatal("zero value not empty")
	}
	m.Set("a", "x", 1)
	m.Set("a", "y", 2)
	m.Set("b", "x", 3)
	m.Set("a", "x", 4) // replaces
	if v, ok := m.Get("a", "x"); !ok || v != 4 || m.Len() != 3 {
		t.Fatalf("get a/x = %d, %v; len %d", v, ok, m.Len())
	}
	// The app and the name are separate: ("a\x00b", "c") is not ("a", "b\x00c").
	m.Set("a\x00b", "c", 5)
	if _, ok := m.Get("a", "b\x00c"); ok {
		t.Fatal("keys run together")
	}
	m.Delete("a", "missing")
	m.Delete("b", "x")
	if _, ok := m.apps["b"]; ok || m.Len() != 3 {
		t.Fatalf("empty app level kept, or len %d", m.Len())
	}
	seen := map[string]int{}
	m.Range(func(app, name string, v int) bool {
		seen[fmt.Sprint(app, "/", name)] = v
		m.Delete(app, name) // allowed during Range
		return true
	})
	if len(seen) != 3 || seen["a/y"] != 2 || m.Len() != 0 || len(m.apps) != 0 {
		t.Fatalf("range saw %v; left %d", seen, m.Len())
	}
	m.Set("a", "x", 1)
	m.Set("a", "y", 1)
	calls := 0
	m.Range(func(string, string, int) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("range went on after false: %d calls", calls)
	}
}
