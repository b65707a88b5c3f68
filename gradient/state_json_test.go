package gradient

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
)

// marshalState is encoding/json's encoding of st without HTML escaping,
// which AppendJSON is to equal byte for byte.
func marshalState(t testing.TB, st *State) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(st); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// fill sets every field reachable from v (structs, pointers, slices) to a
// value drawn from r, zero about one time in three, so both sides of every
// omitempty are seen; a field added to State is filled too.
func fill(v reflect.Value, r *rand.Rand) {
	zero := r.IntN(3) == 0
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(v.Field(i), r)
		}
	case reflect.Pointer:
		if zero {
			v.SetZero()
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), r)
	case reflect.Slice:
		n := r.IntN(4)
		if zero {
			n = 0
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fill(s.Index(i), r)
		}
		v.Set(s)
	case reflect.Int:
		if !zero {
			v.SetInt(r.Int64N(1<<40) - 1<<39)
		}
	case reflect.Bool:
		v.SetBool(!zero)
	case reflect.String:
		if !zero {
			strs := []string{"msg_01", `quote " and \ back`, "<html> & friends", "tab\tnew\nline\x01", "bad \xff utf8", "line sep \u2028 \u2029", "é ü 漢字 🎉"}
			v.SetString(strs[r.IntN(len(strs))])
		}
	default:
		panic("fill: a State field of kind " + v.Kind().String() + ": teach fill and AppendJSON about it")
	}
}

func TestAppendJSONIsMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var empty State
	if got, want := empty.AppendJSON(nil), marshalState(t, &empty); !bytes.Equal(got, want) {
		t.Fatalf("zero state:\n got %s\nwant %s", got, want)
	}
	for i := 0; i < 2000; i++ {
		var st State
		fill(reflect.ValueOf(&st).Elem(), r)
		got, want := st.AppendJSON([]byte("prefix")), marshalState(t, &st)
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("state %d:\n got %s\nwant %s", i, got[len("prefix"):], want)
		}
		var back State
		if err := json.Unmarshal(got[len("prefix"):], &back); err != nil {
			t.Fatal(err)
		}
		if again := back.AppendJSON(nil); !bytes.Equal(again, want) && !hasInvalidUTF8(&st) {
			t.Fatalf("state %d does not survive a round trip:\n got %s\nwant %s", i, again, want)
		}
	}
}

// hasInvalidUTF8: such a string is stored as U+FFFD, so it does not come
// back as it was (as with encoding/json).
func hasInvalidUTF8(st *State) bool {
	return bytes.Contains(marshalState(nil, st), []byte(`\ufffd`))
}

func FuzzAppendJSON(f *testing.F) {
	f.Add(3, 1200, "msg_1", "part one", "<b>", true)
	f.Fuzz(func(t *testing.T, layer, n int, id, part, hash string, forced bool) {
		st := State{LastLayer: layer, Overhead: n, LastWindow: Window{StartID: id, Count: n}, Pin: &Pin{Index: n, ID: id},
			Prefix: PrefixCache{Rows: n, LastID: id, Parts: []string{part, hash}}, LastPrefixHash: hash, LastLayerForced: forced}
		if got, want := st.AppendJSON(nil), marshalState(t, &st); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkStateJSON(b *testing.B) {
	st := State{LastLayer: 1, Overhead: 15234, OverheadSamples: 12, LastKnownInput: 81234, LastKnownMessageCount: 140,
		KnownWindow:           Window{Start: 40, StartID: "m_0123456789abcdef", Count: 140, LastID: "m_fedcba9876543210"},
		LastTransformEstimate: 60000, LastWindow: Window{Start: 40, StartID: "m_0123456789abcdef", Count: 142, LastID: "m_fedcba9876543211"},
		Growth: 2100, Pin: &Pin{Index: 40, ID: "m_0123456789abcdef"}, LastPrefixHash: "9f86d081884c7d65", TransformCount: 70, BustCount: 3}
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(&st)
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = st.AppendJSON(make([]byte, 0, 512))
		}
	})
}
