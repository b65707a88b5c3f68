package auth

import (
	"net/http"
	"reflect"
	"testing"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want Credential
	}{
		{"api key", hdr("x-api-key", "sk-ant-1"), Credential{Scheme: SchemeAPIKey, Value: "sk-ant-1"}},
		{"bearer", hdr("Authorization", "Bearer tok-1"), Credential{Scheme: SchemeBearer, Value: "tok-1"}},
		{"bearer lower case", hdr("Authorization", "bearer tok-1"), Credential{Scheme: SchemeBearer, Value: "tok-1"}},
		{"bearer upper case", hdr("Authorization", "BEARER tok-1"), Credential{Scheme: SchemeBearer, Value: "tok-1"}},
		{"bearer several spaces", hdr("Authorization", "Bearer    tok-1"), Credential{Scheme: SchemeBearer, Value: "tok-1"}},
		{"api key as bearer (anthropic-sdk-go v2)", hdr("Authorization", "Bearer sk-ant-api03-k1"), Credential{Scheme: SchemeAPIKey, Value: "sk-ant-api03-k1"}},
		{"oauth token stays bearer", hdr("Authorization", "Bearer sk-ant-oat01-t1"), Credential{Scheme: SchemeBearer, Value: "sk-ant-oat01-t1"}},
		{"api key wins over bearer", hdr("x-api-key", "sk-ant-1", "Authorization", "Bearer tok-1"), Credential{Scheme: SchemeAPIKey, Value: "sk-ant-1"}},
		{"empty api key falls back to bearer", hdr("x-api-key", "", "Authorization", "Bearer tok-1"), Credential{Scheme: SchemeBearer, Value: "tok-1"}},
		{"blank api key falls back to bearer", hdr("x-api-key", "  ", "Authorization", "Bearer tok-1"), Credential{Scheme: SchemeBearer, Value: "tok-1"}},
		{"first non-empty api key", hdr("x-api-key", "", "x-api-key", "sk-2"), Credential{Scheme: SchemeAPIKey, Value: "sk-2"}},
		{"basic is none", hdr("Authorization", "Basic dXNlcjpwYXNz"), Credential{}},
		{"bearer without token", hdr("Authorization", "Bearer"), Credential{}},
		{"bearer with only spaces", hdr("Authorization", "Bearer   "), Credential{}},
		{"bearer glued to token", hdr("Authorization", "Bearertok-1"), Credential{}},
		{"bearer tab separator", hdr("Authorization", "Bearer\ttok-1"), Credential{}},
		{"token with inner space", hdr("Authorization", "Bearer tok 1"), Credential{}},
		{"token with inner tab", hdr("Authorization", "Bearer tok\t1"), Credential{}},
		{"other scheme word", hdr("Authorization", "Bearers tok-1"), Credential{}},
		{"empty authorization", hdr("Authorization", ""), Credential{}},
		{"nothing", hdr(), Credential{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Extract(tt.h); got.Scheme != tt.want.Scheme || got.Value != tt.want.Value {
				t.Fatalf("Extract = {%q %q}, want {%q %q}", got.Scheme, got.Value, tt.want.Scheme, tt.want.Value)
			}
		})
	}
}

func TestIsZero(t *testing.T) {
	tests := []struct {
		c    Credential
		want bool
	}{
		{Credential{}, true},
		{Credential{Scheme: SchemeAPIKey}, true},
		{Credential{Value: "v"}, true},
		{Credential{Scheme: SchemeAPIKey, Value: "v"}, false},
		{Credential{Scheme: SchemeBearer, Value: "v"}, false},
	}
	for _, tt := range tests {
		if got := tt.c.IsZero(); got != tt.want {
			t.Errorf("%q IsZero = %v, want %v", tt.c.Scheme, got, tt.want)
		}
	}
}

func TestSetHeaders(t *testing.T) {
	stale := func() http.Header {
		return hdr("x-api-key", "old-key", "Authorization", "Bearer old-tok", "Content-Type", "application/json")
	}
	tests := []struct {
		name   string
		c      Credential
		openai bool
		want   http.Header
	}{
		{"anthropic api key", Credential{Scheme: SchemeAPIKey, Value: "k1"}, false,
			http.Header{"X-Api-Key": {"k1"}, "Content-Type": {"application/json"}}},
		{"anthropic bearer", Credential{Scheme: SchemeBearer, Value: "t1"}, false,
			http.Header{"Authorization": {"Bearer t1"}, "Content-Type": {"application/json"}}},
		{"anthropic zero", Credential{}, false,
			http.Header{"Content-Type": {"application/json"}}},
		{"openai api key", Credential{Scheme: SchemeAPIKey, Value: "k1"}, true,
			http.Header{"Authorization": {"Bearer k1"}, "Content-Type": {"application/json"}}},
		{"openai bearer", Credential{Scheme: SchemeBearer, Value: "t1"}, true,
			http.Header{"Authorization": {"Bearer t1"}, "Content-Type": {"application/json"}}},
		{"openai zero", Credential{}, true,
			http.Header{"Content-Type": {"application/json"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := stale()
			if tt.openai {
				tt.c.SetOpenAI(h)
			} else {
				tt.c.SetAnthropic(h)
			}
			if !reflect.DeepEqual(h, tt.want) {
				t.Fatalf("headers = %v, want %v", h, tt.want)
			}
		})
	}
}

func TestEnsureOAuthBeta(t *testing.T) {
	bearer := Credential{Scheme: SchemeBearer, Value: "t"}
	tests := []struct {
		name string
		c    Credential
		in   []string
		want []string
	}{
		{"bearer adds to none", bearer, nil, []string{OAuthBeta}},
		{"bearer appends to one", bearer, []string{"prompt-caching-2024-07-31"},
			[]string{"prompt-caching-2024-07-31," + OAuthBeta}},
		{"bearer folds repeated values", bearer, []string{"a-1", "b-2, c-3"},
			[]string{"a-1,b-2,c-3," + OAuthBeta}},
		{"present alone", bearer, []string{OAuthBeta}, []string{OAuthBeta}},
		{"present in comma list untouched", bearer, []string{"a-1 , " + OAuthBeta + ",b-2"},
			[]string{"a-1 , " + OAuthBeta + ",b-2"}},
		{"present in repeated values untouched", bearer, []string{"a-1", OAuthBeta},
			[]string{"a-1", OAuthBeta}},
		{"empty values dropped", bearer, []string{" , "}, []string{OAuthBeta}},
		{"api key untouched", Credential{Scheme: SchemeAPIKey, Value: "k"}, []string{"a-1"}, []string{"a-1"}},
		{"api key adds nothing", Credential{Scheme: SchemeAPIKey, Value: "k"}, nil, nil},
		{"zero adds nothing", Credential{}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.in {
				h.Add("anthropic-beta", v)
			}
			tt.c.EnsureOAuthBeta(h)
			if got := h.Values("anthropic-beta"); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("anthropic-beta = %q, want %q", got, tt.want)
			}
		})
	}
}
