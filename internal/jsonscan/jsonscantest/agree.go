// Package jsonscantest holds the check every scanner built on jsonscan is
// fuzzed with.
package jsonscantest

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// Fuzz runs scan on every input the fuzzer makes from seeds (valid UTF-8
// only, as the callers ensure) and fails wherever scan answers and
// encoding/json disagrees: refuses the input or decodes another value.
func Fuzz[T any](f *testing.F, seeds []string, scan func([]byte, *T) bool) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		var fast T
		if !scan(b, &fast) {
			return
		}
		var ref T
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatalf("the scanner accepted %q, encoding/json refused it: %v", b, err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q:\nscanner       %+v\nencoding/json %+v", b, fast, ref)
		}
	})
}
