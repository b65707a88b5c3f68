package handler

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
)

// A rebuilt body goes upstream from its slices, with its length, and can be
// replayed (the transport retries a request on a dead keep-alive connection).
func TestUpstreamRequestFromSlices(t *testing.T) {
	body := translate.Body{[]byte(`{"a":`), []byte(`[1,2]`), []byte(`}`)}
	in := httptest.NewRequest(http.MethodPost, "/v1/messages", nil)
	base, _ := url.Parse("http://upstream.invalid")
	out, err := newUpstreamRequest(context.Background(), in, base, body, auth.Credential{}, anthropicFlavor)
	if err != nil {
		t.Fatal(err)
	}
	if out.ContentLength != 11 {
		t.Fatalf("content length %d", out.ContentLength)
	}
	for range 2 {
		b, _ := io.ReadAll(out.Body)
		if string(b) != `{"a":[1,2]}` {
			t.Fatalf("body %q", b)
		}
		if out.Body, err = out.GetBody(); err != nil {
			t.Fatal(err)
		}
	}
	empty, _ := newUpstreamRequest(context.Background(), in, base, translate.Body{}, auth.Credential{}, anthropicFlavor)
	if empty.Body != http.NoBody || empty.ContentLength != 0 {
		t.Fatal("an empty body must be sent as none")
	}
}
