package loadgen

import (
	"encoding/json"
	"testing"
)

func TestScanStamp(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		ts, seq int64
		ok      bool
	}{
		{"server event, data string", `{"event":"bench","channel":"bench-fanout","data":"{\"sbt\":1718000000123456789,\"seq\":42,\"pad\":\"xx\"}"}`, 1718000000123456789, 42, true},
		{"keys sorted (baseline)", `{"channel":"c","data":"{\"sbt\":17,\"seq\":3,\"pad\":\"\"}","event":"bench"}`, 17, 3, true},
		{"client event, data object", `{"event":"client-bench","channel":"private-bench-0","data":{"sbt":99,"seq":7,"pad":"x"}}`, 99, 7, true},
		{"spaces", `{"data":{"sbt": 5, "seq": 6}}`, 5, 6, true},
		{"no sequence", `{"data":"{\"sbt\":5}"}`, 5, 0, true},
		{"control frame", `{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}`, 0, 0, false},
		{"key without number", `{"data":"sbt is not here"}`, 0, 0, false},
		{"truncated", `{"data":"{\"sbt\":`, 0, 0, false},
		{"empty", ``, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, seq, ok := scanStamp([]byte(tt.frame))
			if ok != tt.ok || ts != tt.ts || seq != tt.seq {
				t.Fatalf("scanStamp = %d, %d, %v; want %d, %d, %v", ts, seq, ok, tt.ts, tt.seq, tt.ok)
			}
		})
	}
}

func TestAppendPayload(t *testing.T) {
	for _, size := range []int{minPayload, 128, 1000, maxPayload} {
		p := appendPayload(nil, 1718000000123456789, 123456, size)
		if len(p) != size {
			t.Errorf("size %d: payload is %d bytes", size, len(p))
		}
		var v struct {
			SBT int64  `json:"sbt"`
			Seq int64  `json:"seq"`
			Pad string `json:"pad"`
		}
		if err := json.Unmarshal(p, &v); err != nil {
			t.Fatalf("size %d: payload %q is not JSON: %v", size, p, err)
		}
		if v.SBT != 1718000000123456789 || v.Seq != 123456 {
			t.Errorf("size %d: decoded %+v", size, v)
		}
		// As published: inside a JSON string inside the event frame.
		frame := appendJSONString([]byte(`{"event":"bench","data":`), p)
		frame = append(frame, '}')
		if ts, seq, ok := scanStamp(frame); !ok || ts != v.SBT || seq != v.Seq {
			t.Errorf("size %d: scan of the published frame = %d, %d, %v", size, ts, seq, ok)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	in := "a\"b\\c\nd\x01é"
	var out string
	if err := json.Unmarshal(appendJSONString(nil, []byte(in)), &out); err != nil || out != in {
		t.Fatalf("round trip = %q, %v; want %q", out, err, in)
	}
}

func FuzzScanStamp(f *testing.F) {
	f.Add([]byte(`{"event":"bench","channel":"bench-fanout","data":"{\"sbt\":1718000000123456789,\"seq\":42,\"pad\":\"xx\"}"}`))
	f.Add([]byte(`{"data":{"sbt":99,"seq":7}}`))
	f.Add([]byte(`sbt\":99999999999999999999999999`))
	f.Add([]byte(`sbt`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, seq, ok := scanStamp(b)
		if !ok && (ts != 0 || seq != 0) {
			t.Fatalf("not ok but returned %d, %d", ts, seq)
		}
		if ts < 0 || seq < 0 {
			t.Fatalf("negative values %d, %d", ts, seq)
		}
	})
}

// BenchmarkReceivePath is the load generator's own cost per received
// message above gws: find the stamp, record the latency. It must not
// allocate.
func BenchmarkReceivePath(b *testing.B) {
	frame := appendJSONString([]byte(`{"event":"bench","channel":"bench-fanout","data":`), appendPayload(nil, 1718000000123456789, 42, 128))
	frame = append(frame, '}')
	h := newHistogram()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts, _, ok := scanStamp(frame)
		if !ok {
			b.Fatal("no stamp")
		}
		h.record(i, (1718000000123456789+int64(i%50000)*1000-ts)/1000)
	}
}
