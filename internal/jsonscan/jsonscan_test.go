package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote \" and \\ back", "tab\tnl\nret\r\b\f/", "é ü 中文 😀", "\u0000\u001f", "<>&"} {
		raw, _ := json.Marshal(s)
		got, err := String(raw)
		if err != nil || got != s {
			t.Fatalf("%q: got %q %v", s, got, err)
		}
	}
	for in, want := range map[string]string{`"\ud83d\ude00"`: "😀", `"\u00e9"`: "é", `"\/"`: "/", `"\ud800x"`: "\uFFFDx"} {
		if got, err := String([]byte(in)); err != nil || got != want {
			t.Fatalf("%s: got %q %v", in, got, err)
		}
	}
	for _, bad := range []string{`"`, `x`, `"\q"`, `"\u12"`, `"a\"`} {
		if _, err := String([]byte(bad)); err == nil {
			t.Fatalf("%s: want error", bad)
		}
	}
}

func TestObjectArraySkip(t *testing.T) {
	doc := []byte(` {"a" : "x\"}]" , "b":[1,{"c":"]"},[]], "d":-1.5e3,"e":true,"f":null,"g":{}} `)
	var keys []string
	var vals []string
	end, err := Fields(doc, 0, func(k []byte, s, e int) {
		keys = append(keys, string(k))
		vals = append(vals, string(doc[s:e]))
	})
	if err != nil || end != len(doc)-1 {
		t.Fatalf("end %d err %v", end, err)
	}
	want := []string{`"x\"}]"`, `[1,{"c":"]"},[]]`, `-1.5e3`, `true`, `null`, `{}`}
	for i := range want {
		if vals[i] != want[i] {
			t.Fatalf("value %s = %s, want %s", keys[i], vals[i], want[i])
		}
	}
	var elems []string
	arr := []byte(`[ "a\\", {"x":[1]} ,3 ]`)
	if _, err := Array(arr, 0, func(s int) (int, error) {
		e := SkipValue(arr, s)
		elems = append(elems, string(arr[s:e]))
		return e, nil
	}); err != nil || len(elems) != 3 || elems[0] != `"a\\"` || Count(arr, 0) != 3 {
		t.Fatalf("%v %v", elems, err)
	}
	for _, bad := range []string{`{"a" 1}`, `{"a":}`, `{"a":1,}`, `{"a":1`, `[1 2]`, `{"a":"}`} {
		_, err1 := Object([]byte(bad), 0, func([]byte, int) int { return -1 })
		_, err2 := Array([]byte(bad), 0, func(int) (int, error) { return -1, nil })
		if err1 == nil && err2 == nil {
			t.Fatalf("%s: want an error", bad)
		}
	}
}

// FuzzSkipValueMatchesEncodingJSON is the differential test of the skipper:
// SkipValue accepts exactly what encoding/json calls valid (nesting beyond
// MaxDepth aside, which it refuses on purpose), and ends where its value does.
func FuzzSkipValueMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`{"a":"\\\""}`, `[1,"]",{"b":[]}]`, `"x"`, `12`, `{"a":[{"b":"c\\\\"}]}`,
		`[1,2}`, `{"a":1]`, `[tru]`, `[nul]`, `[01]`, `[1.]`, `[-]`, `[1e]`, `"\x"`, "\"a\tb\"", `{"a" 1}`,
		`{"m\u0065ssages":[]}`, `[1,]`, `{,}`, `[[[[]]]]`, `-0.5E+12`, `"\u12g4"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := []byte(s)
		i := SkipSpace(b, 0)
		end := SkipValue(b, i)
		got := end >= 0 && SkipSpace(b, end) == len(b)
		want := json.Valid(b)
		if got == want {
			return
		}
		if want && depth(b) > MaxDepth {
			return
		}
		t.Fatalf("%q: SkipValue valid=%v (end %d), encoding/json valid=%v", s, got, end, want)
	})
}

// depth is the maximum bracket nesting of valid JSON b.
func depth(b []byte) int {
	d, m := 0, 0
	dec := json.NewDecoder(bytesReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return m
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			d++
			m = max(m, d)
		case json.Delim('}'), json.Delim(']'):
			d--
		}
	}
}

func TestSkipValueRefusesMalformed(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	for _, bad := range []string{`[1,2}`, `{"a":1]`, `[tru]`, `[truex]`, `[nulll]`, `[01]`, `[1.]`, `[.5]`, `[+1]`,
		`[-]`, `[1e]`, `["\x"]`, "[\"a\tb\"]", "[\"\x01\"]", `["\u12g4"]`, `[1,]`, `{,}`, `{"a":}`, `{"a"}`,
		`{1:2}`, `[1 2]`, `[`, `{"a":[}`, `"`, `x`, deep} {
		b := []byte(bad)
		if e := SkipValue(b, 0); e >= 0 && e == len(b) {
			t.Errorf("%.40q: skipped as valid", bad)
		}
	}
	for _, good := range []string{`[1,2]`, `{"a":[true,false,null,-0,0.5,1e5,2E-3]}`, `"\u00e9\n"`, `{ "a" : { } , "b" : [ ] }`, ok} {
		if e := SkipValue([]byte(good), 0); e != len(good) {
			t.Errorf("%.40q: end %d, want %d", good, e, len(good))
		}
	}
}

func TestObjectUnescapesKeys(t *testing.T) {
	var keys []string
	if _, err := Object([]byte(`{"m\u0065ssages":1,"mod\u0065l":2,"plain":3}`), 0, func(k []byte, s int) int {
		keys = append(keys, string(k))
		return -1
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "messages,model,plain" {
		t.Fatalf("keys %q", keys)
	}
}

func TestHasControl(t *testing.T) {
	for n := 0; n < 20; n++ {
		for at := 0; at < n; at++ {
			for _, c := range []byte{0x00, 0x1f, '\n'} {
				b := []byte(strings.Repeat("é", n)[:n])
				b[at] = c
				if !hasControl(b) {
					t.Fatalf("%q: control byte %#x at %d not found", b, c, at)
				}
			}
		}
		if b := []byte(strings.Repeat("a\x7f\xff ", n)); hasControl(b) {
			t.Fatalf("%q: false positive", b)
		}
	}
}

func FuzzStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`"a"`, `"\"x\\"`, `"\u00e9\n\t"`, `"\ud83d\ude00"`, `"a\\\"b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want string
		werr := json.Unmarshal([]byte(s), &want)
		got, gerr := String([]byte(strings.Trim(s, " \t\n\r")))
		if werr != nil || !utf8.ValidString(s) {
			return // lenient on what encoding/json rejects; invalid UTF-8 is substituted there
		}
		if gerr != nil || got != want {
			t.Fatalf("%q: got %q (%v), want %q", s, got, gerr, want)
		}
	})
}

func TestMeasure(t *testing.T) {
	for in, want := range map[string]int{`1`: 1, `"x"`: 1, `[]`: 1, `{}`: 1, `[{},{},{}]`: 4, `{"a":[1,2],"b":{"c":null}}`: 6} {
		end, n := Measure([]byte(in), 0)
		if end != len(in) || n != want {
			t.Errorf("%s: end %d values %d, want %d", in, end, n, want)
		}
	}
	if end, _ := Measure([]byte(`[1,}`), 0); end >= 0 {
		t.Error("malformed input measured")
	}
}

func TestAppendStringsIsMarshal(t *testing.T) {
	for _, ss := range [][]string{nil, {}, {"a"}, {"a \"b\"", "", "é\n\u2028"}} {
		want, _ := json.Marshal(ss)
		if ss == nil {
			want = []byte("[]") // an absent array is the caller's to omit
		}
		if got := AppendStrings([]byte("x"), ss); string(got[1:]) != string(want) {
			t.Errorf("%q: got %s, want %s", ss, got[1:], want)
		}
	}
}
